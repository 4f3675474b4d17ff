"""Rate-limit quotas: which rule applies, the per-client windows, blocking, and their lifecycle.

Driven in-process (the real ASGI app over a dev core) so that time-sensitive checks stay fast; the
bucket arithmetic is tested with an explicit clock. The same requests against the reference are in
tests/compat/test_quotas_compat.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.core.quotas import QuotaManager, RateLimitQuota
from tessera.server.app import App
from tessera.server.quota_http import quota_path
from tests.reliability.asgi import ROOT, AsgiClient, dev_core

A = ("10.0.0.1", 1000)
B = ("10.0.0.2", 1000)


@pytest.fixture
def client() -> Iterator[AsgiClient]:
    core, key = dev_core()
    c = AsgiClient(App(core))
    c.key = key  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        c.close()
        core.shutdown()


def put_quota(c: AsgiClient, name: str, **body: object) -> None:
    status, answer, _ = c.request("POST", f"sys/quotas/rate-limit/{name}", token=ROOT, json=body)
    assert status == 204, answer


def statuses(c: AsgiClient, path: str, n: int, who: tuple[str, int] = A, method: str = "GET") -> list[int]:
    return [c.request(method, path, token=ROOT, client=who)[0] for _ in range(n)]


def test_bucket_is_a_fixed_window_anchored_at_the_first_request() -> None:
    q = RateLimitQuota(name="q", rate=2, interval=10)
    assert [q.allow("c", now=100.0).allowed for _ in range(3)] == [True, True, False]
    denied = q.allow("c", now=109.5)
    assert not denied.allowed and dict(denied.headers)[b"retry-after"] == b"0"
    assert q.allow("c", now=110.0).allowed  # a new window, full again
    assert q.allow("other", now=109.9).allowed  # each client has its own bucket
    fresh = dict(RateLimitQuota(name="f", rate=3, interval=10).allow("c", now=0.0).headers)
    assert fresh == {b"x-ratelimit-limit": b"3", b"x-ratelimit-remaining": b"2", b"x-ratelimit-reset": b"9"}


def test_block_interval_outlasts_the_window() -> None:
    q = RateLimitQuota(name="q", rate=1, interval=1, block_interval=30)
    assert q.allow("c", now=0.0).allowed
    over = q.allow("c", now=0.5)
    assert not over.allowed and dict(over.headers)[b"retry-after"] == b"29"
    blocked = q.allow("c", now=20.0)
    assert not blocked.allowed and blocked.headers == [(b"retry-after", b"10")]
    assert q.allow("c", now=30.6).allowed


def test_rounded_rate_and_listing_paths() -> None:
    assert [RateLimitQuota(name="q", rate=2.4).allow("c", now=0).allowed for _ in range(1)] == [True]
    q = RateLimitQuota(name="q", rate=2.4)
    assert [q.allow("c", now=0).allowed for _ in range(3)] == [True, True, False]
    assert quota_path("LIST", "secret/metadata", {}) == "secret/metadata/"
    assert quota_path("GET", "secret/metadata", {"list": "true"}) == "secret/metadata/"
    assert quota_path("GET", "secret/metadata", {"list": "false"}) == "secret/metadata"


def test_most_specific_rule_wins(client: AsgiClient) -> None:
    put_quota(client, "global", rate=100)
    put_quota(client, "mount", rate=50, path="secret")
    put_quota(client, "exact", rate=3, path="secret/data/a")
    put_quota(client, "glob", rate=2, path="secret/data/b*")
    manager: QuotaManager = client.app.core.quotas
    assert manager.query("secret/data/a", "secret/", "").name == "exact"
    assert manager.query("secret/data/a/", "secret/", "").name == "exact"
    assert manager.query("secret/data/bx", "secret/", "").name == "glob"
    assert manager.query("secret/data/c", "secret/", "").name == "mount"
    assert manager.query("sys/mounts", "sys/", "").name == "global"
    assert statuses(client, "secret/data/a", 4) == [404, 404, 404, 429]
    assert statuses(client, "secret/data/b1", 2) + statuses(client, "secret/data/b2", 1) == [404, 404, 429]
    assert statuses(client, "secret/data/b1", 1, who=B) == [404]  # per client address


def test_limit_comes_before_the_token_and_raw_handlers(client: AsgiClient) -> None:
    put_quota(client, "seal", rate=1, interval="1h", path="sys/")
    assert client.request("GET", "sys/leader")[0] == 200
    status, body, _ = client.request("PUT", "sys/seal")  # no token: the quota answers first
    assert status == 429
    assert body == {"errors": ['request path "sys/seal": rate limit quota exceeded']}
    assert client.request("GET", "sys/health")[0] == 200  # exempt by default


def test_exempt_paths_and_headers_follow_the_config(client: AsgiClient) -> None:
    put_quota(client, "g", rate=1, interval="1h")
    assert client.request("GET", "sys/health", client=B)[0] == 200
    assert client.request("GET", "sys/health", client=B)[0] == 200
    status, _, headers = client.request("GET", "sys/mounts", token=ROOT, client=B)
    assert status == 200 and "x-ratelimit-limit" not in headers
    status, _, headers = client.request("GET", "sys/mounts", token=ROOT, client=B)
    assert status == 429 and "retry-after" not in headers
    # Client A writes the config (exempting sys/quotas/*) and switches headers on.
    body = {"rate_limit_exempt_paths": ["sys/quotas/*"], "enable_rate_limit_response_headers": True}
    assert client.request("POST", "sys/quotas/config", token=ROOT, json=body)[0] == 204
    assert client.request("GET", "sys/quotas/config", token=ROOT, client=B)[0] == 200
    assert client.request("GET", "sys/health", client=B)[0] == 429  # no longer exempt
    status, _, headers = client.request("GET", "sys/mounts", token=ROOT, client=B)
    assert status == 429 and headers["retry-after"] and headers["x-ratelimit-remaining"] == "0"


def test_rules_survive_a_seal_and_follow_their_mount(client: AsgiClient) -> None:
    core = client.app.core
    assert client.request("POST", "sys/mounts/kvq", token=ROOT, json={"type": "kv"})[0] == 204
    put_quota(client, "kvq", rate=1, interval="1h", path="kvq/")
    put_quota(client, "conf", rate=1000, interval="1s", path="sys/quotas/config")
    core.seal()
    core.unseal(client.key)  # type: ignore[attr-defined]
    assert sorted(core.quotas.names()) == ["conf", "kvq"]
    assert client.request("POST", "sys/remount", token=ROOT, json={"from": "kvq", "to": "kvr"})[0] == 200
    status, body, _ = client.request("GET", "sys/quotas/rate-limit/kvq", token=ROOT)
    assert status == 200 and body["data"]["path"] == "kvr/"
    assert statuses(client, "kvr/x", 2) == [404, 429]
    assert client.request("DELETE", "sys/mounts/kvr", token=ROOT)[0] == 204
    assert client.request("GET", "sys/quotas/rate-limit/kvq", token=ROOT)[0] == 404
    core.seal()
    core.unseal(client.key)  # type: ignore[attr-defined]
    assert core.quotas.names() == ["conf"]


def test_role_quota_limits_one_approle_role(client: AsgiClient) -> None:
    assert client.request("POST", "sys/auth/approle", token=ROOT, json={"type": "approle"})[0] == 204
    role_ids = {}
    for role in ("slow", "fast"):
        assert client.request("POST", f"auth/approle/role/{role}", token=ROOT, json={})[0] == 204
        _, body, _ = client.request("GET", f"auth/approle/role/{role}/role-id", token=ROOT)
        role_ids[role] = body["data"]["role_id"]
    put_quota(client, "slow", rate=1, interval="1h", path="auth/approle", role="slow")

    def login(role: str) -> int:
        _, body, _ = client.request("POST", f"auth/approle/role/{role}/secret-id", token=ROOT)
        secret_id = body["data"]["secret_id"]
        return client.request(
            "POST", "auth/approle/login", json={"role_id": role_ids[role], "secret_id": secret_id}
        )[0]

    assert [login("slow"), login("slow")] == [200, 429]
    assert [login("fast"), login("fast")] == [200, 200]


def test_float_field_junk_is_a_400_not_a_500(client: AsgiClient) -> None:
    """Regression: a FLOAT field given "abc" raised ValueError in the framework (500)."""
    for junk in ("abc", "1_0", " 5", "0x"):
        status, body, _ = client.request("POST", "sys/quotas/rate-limit/x", token=ROOT, json={"rate": junk})
        assert status == 400, (junk, body)
        assert body == {
            "errors": [
                "Field validation failed: error converting input for field \"rate\": '' cannot parse value "
                "as 'float64': strconv.ParseFloat: invalid syntax"
            ]
        }
    for bad in ("nan", "inf", "-1", "0", ""):
        status, body, _ = client.request("POST", "sys/quotas/rate-limit/x", token=ROOT, json={"rate": bad})
        assert (status, body) == (400, {"errors": ["'rate' is invalid"]})

"""Rate-limit quotas side by side: the same requests to the reference OpenBao and to Tessera.

Quotas are global state (a global rule would throttle every other test), so this module runs its
own pair of servers. Everything compared is deterministic: errors word for word, bodies with their
values, and the 429 answer with Vault's headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.compat import compare
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer

Pair = tuple[ReferenceServer, TesseraServer]


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with ReferenceServer() as ref, TesseraServer() as tes:
        for server in (ref, tes):
            for path, kind in (("sys/auth/approle", "approle"), ("sys/auth/userpass", "userpass")):
                status, body, _ = server.call("POST", path, json={"type": kind})
                assert status == 204, body
        yield ref, tes


def both(pair: Pair, method: str, path: str, body: Any = None, **kw: Any) -> tuple[Any, Any]:
    ref, tes = pair
    return compare(ref.addr, tes.addr, method, path, json=body, same_values=True, **kw)


def _cleanup(pair: Pair) -> None:
    for server in pair:
        _, body, _ = server.call("LIST", "sys/quotas/rate-limit")
        for name in (body or {}).get("data", {}).get("keys", []):
            server.call("DELETE", f"sys/quotas/rate-limit/{name}")
        server.call("POST", "sys/quotas/config", json={"rate_limit_exempt_paths": ["sys/health"]})


@pytest.fixture
def clean(pair: Pair) -> Iterator[Pair]:
    _cleanup(pair)
    yield pair
    _cleanup(pair)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"rate": -1},
        {"rate": 0},
        {"rate": "abc"},
        {"rate": 5, "path": "nope"},
        {"rate": 5, "block_interval": -3},
        {"rate": 5, "interval": "bogus"},
        {"rate": 5, "path": "secret/", "role": "x"},
        {"rate": 5, "path": "secret/foo", "role": "x"},
        {"rate": 5, "path": "auth/userpass/", "role": "x"},
        {"rate": 5, "path": "auth/token", "role": "x"},
    ],
)
def test_invalid_rules(clean: Pair, body: dict[str, Any]) -> None:
    both(clean, "POST", "sys/quotas/rate-limit/bad", body)
    both(clean, "GET", "sys/quotas/rate-limit/bad")


def test_rule_lifecycle_and_read_back(clean: Pair) -> None:
    both(clean, "LIST", "sys/quotas/rate-limit")
    both(clean, "POST", "sys/quotas/rate-limit/a", {"rate": 5.4, "path": "secret/foo/bar", "interval": "1m"})
    both(clean, "GET", "sys/quotas/rate-limit/a")
    both(clean, "POST", "sys/quotas/rate-limit/b", {"rate": 5, "path": "/secret/foo/bar/"})  # similar to a
    both(clean, "POST", "sys/quotas/rate-limit/b", {"rate": 500, "path": "auth/approle", "role": "r1"})
    both(clean, "GET", "sys/quotas/rate-limit/b")
    both(clean, "POST", "sys/quotas/rate-limit/b", {"rate": 7, "path": "auth/approle", "role": "r2"})
    both(clean, "GET", "sys/quotas/rate-limit/b")  # the role a rule was created with stays
    both(clean, "POST", "sys/quotas/rate-limit/g", {"rate": 900, "block_interval": "2m"})
    both(clean, "GET", "sys/quotas/rate-limit/g")
    both(
        clean, "POST", "sys/quotas/rate-limit/g", {"rate": 900, "inheritable": False, "path": "sys/quotas/*"}
    )
    both(clean, "GET", "sys/quotas/rate-limit/g")
    ref_list, tes_list = compare(clean[0].addr, clean[1].addr, "LIST", "sys/quotas/rate-limit/")
    ref, tes = sorted(ref_list["data"]["keys"]), sorted(tes_list["data"]["keys"])  # memdb's order is random
    assert ref == tes == ["a", "b", "g"]
    both(clean, "DELETE", "sys/quotas/rate-limit/a")
    both(clean, "DELETE", "sys/quotas/rate-limit/a")
    both(clean, "GET", "sys/quotas/rate-limit/a")
    both(clean, "POST", "sys/quotas/rate-limit/bad%20name", {"rate": 1})


def test_config(clean: Pair) -> None:
    both(clean, "GET", "sys/quotas/config")
    both(clean, "POST", "sys/quotas/config", {"enable_rate_limit_response_headers": True})
    both(clean, "GET", "sys/quotas/config")  # omitted fields fall back: no exempt paths at all
    body = {"rate_limit_exempt_paths": ["a", "b/*"], "enable_rate_limit_audit_logging": "true"}
    both(clean, "POST", "sys/quotas/config", body)
    both(clean, "GET", "sys/quotas/config")


def test_a_lease_count_rule_leaves_every_rate_limit_answer_alone(clean: Pair) -> None:
    """Lease-count quotas exist only in Tessera (the reference answers 404 there); with one in
    place, the rate-limit side still answers exactly as the reference's."""
    ref, tes = clean
    status, body, _ = ref.call("POST", "sys/quotas/lease-count/all", json={"max_leases": 1000})
    assert (status, body) == (404, {"errors": ["1 error occurred:\n\t* unsupported path\n\n"]})
    assert tes.call("POST", "sys/quotas/lease-count/all", json={"max_leases": 1000})[0] == 204
    try:
        both(clean, "GET", "sys/quotas/config")
        both(clean, "LIST", "sys/quotas/rate-limit")
        both(clean, "GET", "sys/quotas/rate-limit/all")
        both(clean, "POST", "sys/quotas/rate-limit/all", {"rate": 1000})  # the name is free there
        both(clean, "GET", "sys/quotas/rate-limit/all")
        both(clean, "LIST", "sys/quotas/rate-limit")
    finally:
        tes.call("DELETE", "sys/quotas/lease-count/all")


def _burst(
    server: ReferenceServer | TesseraServer, path: str, n: int
) -> list[tuple[int, Any, dict[str, str]]]:
    out = []
    for _ in range(n):
        status, body, headers = call(server.addr, "GET", path, "root")
        out.append((status, body, {k.lower(): v for k, v in headers.items()}))
    return out


def _limit_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("x-ratelimit") or k == "retry-after"}


def test_path_quota_429_message_and_headers(clean: Pair) -> None:
    for server in clean:
        assert (
            server.call("POST", "sys/quotas/config", json={"enable_rate_limit_response_headers": True})[0]
            == 204
        )
        assert (
            server.call(
                "POST",
                "sys/quotas/rate-limit/p",
                json={"rate": 2, "interval": "30s", "path": "secret/data/q*"},
            )[0]
            == 204
        )
    results = [_burst(server, "secret/data/q1", 3) + _burst(server, "secret/data/zz", 1) for server in clean]
    for ref, tes in zip(*results, strict=True):
        assert ref[0] == tes[0] and ref[1] == tes[1]
        assert _limit_headers(ref[2]).keys() == _limit_headers(tes[2]).keys()
        for key in _limit_headers(ref[2]):
            assert abs(int(ref[2][key]) - int(tes[2][key])) <= 1, key
    assert [r[0] for r in results[1]] == [404, 404, 429, 404]
    assert results[1][2][1] == {"errors": ['request path "secret/data/q1": rate limit quota exceeded']}


def test_global_quota_without_headers_and_listing_path(clean: Pair) -> None:
    for server in clean:
        assert (
            server.call("POST", "sys/quotas/rate-limit/global", json={"rate": 1, "interval": "3s"})[0] == 204
        )
    answers = []
    for server in clean:
        assert server.call("LIST", "sys/quotas/rate-limit")[0] == 200  # the window's one request
        status, body, headers = server.call("LIST", "sys/quotas/rate-limit")
        answers.append((status, body, _limit_headers({k.lower(): v for k, v in headers.items()})))
        # sys/health stays exempt (the config fixture keeps it on the list).
        assert server.call("GET", "sys/health", auth=False)[0] == 200
    assert answers[0] == answers[1]
    assert answers[1][0] == 429 and answers[1][2] == {}
    assert answers[1][1] == {"errors": ['request path "sys/quotas/rate-limit/": rate limit quota exceeded']}
    time.sleep(3.2)  # let the window pass, so that the cleanup is not throttled itself

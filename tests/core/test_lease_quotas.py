"""Lease-count quotas in process: the API, which leases count, refusal, release, and exact recounts.

Driven through the real ASGI app over a dev core; expiry is driven by calling the ticker's
functions with a later clock instead of waiting. A real server (restart, AppRole, workers) is
in tests/system/test_lease_count_quotas.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tessera.core.lease_quotas import LeaseCounter
from tessera.framework.logical import Operation, Request, Response, Secret
from tessera.routing.mounts import MountEntry
from tessera.server.app import App
from tests.reliability.asgi import ROOT, AsgiClient, dev_core

FULL = '1 error occurred:\n\t* request path "auth/token/create": lease count quota exceeded\n\n'


@pytest.fixture
def client() -> Iterator[AsgiClient]:
    core, _ = dev_core()
    c = AsgiClient(App(core))
    try:
        yield c
    finally:
        c.close()
        core.shutdown()


def counter(c: AsgiClient) -> LeaseCounter:
    leases: LeaseCounter = c.app.core.quotas.leases
    assert leases.settled.wait(10), "lease count rebuild did not finish"
    return leases


def put_rule(c: AsgiClient, name: str, **body: object) -> None:
    status, answer, _ = c.request("POST", f"sys/quotas/lease-count/{name}", token=ROOT, json=body)
    assert status == 204, answer
    counter(c)


def create_token(c: AsgiClient, **body: object) -> tuple[int, dict]:
    status, answer, _ = c.request("POST", "auth/token/create", token=ROOT, json={"ttl": "1h", **body})
    return status, answer


def test_rule_lifecycle(client: AsgiClient) -> None:
    status, answer, _ = client.request("LIST", "sys/quotas/lease-count", token=ROOT)
    assert status == 404 and answer == {"errors": []}
    put_rule(client, "global", max_leases=1000)
    put_rule(client, "kv", path="secret/", max_leases=5)
    status, answer, _ = client.request("GET", "sys/quotas/lease-count/global", token=ROOT)
    assert status == 200
    assert answer["data"] == {
        "type": "lease-count",
        "name": "global",
        "path": "",
        "role": "",
        "max_leases": 1000,
        "inheritable": True,
    }
    assert client.request("GET", "sys/quotas/lease-count/kv", token=ROOT)[1]["data"]["path"] == "secret/"
    status, answer, _ = client.request("LIST", "sys/quotas/lease-count", token=ROOT)
    assert answer["data"]["keys"] == ["global", "kv"]
    assert client.request("DELETE", "sys/quotas/lease-count/kv", token=ROOT)[0] == 204
    assert client.request("GET", "sys/quotas/lease-count/kv", token=ROOT)[0] == 404
    # Rate-limit rules are their own list.
    assert client.request("LIST", "sys/quotas/rate-limit", token=ROOT)[0] == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'max_leases' is invalid"),
        ({"max_leases": -1}, "'max_leases' is invalid"),
        ({"max_leases": 1, "path": "nowhere/"}, 'invalid mount path "nowhere/"'),
        (
            {"max_leases": 1, "path": "secret/", "role": "r"},
            'Mount path "secret/" is not a valid auth method and therefore unsuitable for use with '
            "role-based quotas",
        ),
    ],
)
def test_invalid_rules(client: AsgiClient, body: dict, message: str) -> None:
    status, answer, _ = client.request("POST", "sys/quotas/lease-count/bad", token=ROOT, json=body)
    assert (status, answer) == (400, {"errors": [message]})


def test_similar_rule_is_refused(client: AsgiClient) -> None:
    put_rule(client, "a", path="secret/", max_leases=2)
    status, answer, _ = client.request(
        "POST", "sys/quotas/lease-count/b", token=ROOT, json={"path": "secret", "max_leases": 3}
    )
    assert (status, answer) == (
        400,
        {"errors": ['quota rule with similar properties exists under the name "a"']},
    )


def test_service_tokens_are_capped_and_revocation_frees_a_slot(client: AsgiClient) -> None:
    put_rule(client, "global", max_leases=2)
    first = create_token(client)
    assert first[0] == 200 and create_token(client)[0] == 200
    assert create_token(client) == (429, {"errors": [FULL]})
    # Batch tokens and non-expiring tokens are not leases.
    assert create_token(client, type="batch", policies=["default"])[0] == 200
    assert create_token(client, ttl="", policies=["root"])[0] == 200
    revoke = {"token": first[1]["auth"]["client_token"]}
    assert client.request("POST", "auth/token/revoke", token=ROOT, json=revoke)[0] == 204
    assert counter(client).count(client.app.core.quotas.leases.rules["global"]) == 1
    assert create_token(client)[0] == 200
    assert create_token(client)[0] == 429


def test_expiry_frees_slots_through_the_batched_expiry(client: AsgiClient) -> None:
    put_rule(client, "tokens", path="auth/token", max_leases=3)
    for _ in range(3):
        assert create_token(client, ttl="30s")[0] == 200
    assert create_token(client)[0] == 429
    core = client.app.core
    assert core.tokens.expire_due(now=time.time() + 60) == 3
    assert counter(client).count(core.quotas.leases.rules["tokens"]) == 0
    assert create_token(client)[0] == 200


def test_most_specific_rule_counts(client: AsgiClient) -> None:
    put_rule(client, "global", max_leases=1)
    put_rule(client, "tokens", path="auth/token/", max_leases=3)
    assert [create_token(client)[0] for _ in range(4)] == [200, 200, 200, 429]
    rules = client.app.core.quotas.leases.rules
    assert counter(client).count(rules["tokens"]) == 3 and counter(client).count(rules["global"]) == 0


def test_a_new_rule_counts_the_leases_already_there(client: AsgiClient) -> None:
    for _ in range(3):
        assert create_token(client)[0] == 200
    put_rule(client, "global", max_leases=3)
    assert counter(client).count(client.app.core.quotas.leases.rules["global"]) == 3
    assert create_token(client)[0] == 429
    put_rule(client, "global", max_leases=4)  # raising the limit keeps the count
    assert create_token(client)[0] == 200


def test_recount_settles_leases_that_come_and_go_during_the_scan(client: AsgiClient) -> None:
    put_rule(client, "global", max_leases=100)
    core = client.app.core
    leases = counter(client)
    tokens = [create_token(client)[1]["auth"]["client_token"] for _ in range(3)]
    scan = leases._stored_leases

    def scan_with_traffic():  # a token created and one revoked after the scan began
        items = scan()
        yield next(items)
        assert create_token(client)[0] == 200
        core.tokens.revoke_tree(core.tokens.lookup(tokens[2]))
        yield from items

    leases._stored_leases = scan_with_traffic  # type: ignore[method-assign]
    leases.recount()
    stored = sum(1 for _ in scan())
    assert stored == 3 and leases.count(leases.rules["global"]) == stored


def _leasing_mount(client: AsgiClient) -> MountEntry:
    core = client.app.core
    entry = MountEntry.new("kv", "dyn/", "kv", description="", options={"version": "1"})
    core.mount(entry)
    return entry


def _register(client: AsgiClient, mount: MountEntry) -> str:
    core = client.app.core
    req = Request(Operation.READ, "dyn/creds/x")
    req.full_path = "dyn/creds/x"
    resp = Response(data={}, secret=Secret(ttl=60))
    core.lease_manager.register(req, resp, mount, None, False)
    return resp.secret.lease_id


def test_secret_leases_count_and_expire(client: AsgiClient) -> None:
    mount = _leasing_mount(client)
    put_rule(client, "dyn", path="dyn/creds/*", max_leases=2)
    first = _register(client, mount)
    _register(client, mount)
    with pytest.raises(Exception) as refused:
        _register(client, mount)
    assert getattr(refused.value, "status", None) == 429
    assert str(refused.value) == 'request path "dyn/creds/x": lease count quota exceeded'
    manager = client.app.core.lease_manager
    assert manager.count() == 2  # the refused lease was never stored
    manager.revoke(first)
    _register(client, mount)
    assert manager.tick(now=time.time() + 120) == 2
    assert counter(client).count(client.app.core.quotas.leases.rules["dyn"]) == 0

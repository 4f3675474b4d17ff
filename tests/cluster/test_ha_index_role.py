"""``X-Vault-Index`` a performance standby has not read (two real HA nodes in one process on
PostgreSQL, each made by ``attach_ha``, the active one with its cluster listener): after a bounded
wait it answers 412, or with ``X-Vault-Inconsistent: forward-active-node`` forwards to the active
node. An index the cluster signed for a commit that has not happened yet stands in for a feed that
is behind (only a node can sign one; clients cannot)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tessera.cluster.ha.role import INDEX_WAIT_SECONDS
from tests.cluster.ha_nodes import Node, two_nodes
from tests.helpers.postgres import Postgres
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres

MISSING = {"errors": ["required index state not present"]}


@pytest.fixture
def nodes(postgres: Postgres) -> Iterator[tuple[Node, Node]]:
    with two_nodes(postgres, "ha_index_role") as (first, second):
        perf = second.node.perf
        assert perf is not None
        until(lambda: perf.serving and perf.standby.follower.caught_up(), "the performance standby")
        until(
            lambda: second.node.leader() is not None and second.node.tls.material() is not None,
            "the standby's leader and certificate",
        )
        yield first, second


class _Client:
    """A client's connection as the HTTP layer hands it to the role: what it was answered."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.status = 0
        self.body = b""

    def response_bytes(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.body = status, body
        self.answered.set()


def _ask(node: Node, token: str, headers: dict[str, str], served: list[str]) -> _Client:
    """A GET of lookup-self through ``node``'s role; ``served`` notes a request served there."""
    client = _Client()

    def serve(proto: Any, *rest: Any) -> int:
        served.append(rest[1])
        proto.response_bytes(200, [], b"{}")
        return 200

    args = (
        client,
        "GET",
        "/v1/auth/token/lookup-self",
        b"",
        {"x-vault-token": token, **headers},
        None,
        "127.0.0.1",
        False,
    )
    node.role.answer(serve, args)
    assert client.answered.wait(10)
    return client


def test_an_index_the_standby_has_not_read(nodes: tuple[Node, Node]) -> None:
    first, second = nodes
    token = first.core.create_root_token()
    first.core.barrier.put_json("test/index", {"v": 1})
    written = first.physical.last_commit(forget=True)
    assert written is not None
    ahead = first.node.index.sign(written + 1_000_000)
    reached = first.node.index.sign(written)
    assert ahead is not None and reached is not None
    served: list[str] = []

    started = time.monotonic()
    client = _ask(second, token, {"x-vault-index": ahead}, served)
    assert client.status == 412 and json.loads(client.body) == MISSING
    assert time.monotonic() - started >= INDEX_WAIT_SECONDS and served == []

    forward = {"x-vault-index": ahead, "x-vault-inconsistent": "forward-active-node"}
    client = _ask(second, token, forward, served)
    assert client.status == 200 and served == []  # answered by the active node
    assert json.loads(client.body)["data"]["policies"] == ["root"]

    client = _ask(second, token, {"x-vault-index": reached}, served)
    assert client.status == 200 and served == ["/v1/auth/token/lookup-self"]  # served here


def test_a_request_served_on_the_standby_matches_its_route_once(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ready`` matches the route and ``answer`` takes that match on (the standby's lock needs
    it); a request whose ``ready`` ran elsewhere (the dispatcher's side pool) matches again."""
    first, second = nodes
    token = first.core.create_root_token()
    perf = second.role.node.perf
    assert perf is not None
    standby = perf.standby  # where both the role and the standby match a path to its mount
    matched: list[str] = []
    real_match = standby.match

    def counting(path: str) -> Any:
        matched.append(path[4:])
        return real_match(path)

    monkeypatch.setattr(standby, "match", counting)
    path = "/v1/auth/token/lookup-self"
    assert second.role.ready("GET", path)
    served: list[str] = []
    assert _ask(second, token, {}, served).status == 200
    assert served == [path] and matched == ["auth/token/lookup-self"]
    assert _ask(second, token, {}, served).status == 200  # no ``ready`` before it on this thread
    assert served == [path, path] and matched == ["auth/token/lookup-self"] * 2

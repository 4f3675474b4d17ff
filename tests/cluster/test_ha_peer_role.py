"""Two HA nodes in one process on PostgreSQL, each with its cluster listener: the active node serves
a forwarded request, a standby refuses it unserved (no second hop), both under the cluster's CA."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest

from tessera.cluster.cluster_tls import client_context
from tessera.cluster.forwarding import NOT_ACTIVE_HEADER
from tessera.cluster.ha import ActiveForwarder, HANode, HARole
from tessera.cluster.ha.peer_role import NOT_ACTIVE
from tessera.core.config import CoreConfig
from tessera.core.core import Core
from tessera.server.cluster_listener import build_cluster_server
from tessera.server.config import ListenerConfig
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.postgres import Postgres
from tests.helpers.servers import free_port

pytestmark = pytest.mark.postgres


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class _Node:
    """A core, its HA node and role, and its cluster listener on ``port``."""

    def __init__(self, dsn: str) -> None:
        self.port = free_port()
        physical = PostgreSQLPhysical({"connection_url": dsn, "ha_enabled": "true"})
        self.core = Core(physical, CoreConfig(storage_type="postgresql", api_addr="http://127.0.0.1:1"))
        self.node = HANode(self.core, physical, "http://127.0.0.1:1", f"https://127.0.0.1:{self.port}", 0.1)
        forwarder = ActiveForwarder(self.node.leader, self.node.info.node_id, lambda: self.node.active)
        self.role = HARole(self.core, self.node, forwarder)
        self.server = build_cluster_server(
            ListenerConfig(address=f"127.0.0.1:{self.port}"), self.core, self.role
        )
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.stop()
        self.thread.join(10)
        self.role.close()
        self.core.shutdown()


@pytest.fixture
def nodes(postgres: Postgres) -> Iterator[tuple[_Node, _Node]]:
    dsn = postgres.create_database("ha_peer_role")
    first, second = _Node(dsn), _Node(dsn)
    try:
        keys = first.core.initialize(1, 1)["keys"]
        first.core.unseal(keys[0])
        _wait_for(lambda: first.node.active)
        second.core.unseal(keys[0])
        yield first, second
    finally:
        first.close()
        second.close()
        postgres.drop_database("ha_peer_role")


def _forwarded(to: _Node, by: _Node, token: str) -> tuple[int, dict[str, str], bytes]:
    """A forwarded request from ``by`` to ``to``'s cluster listener, with ``by``'s certificate."""
    tls = by.node.tls.material()
    assert tls is not None
    conn = http.client.HTTPSConnection("127.0.0.1", to.port, context=client_context(tls), timeout=10)
    try:
        headers = {"x-vault-token": token, "x-tessera-client": "10.1.2.3", "x-tessera-tls": "0"}
        conn.request("GET", "/v1/sys/mounts", headers=headers)
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def test_the_active_node_serves_and_a_standby_refuses_unserved(nodes: tuple[_Node, _Node]) -> None:
    first, second = nodes
    token = first.core.create_root_token()
    status, _, body = _forwarded(first, second, token)
    assert status == 200 and "sys/" in json.loads(body)["data"]
    status, headers, body = _forwarded(second, first, token)
    assert status == 503 and headers[NOT_ACTIVE_HEADER] == "1"
    assert json.loads(body) == {"errors": [NOT_ACTIVE]}

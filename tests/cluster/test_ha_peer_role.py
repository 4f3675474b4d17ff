"""Two HA nodes in one process on PostgreSQL, each with its cluster listener: the active node serves
a forwarded request, a standby refuses it unserved (no second hop), both under the cluster's CA."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from tessera.cluster.cluster_tls import client_context
from tessera.cluster.forwarding import NOT_ACTIVE_HEADER
from tessera.cluster.ha.peer_role import NOT_ACTIVE
from tests.cluster.ha_nodes import Node, two_nodes
from tests.helpers.postgres import Postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def nodes(postgres: Postgres) -> Iterator[tuple[Node, Node]]:
    with two_nodes(postgres, "ha_peer_role") as made:
        yield made


def _forwarded(to: Node, by: Node, token: str) -> tuple[int, dict[str, str], bytes]:
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


def test_the_active_node_serves_and_a_standby_refuses_unserved(nodes: tuple[Node, Node]) -> None:
    first, second = nodes
    token = first.core.create_root_token()
    status, _, body = _forwarded(first, second, token)
    assert status == 200 and "sys/" in json.loads(body)["data"]
    status, headers, body = _forwarded(second, first, token)
    assert status == 503 and headers[NOT_ACTIVE_HEADER] == "1"
    assert json.loads(body) == {"errors": [NOT_ACTIVE]}

"""The cluster listener in process: mutual TLS under the cluster's CA, forwarded requests only,
no handshake while the node has no certificate."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from tessera.cluster.cluster_tls import ClusterCA, NodeTLS, client_context, issue_node
from tessera.cluster.ha.node_tls import CA_KEY, NodeCertificates
from tessera.core.core import Core
from tessera.server.app import App
from tessera.server.cluster_listener import ClusterFrontServer, cluster_listener_configs
from tessera.server.command import ServerFlags, _banner, _cluster_addr
from tessera.server.config import ListenerConfig, parse_config
from tests.helpers.cores import unsealed_core
from tests.helpers.servers import free_port


@pytest.fixture
def core() -> Iterator[Core]:
    with unsealed_core() as made:
        yield made


@pytest.fixture
def listener(core: Core) -> Iterator[tuple[int, NodeTLS]]:
    """A cluster listener on the core, and a standby's certificate of the same CA."""
    port = free_port()
    certs = NodeCertificates(core, "active", f"https://127.0.0.1:{port}")
    certs.ensure_ca()
    app = App(core)
    app.cluster_listener = True
    server = ClusterFrontServer(
        app, "127.0.0.1", port, ListenerConfig(address=f"127.0.0.1:{port}"), certs.material
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    ca = ClusterCA.from_stored(core.barrier.get_json(CA_KEY) or {})
    try:
        yield port, issue_node(ca, "127.0.0.1", "standby", time.time())
    finally:
        server.stop()
        thread.join(10)


def _get(port: int, ctx: ssl.SSLContext, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/v1/sys/health", headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_forwarded_request_from_a_node_of_the_cluster_is_served(listener: tuple[int, NodeTLS]) -> None:
    port, standby = listener
    status, body = _get(port, client_context(standby), {"x-tessera-client": "10.9.8.7", "x-tessera-tls": "0"})
    assert status == 200 and json.loads(body)["sealed"] is False


def test_a_request_that_names_no_client_is_refused(listener: tuple[int, NodeTLS]) -> None:
    """The cluster listener serves forwarded requests, not a second API listener."""
    port, standby = listener
    status, body = _get(port, client_context(standby), {})
    assert status == 403 and json.loads(body) == {"errors": ["permission denied"]}


def test_a_sealed_node_refuses_every_handshake(core: Core, listener: tuple[int, NodeTLS]) -> None:
    port, standby = listener
    core.seal()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(port, client_context(standby), {"x-tessera-client": "10.9.8.7"})


def test_a_reissued_certificate_gets_a_new_context(core: Core) -> None:
    ca = ClusterCA.from_stored(_made_ca(core))
    now: list[NodeTLS | None] = [None]
    port = free_port()
    server = ClusterFrontServer(
        App(core), "127.0.0.1", port, ListenerConfig(address=f"127.0.0.1:{port}"), lambda: now[0]
    )
    try:
        refusing = server.handshake_context()
        now[0] = issue_node(ca, "127.0.0.1", "a", time.time())
        first = server.handshake_context()
        assert first is not refusing and server.handshake_context() is first
        now[0] = issue_node(ca, "127.0.0.1", "a", time.time())
        assert server.handshake_context() is not first
    finally:
        server.stop()
        server._shut()


def _made_ca(core: Core) -> dict[str, str]:
    certs = NodeCertificates(core, "x", "https://127.0.0.1:1")
    certs.ensure_ca()
    stored = core.barrier.get_json(CA_KEY)
    assert stored is not None
    return stored


def test_cluster_listeners_bind_at_the_port_after_each_api_listener_unless_set() -> None:
    plain = ListenerConfig(address="10.0.0.11:8200")
    chosen = ListenerConfig(address="10.0.0.11:9200", cluster_address="10.0.0.11:9999")
    six = ListenerConfig(address="[::1]:8200")
    assert [c.address for c in cluster_listener_configs([plain, chosen, six])] == [
        "10.0.0.11:8201",
        "10.0.0.11:9999",
        "[::1]:8201",
    ]


def test_the_cluster_address_defaults_to_the_api_addresss_next_port_over_https() -> None:
    listener = 'listener "tcp" {\n  address = "10.0.0.11:8200"\n  tls_disable = true\n}\n'
    assert (
        _cluster_addr(parse_config(listener + 'api_addr = "http://10.0.0.11:8200"\n'))
        == "https://10.0.0.11:8201"
    )
    assert _cluster_addr(parse_config(listener)) == "https://10.0.0.11:8201"  # api_addr from the listener
    chosen = parse_config(listener + 'cluster_addr = "https://node-a.example:9201"\n')
    assert _cluster_addr(chosen) == "https://node-a.example:9201"


def test_the_banner_names_an_ha_nodes_cluster_address() -> None:
    listener = 'listener "tcp" {\n  address = "10.0.0.11:8200"\n  tls_disable = true\n}\n'
    storage = 'storage "postgresql" {\n  connection_url = "postgresql://x@db/t"\n  ha_enabled = "true"\n}\n'
    flags = ServerFlags(config=[])
    assert "Cluster Address: https://10.0.0.11:8201" in _banner(parse_config(storage + listener), flags)
    assert "Cluster Address: none" in _banner(parse_config(listener), flags)  # no HA: no cluster listener

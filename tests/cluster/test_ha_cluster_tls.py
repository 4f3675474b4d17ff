"""Cluster traffic between HA nodes on ``cluster_addr``, over mutual TLS under the cluster's own CA.

Three real nodes on one PostgreSQL: standbys forward through the active node's cluster listener,
which refuses anyone without a certificate of the cluster's CA, and the CA is in storage only
through the barrier.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from tessera.cluster.cluster_tls import issue_node, make_ca
from tests.cluster.ha_cluster import HACluster, ha_cluster, put_from
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres

COUNTER = "tessera.ha.cluster_requests"


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HACluster]:
    extra = "unsafe_allow_api_audit_creation = true\nraw_storage_endpoint = true\n"
    with ha_cluster(postgres, tmp_path_factory.mktemp("ha-tls"), extra=extra) as made:
        yield made


def _cluster_port(cluster: HACluster, node: TesseraServer) -> int:
    address = str(cluster.leader(node)["leader_cluster_address"])
    assert address.startswith("https://127.0.0.1:"), address
    return int(address.rsplit(":", 1)[1])


def _arrived(cluster: HACluster, active: TesseraServer) -> int:
    """How many forwarded requests the active node's cluster listener took (its own sys/metrics)."""
    status, body, _ = active.call("GET", "sys/metrics", token=cluster.token)
    assert status == 200, (status, body)
    return sum(int(c["Count"]) for c in body["Counters"] if c["Name"] == COUNTER)


def test_a_standby_answers_a_write_with_the_actives_answer_through_the_cluster_port(
    cluster: HACluster,
) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    before = _arrived(cluster, active)
    status, body, _ = standby.call("PUT", "kv/through-cluster", json={"v": 1}, token=cluster.token)
    assert status == 204, (status, body)
    assert active.call("GET", "kv/through-cluster", token=cluster.token)[1]["data"] == {"v": 1}
    # A performance standby refuses a bad token itself; sent to the active node, its refusal comes back.
    forward = {"X-Vault-Inconsistent": "forward-active-node"}
    denied = standby.call("PUT", "kv/denied", json={"v": 1}, token="hvs.nonsense", headers=forward)
    assert denied[0] == 403 and denied[1] == {"errors": ["permission denied"]}
    assert _arrived(cluster, active) == before + 2  # both came in on the cluster listener


def test_the_forwarded_clients_address_arrives_in_the_audit_log(cluster: HACluster, tmp_path: Path) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    log = tmp_path / "audit.log"
    device = {"type": "file", "options": {"file_path": str(log)}}
    assert active.call("PUT", "sys/audit/cluster-tls", json=device, token=cluster.token)[0] == 204
    try:
        assert put_from(standby.addr, "127.0.0.2", cluster.token, "from-two") == 204
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        writes = [e for e in entries if e["type"] == "request" and e["request"]["path"] == "kv/from-two"]
        assert [e["request"]["remote_address"] for e in writes] == ["127.0.0.2"]
    finally:
        active.call("DELETE", "sys/audit/cluster-tls", token=cluster.token)


def _exchange(port: int, ctx: ssl.SSLContext) -> tuple[x509.Certificate | None, bytes | BaseException]:
    """The server's certificate as the handshake showed it, and what a request got back (an
    error if the connection was refused)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                der = tls.getpeercert(binary_form=True)
                shown = x509.load_der_x509_certificate(der) if der else None
                try:
                    tls.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
                    return shown, tls.recv(4096)
                except (ssl.SSLError, OSError) as exc:
                    return shown, exc
        except (ssl.SSLError, OSError) as exc:
            return None, exc


def _client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # we look at what it shows ourselves
    return ctx


def test_a_tls_client_without_a_certificate_is_refused(cluster: HACluster) -> None:
    port = _cluster_port(cluster, cluster.active())
    shown, answer = _exchange(port, _client_context())
    assert shown is not None  # a TLS server, showing a certificate of the cluster's own CA ...
    issuer = shown.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert str(issuer).startswith("tessera-cluster-ca")
    assert isinstance(answer, BaseException) or not answer.startswith(b"HTTP/"), answer  # ... and no answer


def test_a_client_with_another_cas_certificate_is_refused(cluster: HACluster, tmp_path: Path) -> None:
    port = _cluster_port(cluster, cluster.active())
    impostor = issue_node(make_ca("impostor", time.time()), "127.0.0.1", "impostor", time.time())
    cert, key = tmp_path / "impostor.pem", tmp_path / "impostor.key"
    cert.write_bytes(impostor.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        impostor.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = _client_context()
    ctx.load_cert_chain(cert, key)
    _, answer = _exchange(port, ctx)
    assert isinstance(answer, BaseException) or not answer.startswith(b"HTTP/"), answer


def test_plain_http_to_the_cluster_port_fails(cluster: HACluster) -> None:
    port = _cluster_port(cluster, cluster.active())
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass  # it listens ...
    with pytest.raises(requests.ConnectionError):  # ... but speaks no HTTP in clear
        requests.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=10)


def test_the_ca_is_stored_only_encrypted(cluster: HACluster) -> None:
    rows = cluster.sql("SELECT key, value FROM tessera_kv WHERE key LIKE %s", "%cluster/tls%")
    assert len(rows) == 1, rows
    everything = cluster.sql("SELECT key, value FROM tessera_kv")
    assert everything and not [key for key, value in everything if b"-----BEGIN" in bytes(value)]  # type: ignore[arg-type]
    assert b"PRIVATE KEY" not in bytes(rows[0][1])  # type: ignore[arg-type]
    for node in cluster.nodes:  # nor through sys/raw, as Vault keeps core/cluster/local/info out of it
        status, body, _ = node.call("GET", "sys/raw/core/cluster/tls", token=cluster.token)
        assert status == 400 and body == {"errors": ['cannot access "core/cluster/tls"']}, (status, body)


def test_a_takeover_after_kill_still_forwards_through_the_cluster_port(cluster: HACluster) -> None:
    """Last in the module: it kills the active node."""
    active = cluster.active()
    active.kill()
    standbys = cluster.standbys(active)
    successor = cluster.active(among=standbys, timeout=20)
    remaining = next(node for node in standbys if node is not successor)
    until(
        lambda: cluster.leader(remaining).get("leader_address") == successor.addr,
        "the standby to name the new active node",
        20,
    )
    before = _arrived(cluster, successor)
    status, body, _ = remaining.call("PUT", "kv/after-takeover", json={"v": 2}, token=cluster.token)
    assert status == 204, (status, body)
    assert successor.call("GET", "kv/after-takeover", token=cluster.token)[1]["data"] == {"v": 2}
    assert _arrived(cluster, successor) == before + 1

"""sys/replication/* on a real Tessera (SQLite): the primary's states, with Vault's fields and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.cluster.replication.cli import tessera_cli
from tests.helpers.servers import TesseraServer, tessera_on_sqlite

P = "sys/replication/performance"
D = "sys/replication/dr"
WARNING_ENABLE = (
    "This cluster is being enabled as a primary for replication. Vault will be unavailable for a brief "
    "period and will resume service shortly."
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TesseraServer]:
    s = tessera_on_sqlite(tmp_path)
    try:
        s.start()
        s.init()
        s.unseal()
        yield s
    finally:
        s.cleanup()


def _data(server: TesseraServer, path: str, **kw: object) -> dict[str, object]:
    return server.ok("GET", path, status=200, **kw)["data"]  # type: ignore[no-any-return]


def test_disabled_status_needs_no_token(server: TesseraServer) -> None:
    assert _data(server, "sys/replication/status", auth=False) == {
        "dr": {"mode": "disabled"},
        "performance": {"mode": "disabled"},
    }
    assert _data(server, f"{D}/status", auth=False) == {"mode": "disabled"}
    assert server.call("GET", f"{P}/status", auth=False)[0] == 403
    assert _data(server, f"{P}/status") == {"mode": "disabled"}
    health = server.call("GET", "sys/health", auth=False)[1]
    assert (health["replication_performance_mode"], health["replication_dr_mode"]) == ("disabled", "disabled")


def test_enable_a_primary_survives_restart(server: TesseraServer) -> None:
    status, body, _ = server.call("POST", f"{P}/primary/enable")
    assert status == 200 and body["data"] is None and body["warnings"] == [WARNING_ENABLE]
    first = _data(server, f"{P}/status")
    assert first["mode"] == "primary" and first["state"] == "running"
    assert set(first) >= {
        "cluster_id", "known_secondaries", "last_wal", "last_performance_wal", "merkle_root",
        "primary_cluster_addr", "secondaries", "last_reindex_epoch",
    }  # fmt: skip
    assert len(str(first["merkle_root"])) == 40 and first["known_secondaries"] == []
    health = server.call("GET", "sys/health", auth=False)[1]
    assert (health["replication_performance_mode"], health["replication_dr_mode"]) == ("primary", "disabled")
    assert _data(server, "sys/replication/status", auth=False)["dr"] == {"mode": "disabled"}

    server.restart()
    server.unseal()
    again = _data(server, f"{P}/status")
    assert again["cluster_id"] == first["cluster_id"] and again["mode"] == "primary"
    assert again["merkle_root"] == first["merkle_root"] and again["last_wal"] == first["last_wal"]


def test_wrong_state_calls_are_refused(server: TesseraServer) -> None:
    assert server.call("POST", f"{P}/primary/disable")[1] == {
        "errors": ["this cluster is not a performance primary"]
    }
    status, body, _ = server.call("POST", f"{D}/primary/secondary-token", json={"id": "x"})
    assert (status, body) == (400, {"errors": ["this cluster is not a DR primary"]})
    assert server.call("POST", f"{D}/primary/enable")[0] == 200
    status, body, _ = server.call("POST", f"{D}/primary/enable")
    assert (status, body) == (400, {"errors": ["this cluster is already a DR primary"]})
    status, body, _ = server.call("POST", f"{D}/primary/secondary-token", json={})
    assert (status, body) == (400, {"errors": ["missing id"]})
    assert server.call("POST", f"{D}/primary/revoke-secondary", json={"id": "nobody"})[0] == 400


def test_secondary_token_is_wrapped_and_needs_sudo(server: TesseraServer) -> None:
    assert server.call("POST", f"{D}/primary/enable")[0] == 200
    policy = 'path "sys/replication/*" { capabilities = ["create", "update", "read"] }'
    assert server.call("PUT", "sys/policies/acl/rep", json={"policy": policy})[0] == 204
    token = server.call("POST", "auth/token/create", json={"policies": ["rep"]})[1]["auth"]["client_token"]
    assert server.call("POST", f"{D}/primary/secondary-token", json={"id": "dr1"}, token=token)[0] == 403

    status, body, _ = server.call("POST", f"{D}/primary/secondary-token", json={"id": "dr1", "ttl": "10m"})
    assert status == 200 and body["data"] is None
    wrap = body["wrap_info"]
    assert wrap["ttl"] == 600 and wrap["creation_path"] == f"{D}/primary/secondary-token"
    status, body, _ = server.call("POST", f"{D}/primary/secondary-token", json={"id": "dr1"})
    assert status == 400 and "already exists" in body["errors"][0]
    assert _data(server, f"{D}/status")["known_secondaries"] == ["dr1"]

    status, body, _ = server.call("POST", "sys/wrapping/unwrap", token=wrap["token"], auth=False)
    assert status == 200, body
    bundle = body["data"]
    assert bundle["secondary_id"] == "dr1" and bundle["type"] == "dr"
    assert bundle["cluster_id"] == _data(server, f"{D}/status")["cluster_id"]
    assert bundle["primary_api_addr"] == server.addr and bundle["primary_cluster_addr"].startswith("https://")
    ca = x509.load_pem_x509_certificate(bundle["ca_cert"].encode())
    leaf = x509.load_pem_x509_certificate(bundle["client_cert"].encode())
    leaf.verify_directly_issued_by(ca)
    assert len(bundle["credential"]) >= 40
    # Single use, as any wrapping token.
    assert server.call("POST", "sys/wrapping/unwrap", token=wrap["token"], auth=False)[0] == 400

    assert server.call("POST", f"{D}/primary/revoke-secondary", json={"id": "dr1"})[0] == 204
    assert _data(server, f"{D}/status")["known_secondaries"] == []
    assert server.call("POST", f"{D}/primary/secondary-token", json={"id": "dr1"})[0] == 200


def test_disable_forgets_the_cluster_id_and_demote_keeps_it(server: TesseraServer) -> None:
    assert server.call("POST", f"{P}/primary/enable")[0] == 200
    first = _data(server, f"{P}/status")["cluster_id"]
    assert server.call("POST", f"{P}/primary/disable")[0] == 200
    assert _data(server, f"{P}/status") == {"mode": "disabled"}
    assert server.call("POST", f"{P}/primary/enable")[0] == 200
    second = _data(server, f"{P}/status")["cluster_id"]
    assert second != first
    assert server.call("POST", f"{P}/primary/demote")[0] == 200
    demoted = _data(server, f"{P}/status")
    assert demoted["mode"] == "secondary" and demoted["cluster_id"] == second
    status, body, _ = server.call("POST", f"{P}/primary/enable")
    assert status == 400 and "promote" in body["errors"][0]
    assert server.call("GET", "sys/health", auth=False)[1]["replication_performance_mode"] == "secondary"


def test_paths_filter(server: TesseraServer) -> None:
    path = f"{P}/primary/paths-filter/c1"
    assert server.call("POST", path, json={"mode": "deny", "paths": ["kv"]})[0] == 400  # not a primary yet
    assert server.call("POST", f"{P}/primary/enable")[0] == 200
    assert server.call("GET", path)[0] == 404
    status, body, _ = server.call("POST", path, json={"mode": "block", "paths": ["kv"]})
    assert status == 400 and "invalid mode" in body["errors"][0]
    assert server.call("POST", path, json={"mode": "deny", "paths": "kv,transit/"})[0] == 204
    assert _data(server, path) == {"mode": "deny", "paths": ["kv/", "transit/"]}
    assert server.call("DELETE", path)[0] == 204
    assert server.call("GET", path)[0] == 404


def test_cli_writes_and_status_shows_the_last_wal(server: TesseraServer) -> None:
    """The tutorial's commands through the tessera CLI; ``tessera status`` then shows ``Last WAL``."""
    before = tessera_cli(server, "status")
    assert before.returncode == 0 and "Last WAL" not in before.stdout
    enabled = tessera_cli(server, "write", "-f", "sys/replication/dr/primary/enable")
    assert enabled.returncode == 0, enabled.stderr
    assert "being enabled as a primary" in enabled.stdout + enabled.stderr
    assert tessera_cli(server, "secrets", "enable", "-path=kv", "kv").returncode == 0
    assert tessera_cli(server, "kv", "put", "kv/a", "x=1").returncode == 0
    token = tessera_cli(server, "write", "sys/replication/dr/primary/secondary-token", "id=dr-secondary",
                        "-format=json")  # fmt: skip
    assert token.returncode == 0, token.stderr
    assert json.loads(token.stdout)["wrap_info"]["token"]
    status = tessera_cli(server, "status")
    last_wal = _data(server, f"{D}/status")["last_wal"]
    assert last_wal and status.stdout.splitlines()[-1].split() == ["Last", "WAL", str(last_wal)]
    read = tessera_cli(server, "read", "-format=json", "sys/replication/status")
    assert json.loads(read.stdout)["data"]["dr"]["mode"] == "primary"

"""Audit devices on a running Tessera: no secret in plain text, rotation on SIGHUP, salts that
survive a restart, and several devices at once (one failing is not enough to refuse)."""

from __future__ import annotations

import re
import secrets
import signal
import time
from pathlib import Path

import pytest

from tests.audit.support import ALLOW_CONFIG, AuditFile, TesseraServer, enable_file_device
from tests.helpers.servers import free_port, hcl_config

HMAC_ANYWHERE = re.compile(r"hmac-sha256:[0-9a-f]{64}")


@pytest.fixture
def server(tmp_path: Path) -> TesseraServer:
    config = tmp_path / "allow.hcl"
    config.write_text(ALLOW_CONFIG)
    root = "tessera-root-" + secrets.token_hex(8)
    srv = TesseraServer(root_token=root, extra_args=[f"-config={config}"]).start()
    yield srv
    srv.cleanup()


def test_no_secret_in_plain_text(server: TesseraServer, tmp_path: Path) -> None:
    """Tokens (service, batch, wrapping), accessors, passwords, secret values and AppRole
    credentials used or returned during a busy session never appear in an audit line (grepped)."""
    log = tmp_path / "audit.log"
    enable_file_device(server, "file", log)
    assert server.root_token is not None
    secrets_seen: set[str] = {server.root_token}

    def remember(*values: object) -> None:
        secrets_seen.update(str(v) for v in values if v)

    kv_value, password, meta_value = (
        "kv-" + secrets.token_hex(8),
        "pw-" + secrets.token_hex(8),
        "m-" + secrets.token_hex(6),
    )
    remember(kv_value, password)
    server.call("POST", "secret/data/app", json={"data": {"db_password": kv_value, "list": [kv_value]}})
    server.call("GET", "secret/data/app")
    server.call("POST", "sys/auth/up", json={"type": "userpass"})
    server.call("POST", "auth/up/users/alice", json={"password": password, "token_policies": "default"})
    _, login, _ = server.call("POST", "auth/up/login/alice", json={"password": password}, auth=False)
    remember(login["auth"]["client_token"], login["auth"]["accessor"])
    server.call("POST", "auth/up/login/alice", json={"password": password + "x"}, auth=False)
    _, svc, _ = server.call(
        "POST", "auth/token/create", json={"policies": ["default"], "meta": {"k": meta_value}}
    )
    remember(svc["auth"]["client_token"], svc["auth"]["accessor"])
    _, batch, _ = server.call("POST", "auth/token/create", json={"type": "batch", "policies": ["default"]})
    batch_token = batch["auth"]["client_token"]
    remember(batch_token)
    server.call("GET", "auth/token/lookup-self", token=batch_token)
    server.call("GET", "secret/data/app", token=batch_token)
    server.call("POST", "auth/token/lookup", json={"token": svc["auth"]["client_token"]})
    server.call("POST", "auth/token/lookup-accessor", json={"accessor": svc["auth"]["accessor"]})
    _, wrapped, _ = server.call("GET", "secret/data/app", headers={"X-Vault-Wrap-TTL": "60"})
    remember(wrapped["wrap_info"]["token"], wrapped["wrap_info"]["accessor"])
    server.call("POST", "sys/wrapping/unwrap", token=wrapped["wrap_info"]["token"])
    server.call("POST", "sys/auth/ar", json={"type": "approle"})
    server.call("POST", "auth/ar/role/r", json={"token_policies": "default"})
    role_id = server.call("GET", "auth/ar/role/r/role-id")[1]["data"]["role_id"]
    secret = server.call("POST", "auth/ar/role/r/secret-id")[1]["data"]
    remember(role_id, secret["secret_id"], secret["secret_id_accessor"])
    _, ar_login, _ = server.call(
        "POST", "auth/ar/login", json={"role_id": role_id, "secret_id": secret["secret_id"]}
    )
    remember(ar_login["auth"]["client_token"], ar_login["auth"]["accessor"])
    server.call("GET", "secret/data/app", token="not-a-token-" + secrets.token_hex(4))

    text = log.read_text()
    lines = AuditFile(log).lines()
    assert len(lines) > 30 and len(HMAC_ANYWHERE.findall(text)) > 50
    leaked = sorted(s for s in secrets_seen if s in text)
    assert not leaked, f"in plain text in the audit log: {leaked}"
    # Token metadata is not a secret: Vault logs auth.metadata as it is, and so does Tessera.
    assert meta_value in text


def test_sighup_reopens_the_file(server: TesseraServer, tmp_path: Path) -> None:
    """Log rotation: after a move and SIGHUP, new lines go to a new file at the configured path."""
    log = tmp_path / "audit.log"
    enable_file_device(server, "file", log)
    server.call("GET", "sys/mounts")
    rotated = tmp_path / "audit.log.1"
    log.rename(rotated)
    server.call("GET", "sys/auth")  # still written to the moved file until the signal
    server._signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.call("GET", "sys/policies/acl")
    old_paths = [line["request"]["path"] for line in AuditFile(rotated).lines()]
    new_paths = [line["request"]["path"] for line in AuditFile(log).lines()]
    assert old_paths[-2:] == ["sys/auth", "sys/auth"] and "sys/mounts" in old_paths
    assert new_paths == ["sys/policies/acl", "sys/policies/acl"]


def test_one_working_device_is_enough(server: TesseraServer, tmp_path: Path) -> None:
    """Fail closed means *every* device failed: with one broken and one working, requests pass."""
    good, bad = tmp_path / "good.log", tmp_path / "bad.log"
    enable_file_device(server, "good", good)
    enable_file_device(server, "bad", bad)
    bad.rename(tmp_path / "bad.moved")
    bad.mkdir()
    server._signal(signal.SIGHUP)
    time.sleep(0.5)
    status, _, _ = server.call("POST", "secret/data/through", json={"data": {"a": "b"}})
    assert status == 200
    assert [line["request"]["path"] for line in AuditFile(good).lines()][-2:] == ["secret/data/through"] * 2


def test_salt_and_table_survive_restart(tmp_path: Path) -> None:
    """The device and its HMAC key are kept through the barrier: same hashes after a restart."""
    port = free_port()
    config = tmp_path / "server.hcl"
    config.write_text(
        hcl_config(
            port, storage="sqlite", storage_options={"path": str(tmp_path / "db.sqlite")}, extra=ALLOW_CONFIG
        )
    )
    server = TesseraServer(config=config).start()
    try:
        server.init()
        server.unseal()
        log = tmp_path / "audit.log"
        enable_file_device(server, "file", log)
        before = server.call("POST", "sys/audit-hash/file", json={"input": "stable"})[1]["data"]["hash"]
        server.restart()
        server.unseal()
        after = server.call("POST", "sys/audit-hash/file", json={"input": "stable"})[1]["data"]["hash"]
        assert before == after
        assert "file/" in server.call("GET", "sys/audit")[1]["data"]
        server.call("GET", "sys/mounts")
        assert AuditFile(log).lines()[-1]["request"]["path"] == "sys/mounts"
    finally:
        server.cleanup()


def test_jsonx_and_prefix(server: TesseraServer, tmp_path: Path) -> None:
    """format=jsonx writes Vault's JSONx elements (no newline); prefix goes before each entry."""
    log = tmp_path / "audit.xml"
    enable_file_device(server, "x", log, format="jsonx", prefix="AUDIT:")
    server.call("GET", "sys/mounts")
    text = log.read_text()
    assert text.startswith('AUDIT:<json:object name="auth">')
    assert '<json:string name="path">sys/mounts</json:string>' in text
    assert "\n" not in text

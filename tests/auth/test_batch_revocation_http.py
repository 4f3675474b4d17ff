"""A leaked batch token over HTTP: AppRole logins, the CLI, audit, and a restart on SQLite.

One Tessera process on SQLite: an AppRole role mints batch tokens; one is revoked with
``tessera token revoke -batch``, the role is cut with ``tessera token cut-issuer``; both hold
after a restart, fresh logins keep working, and the audit log records both calls without the
token in clear.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.cli.golden import TESSERA, cli_env, run_cli
from tests.helpers.servers import TesseraServer, tessera_on_sqlite


def _ok(server: TesseraServer, method: str, path: str, **kw: object) -> dict:
    status, body, _ = server.call(method, path, **kw)
    assert status in (200, 204), (path, status, body)
    return body or {}


def _login(server: TesseraServer, creds: dict) -> str:
    return str(_ok(server, "POST", "auth/approle/login", json=creds, token="")["auth"]["client_token"])


def _status(server: TesseraServer, token: str) -> tuple[int, dict]:
    status, body, _ = server.call("GET", "auth/token/lookup-self", token=token)
    return status, body


def _cli(server: TesseraServer, tmp_path: Path, *args: str) -> str:
    assert server.root_token is not None
    result = run_cli(TESSERA, list(args), cli_env(server.addr, str(tmp_path), server.root_token))
    assert result.rc == 0, result
    return result.out


@pytest.mark.slow
def test_leaked_batch_token_and_cut_role_hold_across_a_restart(tmp_path: Path) -> None:
    server = tessera_on_sqlite(tmp_path, extra="unsafe_allow_api_audit_creation = true\n").start()
    try:
        server.init()
        server.unseal()
        audit_log = tmp_path / "audit.log"
        _ok(server, "POST", "sys/audit/file", json={"type": "file", "options": {"file_path": str(audit_log)}})
        _ok(server, "POST", "sys/auth/approle", json={"type": "approle"})
        role = {"token_type": "batch", "token_policies": ["default"], "token_ttl": "15m"}
        _ok(server, "POST", "auth/approle/role/ci", json=role)
        role_id = _ok(server, "GET", "auth/approle/role/ci/role-id")["data"]["role_id"]
        creds = {
            "role_id": role_id,
            "secret_id": _ok(server, "POST", "auth/approle/role/ci/secret-id")["data"]["secret_id"],
        }
        leaked, sibling, older = (_login(server, creds) for _ in range(3))
        assert all(_status(server, t)[0] == 200 for t in (leaked, sibling, older))

        assert "Success" in _cli(server, tmp_path, "token", "revoke", "-batch", leaked)
        assert _status(server, leaked) == (403, {"errors": ["permission denied"]})
        assert _status(server, sibling)[0] == 200

        issuers = json.loads(_cli(server, tmp_path, "token", "issuers", "-format=json"))
        assert issuers["auth/approle/role/ci"] == 0 and issuers["auth/token/create"] == 0
        assert "epoch 1" in _cli(server, tmp_path, "token", "cut-issuer", "auth/approle/role/ci")
        fresh = _login(server, creds)
        assert _status(server, fresh)[0] == 200
        assert _status(server, older) == (403, {"errors": ["permission denied"]})
        status, body, _ = server.call("POST", "auth/token/lookup", json={"token": older})
        assert (status, body) == (403, {"errors": ["bad token: batch token refused (issuer epoch)"]})

        server.restart()
        server.unseal()
        for token in (leaked, sibling, older):
            assert _status(server, token)[0] == 403, token
        status, body, _ = server.call("POST", "auth/token/lookup", json={"token": leaked})
        assert (status, body) == (403, {"errors": ["bad token: batch token refused (revoked)"]})
        assert _status(server, fresh)[0] == 200
        assert _status(server, _login(server, creds))[0] == 200
        assert _ok(server, "GET", "sys/token-issuers/auth/approle/role/ci")["data"]["epoch"] == 1

        text = audit_log.read_text()
        paths = [json.loads(line)["request"]["path"] for line in text.splitlines()]
        assert "auth/token/revoke-batch" in paths and "sys/token-issuers/auth/approle/role/ci/bump" in paths
        assert leaked not in text and hashlib.sha256(leaked.encode()).hexdigest() not in text
    finally:
        server.cleanup()


def test_cutting_a_parent_with_the_cli_refuses_its_children(
    fresh_tessera: TesseraServer, tmp_path: Path
) -> None:
    """``tessera token cut-issuer auth/token/parent/<accessor>``: the parent's earlier child batch
    tokens are refused, its new ones and another parent's work, and the cut parent is listed."""
    server = fresh_tessera
    policy = 'path "auth/token/create" { capabilities = ["update"] }'
    _ok(server, "PUT", "sys/policies/acl/minter", json={"policy": policy})
    minter = {"policies": ["minter"], "ttl": "1h"}
    created = _ok(server, "POST", "auth/token/create", json=minter)["auth"]
    parent, issuer = created["client_token"], "auth/token/parent/" + created["accessor"]
    other = _ok(server, "POST", "auth/token/create", json=minter)["auth"]

    def child(token: str) -> str:
        auth = _ok(server, "POST", "auth/token/create", json={"type": "batch", "ttl": "10m"}, token=token)
        return str(auth["auth"]["client_token"])

    older, cousin = child(parent), child(other["client_token"])
    assert issuer not in json.loads(_cli(server, tmp_path, "token", "issuers", "-format=json"))
    assert f"Success! Cut {issuer}" in _cli(server, tmp_path, "token", "cut-issuer", issuer)
    assert _status(server, older) == (403, {"errors": ["permission denied"]})
    status, body, _ = server.call("POST", "auth/token/lookup", json={"token": older})
    assert (status, body) == (403, {"errors": ["bad token: batch token refused (issuer epoch)"]})
    assert _status(server, cousin)[0] == 200 and _status(server, child(parent))[0] == 200
    assert json.loads(_cli(server, tmp_path, "token", "issuers", "-format=json"))[issuer] == 1

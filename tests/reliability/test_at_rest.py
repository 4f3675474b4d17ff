"""Nothing secret at rest, nothing secret in the logs.

A SQLite-backed server at ``log_level = "trace"`` goes through a busy run: KV v1/v2 and cubbyhole
writes, service, batch, custom-ID, orphan and periodic tokens, userpass and AppRole logins,
response wrapping, transit, revocations, and requests that fail on purpose with secrets in them
(wrong passwords, unknown tokens, malformed bodies). Then every byte of the database directory
(main file, WAL, shm), before and after a clean shutdown, and everything the server printed are
searched for every token ID, secret value, password, secret ID and unseal key used, raw and in
the encodings a client sent them in. None may appear.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http import call
from tests.helpers.servers import TesseraServer, free_port, hcl_config

pytestmark = pytest.mark.slow


class Secrets:
    """Every secret the run used, and the byte forms to look for."""

    def __init__(self) -> None:
        self.items: dict[str, set[bytes]] = {}

    def new(self, label: str) -> str:
        value = f"{label}-{secrets.token_hex(12)}"
        self.add(label, value)
        return value

    def add(self, label: str, value: str | bytes) -> None:
        raw = value.encode() if isinstance(value, str) else value
        forms = {raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")}
        if isinstance(value, bytes):
            forms.add(value.hex().encode())
        self.items.setdefault(f"{label}:{raw[:12]!r}", set()).update(forms)

    def found_in(self, blob: bytes) -> list[str]:
        return [label for label, forms in self.items.items() if any(f in blob for f in forms)]


def ok(server: TesseraServer, method: str, path: str, token: str | None, body: Any = None, **kw: Any) -> Any:
    status, answer, _ = call(server.addr, method, path, token, json=body, **kw)
    assert status in (200, 204), (method, path, status, answer)
    return answer


def busy_run(server: TesseraServer, root: str, s: Secrets) -> None:
    ok(server, "POST", "sys/mounts/secret", root, {"type": "kv", "options": {"version": "2"}})
    ok(server, "POST", "sys/mounts/kv1", root, {"type": "kv", "options": {"version": "1"}})
    ok(server, "POST", "sys/mounts/transit", root, {"type": "transit"})
    ok(server, "POST", "sys/auth/userpass", root, {"type": "userpass"})
    ok(server, "POST", "sys/auth/approle", root, {"type": "approle"})
    ok(
        server,
        "PUT",
        "sys/policies/acl/app",
        root,
        {"policy": 'path "secret/*" { capabilities = ["read", "create", "update"] }'},
    )
    for i in range(20):
        ok(server, "POST", f"secret/data/app/{i}", root, {"data": {"password": s.new("kv2"), "n": i}})
        ok(server, "POST", f"secret/data/app/{i}", root, {"data": {"password": s.new("kv2v2")}})
        ok(server, "PUT", f"kv1/item{i}", root, {"api_key": s.new("kv1")})
    ok(server, "PUT", "cubbyhole/mine", root, {"value": s.new("cubby")})
    tokens = []
    for body in (
        {"policies": ["app"]},
        {"policies": ["app"], "type": "batch"},
        {"policies": ["app"], "no_parent": True},
        {"policies": ["app"], "period": "1h"},
        {"policies": ["app"], "num_uses": 3},
        {"policies": ["app"], "id": s.new("customid").replace("-", "_")},
    ):
        token = ok(server, "POST", "auth/token/create", root, body)["auth"]["client_token"]
        s.add("token", token)
        tokens.append(token)
        ok(server, "GET", "auth/token/lookup-self", token)
    ok(server, "PUT", "cubbyhole/t", tokens[0], {"v": s.new("cubby-child")})
    password = s.new("password")
    ok(server, "POST", "auth/userpass/users/alice", root, {"password": password, "policies": ["app"]})
    login = ok(server, "POST", "auth/userpass/login/alice", None, {"password": password})
    s.add("userpass-token", login["auth"]["client_token"])
    ok(
        server,
        "POST",
        "secret/data/by-alice",
        login["auth"]["client_token"],
        {"data": {"x": s.new("alice-kv")}},
    )
    ok(server, "POST", "auth/approle/role/app", root, {"token_policies": ["app"]})
    role_id = ok(server, "GET", "auth/approle/role/app/role-id", root)["data"]["role_id"]
    for custom in (None, s.new("customsid")):
        answer = ok(
            server,
            "POST",
            f"auth/approle/role/app/{'custom-' if custom else ''}secret-id",
            root,
            {"secret_id": custom} if custom else None,
        )
        secret_id = answer["data"]["secret_id"]
        s.add("secret_id", secret_id)
        token = ok(server, "POST", "auth/approle/login", None, {"role_id": role_id, "secret_id": secret_id})[
            "auth"
        ]["client_token"]
        s.add("approle-token", token)
    wrapped = ok(
        server,
        "POST",
        "sys/wrapping/wrap",
        root,
        {"payload": s.new("wrapped")},
        headers={"X-Vault-Wrap-TTL": "10m"},
    )
    s.add("wrapping-token", wrapped["wrap_info"]["token"])
    read_wrapped = ok(server, "GET", "secret/data/app/3", root, headers={"X-Vault-Wrap-TTL": "10m"})
    s.add("wrapping-token", read_wrapped["wrap_info"]["token"])
    ok(server, "POST", "sys/wrapping/unwrap", read_wrapped["wrap_info"]["token"])
    ok(server, "POST", "transit/keys/k", root)
    plaintext = s.new("transit")
    ok(
        server,
        "POST",
        "transit/encrypt/k",
        root,
        {"plaintext": base64.b64encode(plaintext.encode()).decode()},
    )
    # Failures with secrets in them: these are what a careless logger would print.
    call(server.addr, "POST", "auth/userpass/login/alice", None, json={"password": s.new("wrongpw")})
    call(server.addr, "GET", "secret/data/app/1", s.new("hvs.unknown"))
    call(server.addr, "GET", "secret/data/app/1", tokens[1] + "x")
    call(
        server.addr,
        "POST",
        "secret/data/bad",
        root,
        data=b'{"data": {"p": "' + s.new("malformed").encode() + b'"',
    )
    call(
        server.addr,
        "POST",
        "auth/approle/login",
        None,
        json={"role_id": role_id, "secret_id": s.new("badsid")},
    )
    call(server.addr, "GET", "auth/token/lookup-self", s.new("b.garbage"))
    ok(server, "POST", "auth/token/revoke", root, {"token": tokens[0]})
    ok(server, "POST", "auth/token/revoke-orphan", root, {"token": tokens[2]})
    ok(server, "PUT", "sys/rotate", root)


def test_nothing_secret_at_rest_or_in_logs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "server.hcl"
    config.write_text(
        hcl_config(free_port(), storage="sqlite", storage_options={"path": str(data / "tessera.db")})
        + 'log_level = "trace"\n'
    )
    s = Secrets()
    with TesseraServer(config=config) as server:
        init = server.init(3, 2)
        for key, key_b64 in zip(init["keys"], init["keys_base64"], strict=True):
            s.add("unseal-key", bytes.fromhex(key))
            s.add("unseal-key-hex", key)
            s.add("unseal-key-b64", key_b64)
        s.add("root-token", init["root_token"])
        server.unseal()
        busy_run(server, init["root_token"], s)
        live = b"".join(p.read_bytes() for p in sorted(data.iterdir()))
        assert (data / "tessera.db").stat().st_size > 0
        server.terminate()
        output = server.output()
    assert "trace" in output.lower() or "Log Level" in output
    at_rest = b"".join(p.read_bytes() for p in sorted(data.iterdir()))
    assert len(s.items) > 80
    assert not s.found_in(live), "found in the live database files"
    assert not s.found_in(at_rest), "found in the database after shutdown"
    assert not s.found_in(output.encode()), "found in the server's log output"

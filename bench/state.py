"""The same starting state on every server, made through the HTTP API only.

Both servers get the same mounts (KV v1 at ``kv1/``, KV v2 at ``secret/``, transit, AppRole),
one policy, one secret in each KV, a service token and a batch token (children of the root
token, so a batch token's validation includes its parent's liveness), and two AppRole roles
issuing service and batch tokens. Scenarios then only differ in what they send.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from .servers import ServerProcess

POLICY = """
path "kv1/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "secret/data/*" { capabilities = ["create", "read", "update"] }
path "transit/encrypt/bench" { capabilities = ["update"] }
"""

SECRET_VALUE = {"username": "bench", "password": "correct-horse-battery-staple", "port": "5432"}
PLAINTEXT = base64.b64encode(b"a 64-byte plaintext, as a typical small encrypt request carries.").decode()


@dataclass
class State:
    """What scenarios need from the setup: tokens and AppRole credentials."""

    root: str
    service_token: str
    batch_token: str
    approle: dict[str, tuple[str, str]]  # role name -> (role_id, secret_id)


def _ok(server: ServerProcess, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One setup call that must succeed (retried while a fresh mount is still upgrading)."""
    deadline = time.monotonic() + 30
    while True:
        status, answer, _ = server.call(method, path, json=body, token=token)
        if 200 <= status < 300:
            return answer
        upgrading = status == 400 and "upgrad" in str(answer)
        if not upgrading or time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: {method} {path} -> {status} {answer}")
        time.sleep(0.2)


def _mount_if_missing(server: ServerProcess, path: str, body: dict[str, Any]) -> None:
    mounts = _ok(server, "GET", "sys/mounts")
    table = mounts.get("data", mounts)
    if path + "/" not in table:
        _ok(server, "POST", f"sys/mounts/{path}", body)


def prepare(server: ServerProcess) -> State:
    """Lay down the benchmark state on ``server`` (root token already known) and return it."""
    root = str(server.root_token)
    _mount_if_missing(server, "kv1", {"type": "kv", "options": {"version": "1"}})
    _mount_if_missing(server, "secret", {"type": "kv", "options": {"version": "2"}})
    _mount_if_missing(server, "transit", {"type": "transit"})
    _ok(server, "POST", "sys/auth/approle", {"type": "approle"})
    _ok(server, "PUT", "sys/policies/acl/bench", {"policy": POLICY})
    _ok(server, "POST", "kv1/bench", SECRET_VALUE)
    _ok(server, "POST", "secret/data/bench", {"data": SECRET_VALUE})
    _ok(server, "POST", "transit/keys/bench", {"type": "aes256-gcm96"})

    def token(kind: str) -> str:
        body = {"policies": ["bench"], "ttl": "24h", "type": kind}
        return str(_ok(server, "POST", "auth/token/create", body)["auth"]["client_token"])

    approle: dict[str, tuple[str, str]] = {}
    for role, kind in (("svc", "service"), ("bat", "batch")):
        _ok(
            server,
            "POST",
            f"auth/approle/role/{role}",
            {"token_type": kind, "token_policies": ["bench"], "token_ttl": "1h", "secret_id_num_uses": 0},
        )
        role_id = _ok(server, "GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
        secret_id = _ok(server, "POST", f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]
        approle[role] = (str(role_id), str(secret_id))
    state = State(root=root, service_token=token("service"), batch_token=token("batch"), approle=approle)
    # Every credential must work before load is put on it: a fast 403 is not a result.
    for tok in (state.service_token, state.batch_token):
        _ok(server, "GET", "kv1/bench", token=tok)
    return state

"""A Tessera on SQLite with a bit of everything written, and its storage read back from the file.

Shared by the replication tests: the classifier must know every key such a server writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tessera.audit.broker import AUDIT_TABLE, LOCAL_AUDIT_TABLE
from tessera.barrier.aes_gcm import Barrier
from tessera.core import shamir
from tessera.replication.keys import KeyClassifier
from tessera.routing.mounts import AUTH_TABLE, LOCAL_AUTH_TABLE, LOCAL_SECRETS_TABLE, SECRETS_TABLE
from tessera.storage.sqlite import SQLitePhysical
from tests.helpers.servers import TesseraServer

AUDIT_CONFIG = (
    'audit "file" "shared/" {{\n  options = {{ file_path = "{0}/a.log" }}\n}}\n'
    'audit "file" "mine/" {{\n  local = true\n  options = {{ file_path = "{0}/b.log" }}\n}}\n'
)


def populate(server: TesseraServer, workdir: Path) -> dict[str, Any]:
    """Mounts (one of them local), secrets, roles, logins, tokens, leases, identity, quotas, wrapping."""

    def call(method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        status, answer, _ = server.call(method, path, json=body, token=token)
        assert status < 400, (method, path, status, answer)
        return answer

    call("POST", "sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    call("POST", "sys/mounts/kv1", {"type": "kv"})
    call("POST", "sys/mounts/lkv", {"type": "kv", "local": True})
    call("PUT", "kv/data/a", {"data": {"x": "1"}})
    call("PUT", "kv1/a", {"x": "1"})
    call("PUT", "lkv/a", {"x": "1"})
    call("POST", "sys/mounts/transit", {"type": "transit"})
    call("POST", "transit/keys/k")
    call("POST", "sys/mounts/pki", {"type": "pki"})
    call("POST", "pki/root/generate/internal", {"common_name": "x.com", "ttl": "87600h"})
    call(
        "POST", "pki/roles/r", {"allowed_domains": "x.com", "allow_subdomains": True, "generate_lease": True}
    )
    call("POST", "pki/issue/r", {"common_name": "a.x.com", "ttl": "1h"})
    call("POST", "sys/auth/approle", {"type": "approle"})
    call("POST", "auth/approle/role/r", {"token_policies": "p1"})
    role_id = call("GET", "auth/approle/role/r/role-id")["data"]["role_id"]
    secret_id = call("POST", "auth/approle/role/r/secret-id")["data"]["secret_id"]
    call("POST", "auth/approle/login", {"role_id": role_id, "secret_id": secret_id})
    call("POST", "sys/auth/userpass", {"type": "userpass"})
    call("POST", "sys/auth/luserpass", {"type": "userpass", "local": True})
    call("POST", "auth/userpass/users/u", {"password": "pw"})
    call("POST", "auth/luserpass/users/u", {"password": "pw"})
    call("POST", "auth/userpass/login/u", {"password": "pw"})
    assert server.call("POST", "auth/userpass/login/u", json={"password": "bad"})[0] == 400
    call("PUT", "sys/policies/acl/p1", {"policy": 'path "kv/*" { capabilities = ["read"] }'})
    call(
        "POST",
        "auth/token/roles/failover-handler",
        {"allowed_policies": "p1", "orphan": True, "renewable": False, "token_type": "batch"},
    )
    service = call("POST", "auth/token/create", {"policies": ["p1"]})["auth"]["client_token"]
    batch = call("POST", "auth/token/create", {"type": "batch", "policies": ["p1"]})["auth"]["client_token"]
    call("POST", "auth/token/revoke-batch", {"token": batch})
    call("POST", "sys/token-issuers/auth/token/create/bump")
    call("POST", "cubbyhole/x", {"a": "b"})
    call("POST", "cubbyhole/y", {"a": "b"}, token=service)
    status, _, _ = server.call(
        "POST", "sys/wrapping/wrap", json={"a": "b"}, headers={"X-Vault-Wrap-TTL": "5m"}
    )
    assert status == 200
    entity = call("POST", "identity/entity", {"name": "e1"})["data"]["id"]
    call("POST", "identity/group", {"name": "g1", "member_entity_ids": [entity]})
    call("POST", "identity/oidc/key/k1", {})
    call("POST", "sys/quotas/rate-limit/q1", {"rate": 100})
    call("POST", "sys/quotas/lease-count/q2", {"max_leases": 100})
    call("POST", "sys/rotate")
    call("POST", "sys/rotate/config", {"max_operations": 1000000})
    call("POST", "sys/mounts/kv/tune", {"max_lease_ttl": "1h"})
    call("POST", "sys/auth/jwt", {"type": "jwt"})
    call("POST", "sys/auth/cert", {"type": "cert"})
    call("POST", "sys/auth/github", {"type": "github"})
    return {"service": service}


def read_storage(server: TesseraServer, db: Path) -> tuple[dict[str, bytes], KeyClassifier]:
    """Every (key, ciphertext) of the SQLite file, and a classifier built from its mount tables."""
    with sqlite3.connect(db) as conn:
        entries = {str(k): bytes(v) for k, v in conn.execute("SELECT key, value FROM entries")}
    physical = SQLitePhysical(str(db))
    try:
        barrier = Barrier(physical)
        shares = [bytes.fromhex(k) for k in server.keys]
        barrier.unseal(shares[0] if len(shares) == 1 else shamir.combine(shares))
        mounts: list[tuple[str, str, bool]] = []
        for key, root in (
            (SECRETS_TABLE, "logical/"),
            (LOCAL_SECRETS_TABLE, "logical/"),
            (AUTH_TABLE, "auth/"),
            (LOCAL_AUTH_TABLE, "auth/"),
        ):
            for m in barrier.get_json(key) or []:
                mounts.append((_prefix(m, root), m["type"], bool(m.get("local"))))
        for key in (AUDIT_TABLE, LOCAL_AUDIT_TABLE):
            for a in (barrier.get_json(key) or {}).get("entries") or []:
                mounts.append((f"audit/{a['uuid']}/", a["type"], bool(a.get("local"))))
    finally:
        physical.close()
    classifier = KeyClassifier()
    classifier.update(mounts)
    return entries, classifier


def _prefix(mount: dict[str, Any], root: str) -> str:
    if mount["type"] == "system":
        return "sys/"
    if mount["type"] == "token":
        return "sys/token/"
    return f"{root}{mount['uuid']}/"

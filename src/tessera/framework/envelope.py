"""Vault's JSON response envelope for logical responses, and ``{"errors": [...]}`` for errors.

Both are what any transport answers with, so they live in the framework; the HTTP server only adds
its headers (server/render.py).
"""

from __future__ import annotations

from typing import Any

from ..gocompat.json import go_json
from .errors import VaultError
from .logical import OP_LIST, OP_READ, Auth, Operation, Response

# sys paths whose data keys Vault also writes at the top level of the body (legacy clients read
# them): http/handler.go injectDataIntoTopRoutes. Exact routes, and subtrees (Go mux "…/" patterns).
INJECTED_EXACT = frozenset(
    {
        "sys/audit",
        "sys/auth",
        "sys/config/cors",
        "sys/config/auditing/request-headers",
        "sys/capabilities",
        "sys/capabilities-accessor",
        "sys/capabilities-self",
        "sys/ha-status",
        "sys/key-status",
        "sys/mounts",
        "sys/policy",
        "sys/rekey/backup",
        "sys/rekey/recovery-key-backup",
        "sys/rotate/root/backup",
        "sys/rotate/recovery/backup",
        "sys/remount",
        "sys/rotate",
        "sys/rotate/keyring",
        "sys/wrapping/wrap",
    }
)
INJECTED_PREFIXES = (
    "sys/audit/",
    "sys/audit-hash/",
    "sys/auth/",
    "sys/config/auditing/request-headers/",
    "sys/mounts/",
    "sys/policy/",
)


def injects(path: str) -> bool:
    return path in INJECTED_EXACT or path.startswith(INJECTED_PREFIXES)


def auth_json(auth: Auth) -> dict[str, Any]:
    out: dict[str, Any] = {
        "client_token": auth.client_token,
        "accessor": auth.accessor,
        "policies": auth.policies,
        "token_policies": auth.token_policies,
        "metadata": auth.metadata,
        "lease_duration": auth.lease_duration,
        "renewable": auth.renewable,
        "entity_id": auth.entity_id,
        "token_type": auth.token_type,
        "orphan": auth.orphan,
        "mfa_requirement": None,
        "num_uses": auth.num_uses,
    }
    if auth.identity_policies:
        out["identity_policies"] = auth.identity_policies
    if not auth.token_policies:
        del out["token_policies"]  # omitempty in Vault's Auth: a login without policies has none
    return out


def envelope(resp: Response, request_id: str, mount_type: str) -> dict[str, Any]:
    lease_id, renewable, lease_duration = "", False, 0
    if resp.secret is not None:
        lease_id = resp.secret.lease_id
        renewable = resp.secret.renewable if lease_id else False
        lease_duration = resp.secret.ttl
    if resp.lease_duration_override is not None:
        lease_duration = resp.lease_duration_override
    wrap = None
    if resp.wrap_info is not None:
        w = resp.wrap_info
        wrap = {
            "token": w.token,
            "accessor": w.accessor,
            "ttl": w.ttl,
            "creation_time": w.creation_time,
            "creation_path": w.creation_path,
        }
        if w.wrapped_accessor:
            wrap["wrapped_accessor"] = w.wrapped_accessor
        request_id = ""
    return {
        "request_id": request_id,
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": resp.data if resp.wrap_info is None else None,
        "wrap_info": wrap,
        "warnings": resp.warnings or None,
        "auth": auth_json(resp.auth) if resp.auth is not None and resp.wrap_info is None else None,
        "mount_type": mount_type,
    }


_READ_OR_LIST = (OP_READ, OP_LIST)


def error_body(errors: list[str], data: Any = None) -> bytes:
    body: dict[str, Any] = {"errors": errors}
    if data is not None:
        body["data"] = data
    return go_json(body)


def render_error(exc: VaultError) -> tuple[int, bytes]:
    return exc.status, error_body(exc.errors(), exc.data)


def render_logical(
    resp: Response | None, operation: Operation, path: str, request_id: str, mount_type: str
) -> tuple[int, bytes | None]:
    """Status and body for a logical response (None body = 204)."""
    if resp is None:
        if operation in _READ_OR_LIST:
            return 404, error_body([])
        return 204, None
    if isinstance(resp.raw_body, bytes):  # a certificate or CRL served as itself (pki/ca/pem)
        status = resp.status or 200
        return status, (None if status == 204 else resp.raw_body)
    if resp.raw_body is not None:
        if isinstance(resp.raw_body, bytes):  # served as is, with the content type in resp.headers
            return resp.status or 200, resp.raw_body
        return resp.status or 200, go_json(resp.raw_body)
    if (
        operation == OP_LIST
        and resp.wrap_info is None
        and resp.status is None
        and not resp.is_error
        and (not resp.data or not resp.data.get("keys"))
    ):
        return 404, error_body([])
    if (
        resp.data is None
        and resp.auth is None
        and resp.secret is None
        and resp.wrap_info is None
        and not resp.warnings
    ):
        if resp.status is not None and resp.status != 200:
            return resp.status, None  # e.g. 202 for asynchronous revocation: no body
        if operation == OP_READ and resp.status is None:
            return 404, error_body([])
        if operation != OP_READ:
            return 204, None
        # A read that says 200 itself answers an envelope with "data": null (Vault's PathMap).
    body = envelope(resp, request_id, mount_type)
    if resp.data and injects(path) and resp.wrap_info is None:
        merged = dict(resp.data)
        merged.update(body)
        body = merged
    status = resp.status or 200
    return status, go_json(body)

"""Token renewal (Vault's ExpirationManager.RenewToken plus the issuing backend's renew hook).

Tokens from auth/token/* take period and explicit max TTL from their role (or their own entry);
tokens from a login ask the issuing auth method, which may refuse or change the grant. A backend
opts in with an ``auth_renew(req, auth) -> Response | None`` attribute; without one the stored
grant is extended as framework.LeaseExtend would.
"""

from __future__ import annotations

import logging
import time

from ..framework import Auth, ErrorResponse, InternalError, Operation, Request, Response, VaultError
from .common import auth_block
from .entry import BATCH, TokenEntry
from .host import TokenHost
from .roles import RoleStore
from .ttl import TTLError, calculate_ttl

log = logging.getLogger("tessera.tokens")


def _stored_auth(entry: TokenEntry) -> Auth:
    return Auth(
        policies=list(entry.policies),
        token_policies=list(entry.policies),
        metadata=entry.meta,
        display_name=entry.display_name,
        ttl=entry.ttl,
        max_ttl=entry.max_ttl,
        explicit_max_ttl=entry.explicit_max_ttl,
        period=entry.period,
        num_uses=entry.auth_num_uses,
        renewable=entry.renewable,
        entity_id=entry.entity_id,
        token_type=entry.type,
        internal_data=dict(entry.auth_internal_data),
        client_token=entry.id,
        accessor=entry.accessor,
        creation_path=entry.path,
    )


def _backend_grant(core: TokenHost, req: Request, entry: TokenEntry) -> Auth:
    """Ask the issuing backend what the renewed grant looks like."""
    auth = _stored_auth(entry)
    if entry.path.startswith("auth/token/"):
        if entry.role:
            role = RoleStore(core.tokens.storage).get(entry.role)
            if role is None:
                raise InternalError(
                    f'failed to renew entry: original token role "{entry.role}" could not be found, not renewing'
                )
            auth.period = role.effective_period
            auth.explicit_max_ttl = role.effective_explicit_max_ttl
        return auth
    route = core.router.match(entry.path)
    hook = getattr(route.backend, "auth_renew", None) if route is not None else None
    if hook is None or route is None:
        return auth
    renew_req = Request(
        operation=Operation.RENEW,
        path=entry.path[len(route.entry.route_prefix) :],
        full_path=entry.path,
        mount_point=route.entry.route_prefix,
        mount_type=route.entry.type,
        mount_accessor=route.entry.accessor,
        storage=route.storage,
        token_entry=entry,
        remote_addr=req.remote_addr,
        tls=req.tls,
        peer_certificates=req.peer_certificates,  # the cert method re-checks the client's certificate
        data={},
    )
    try:
        resp = hook(renew_req, auth)
    except VaultError:
        raise
    except Exception as exc:
        log.exception("auth method renewal failed for %s", entry.path)
        raise InternalError(f"failed to renew entry: {exc}") from None
    renewed: Auth | None = None if resp is None else resp.auth
    if renewed is None:
        raise ErrorResponse("lease is not renewable")
    return renewed


def renew_token(core: TokenHost, req: Request, entry: TokenEntry, increment: int) -> Response:
    if entry.type == BATCH:
        raise ErrorResponse("batch tokens cannot be renewed")
    now = time.time()
    if entry.expire_time <= 0:
        raise ErrorResponse("lease is not renewable")
    if entry.expire_time <= now:
        raise ErrorResponse("lease expired")
    if not entry.renewable:
        raise ErrorResponse("lease is not renewable")
    grant = _backend_grant(core, req, entry)
    route = core.router.match(entry.path)
    default_ttl, max_ttl = core.mount_ttls(route.entry if route is not None else None)
    try:
        ttl, warnings = calculate_ttl(
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            increment=increment,
            backend_ttl=grant.ttl,
            period=grant.period,
            backend_max_ttl=grant.max_ttl,
            explicit_max_ttl=grant.explicit_max_ttl,
            start=entry.issue_time,
            now=now,
        )
    except TTLError as exc:
        raise InternalError(str(exc)) from None
    current = core.tokens.lookup_salted(entry.salted_id, tainted=True)
    if current is None:
        raise ErrorResponse("token not found")
    current.id = entry.id
    current.ttl = ttl
    current.expire_time = now + ttl
    current.last_renewal_time = now
    if grant.internal_data:
        current.auth_internal_data = dict(grant.internal_data)
    core.tokens.save(current)
    resp = Response(warnings=warnings)
    resp.auth = auth_block(core, current, ttl=ttl, renewable=True, num_uses=current.auth_num_uses)
    return resp

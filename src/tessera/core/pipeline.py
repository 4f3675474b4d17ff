"""The one request pipeline every logical request takes, as a short sequence of typed stages.

route → (token prechecks) → resolve the caller → count a use → create-vs-update → ACL → audit the
request → the backend (with user lockout around logins) → issue tokens for logins → leases →
response wrapping → revoke a token whose last use this was.

It is built at unseal from the parts it needs, handed over as typed objects; nothing here reaches
back through the Core. The token functions it calls (prechecks, login tokens, wrapping) are given
the running core as a ``TokenHost``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from ..framework import (
    OPERATION_TEXT,
    Backend,
    CodedError,
    InvalidCredentials,
    PermissionDenied,
    Request,
    Response,
)
from ..framework.logical import OP_CREATE, OP_HELP, OP_UPDATE
from ..leases.manager import ExpirationManager
from ..policy.acl import ACLResult
from ..policy.store import PolicyStore
from ..routing.router import Route, Router
from ..storage.tap import ForwardToPrimary
from ..telemetry import metrics
from ..tokens.caller import resolve_caller
from ..tokens.entry import TokenEntry
from ..tokens.host import TokenHost
from ..tokens.issue import issue_login_token
from ..tokens.precheck import precheck_request
from ..tokens.store import TokenStore
from ..tokens.wrapping import wrap_response
from .access import acl_for
from .lockout import UserLockout
from .matching import SpecialPaths
from .recording import AuditRecorder, RequestTrail

log = logging.getLogger("tessera.core")

PRECHECKED = ("sys/wrapping/", "auth/token/")  # paths with token checks before the caller's


@dataclass(slots=True)
class Pipeline:
    """The stages of request handling and the parts each one uses."""

    router: Router
    tokens: TokenStore
    policies: PolicyStore
    leases: ExpirationManager
    audit: AuditRecorder | None
    lockout: UserLockout
    host: TokenHost  # for the token functions: prechecks, login tokens, wrapping
    special: SpecialPaths = field(default_factory=SpecialPaths)

    def handle(self, req: Request) -> Response | None:
        """One request, audited when any audit device is enabled."""
        trail = self.audit.trail(req) if self.audit is not None else None
        if trail is None:
            return self.run(req, None)
        # Audited: the request is recorded before its backend runs (see run), and the answer or
        # the error after; a device failure turns either into a 500.
        try:
            resp = self.run(req, trail)
        except Exception as exc:
            trail.failed(exc)
            raise
        return trail.respond(resp)

    def run(self, req: Request, trail: RequestTrail | None) -> Response | None:
        full_path = req.path
        req.full_path = full_path
        route = self.router.match(full_path)
        if route is None:
            self.refuse_unrouted(req, full_path)
            raise CodedError(404, f'no handler for route "{full_path}". route entry not found.')
        prefix = route.entry.route_prefix
        rel = full_path[len(prefix) :] if full_path.startswith(prefix) else ""
        unauth, needs_sudo = self.special.flags(route, full_path, rel)
        if full_path.startswith(PRECHECKED):
            # Token checks Vault makes before the caller's token (e.g. the wrapping token's).
            precheck_request(self.host, req, full_path)
        forwarded = req.forwarded_entry
        entry = forwarded or resolve_caller(self.tokens, req.client_token, req.remote_addr)
        if trail is not None:
            trail.token(entry)  # before a use is counted: the line shows the uses left
        last_use = False
        if not unauth:
            if entry is None:
                raise PermissionDenied()
            last_use = forwarded is None and self.tokens.use(entry)  # a secondary counted its uses
        enter_mount(req, route, prefix, rel, entry, unauth)
        try:
            return self.serve(req, route, entry, trail, last_use, needs_sudo)
        except ForwardToPrimary as forward:  # this performance secondary's primary serves it
            forward.entry = entry
            raise
        finally:
            if last_use and entry is not None:
                self.spend_last_use(entry)

    def serve(
        self,
        req: Request,
        route: Route,
        entry: TokenEntry | None,
        trail: RequestTrail | None,
        last_use: bool,
        needs_sudo: bool,
    ) -> Response | None:
        """The routed request: authorised, recorded, handled and its answer completed."""
        backend = route.backend
        prefix = req.mount_point  # the route's prefix (enter_mount): a property, computed once
        if req.operation == OP_UPDATE:
            has_check, exists = backend.existence(req)
            if has_check and not exists:
                req.operation = OP_CREATE
        granted = None
        if entry is not None and not req.unauthenticated and req.operation != OP_HELP:
            granted = self.authorize(req, entry, needs_sudo)
        if trail is not None:
            trail.log_request(granted)  # fail closed: unrecorded requests never reach the backend
        routed = perf_counter()
        try:
            resp = self.login(req, route, backend) if req.unauthenticated else backend.handle_request(req)
        finally:
            metrics.route_timer(req.operation, prefix).since(routed)
        if resp is None:
            return None
        return self.complete(req, resp, route, entry, last_use)

    def authorize(self, req: Request, entry: TokenEntry, needs_sudo: bool) -> ACLResult:
        """The ACL check on the full path (with sudo when the path is one of the backend's root paths)."""
        acl = acl_for(self.policies, self.router, entry)
        result = acl.allow_operation(
            OPERATION_TEXT[req.operation], req.full_path, req.data, req.wrap_ttl, needs_sudo
        )
        if not result.allowed:
            raise PermissionDenied(acl=True)
        req.is_root = bool(result.is_root)
        req.has_sudo = bool(result.root_privs or result.is_root)
        return result

    def login(
        self,
        req: Request,
        route: Route,
        backend: Backend,
        handle: Callable[[Request], Response | None] | None = None,
    ) -> Response | None:
        """An unauthenticated request, with user lockout around it when it is a login; ``handle``
        serves it (core/prepared.py's lane), else the backend's dispatch."""
        if handle is None:
            handle = backend.handle_request
        look_ahead = backend.login_alias
        alias = look_ahead(req) if look_ahead is not None else None
        settings = self.lockout.settings(route.entry, backend) if alias else None
        if settings is None or alias is None:
            return handle(req)
        counted = self.lockout.check(route.entry, alias, settings)
        try:
            resp = handle(req)
        except InvalidCredentials:
            self.lockout.failed(route.entry, alias, settings)
            raise
        if counted and resp is not None and resp.auth is not None:
            self.lockout.succeeded(route.entry, alias)  # only then a write (a worker hands it over)
        return resp

    def complete(
        self, req: Request, resp: Response, route: Route, entry: TokenEntry | None, last_use: bool
    ) -> Response:
        """A login's token, a secret's lease, and wrapping when asked for."""
        if resp.auth is not None and not resp.auth.client_token and route.backend.kind == "credential":
            issue_login_token(self.host, req, route.entry, resp)
        if resp.secret is not None and not resp.secret.lease_id:
            self.leases.register(req, resp, route.entry, entry, last_use)
        if req.wrap_ttl or (resp.wrap_info is not None and not resp.wrap_info.token):
            # X-Vault-Wrap-TTL, or a handler asking to be wrapped (sys/wrapping/rewrap).
            return wrap_response(self.host, req, resp, route.backend.wrapped_accessor_field)
        return resp

    def spend_last_use(self, entry: TokenEntry) -> None:
        try:
            self.tokens.revoke_tree(entry)
        except Exception:
            log.exception("revoking a used-up token failed")

    def refuse_unrouted(self, req: Request, full_path: str) -> None:
        """Vault checks the token (and spends a use) before routing: only a caller allowed there learns of the 404.

        No token or a bad one is 403 ``permission denied``, a token whose policies do not reach the
        path the ACL's 403 (e.g. ``bao login -method=userpass`` with no such mount).
        """
        entry = resolve_caller(self.tokens, req.client_token, req.remote_addr)
        if entry is None:
            raise PermissionDenied()
        acl = acl_for(self.policies, self.router, entry)
        result = acl.allow_operation(OPERATION_TEXT[req.operation], full_path, req.data, req.wrap_ttl, False)
        if not result.allowed:
            raise PermissionDenied(acl=True)
        if self.tokens.use(entry):
            self.tokens.revoke_tree(entry)


def enter_mount(
    req: Request, route: Route, prefix: str, rel: str, entry: TokenEntry | None, unauth: bool
) -> None:
    """The request as its backend sees it: relative to the mount (``prefix``, the route's), with
    the mount's storage."""
    req.path = rel
    req.mount_point = prefix
    req.mount_type = route.entry.type
    req.mount_accessor = route.entry.accessor
    req.mount_uuid = route.entry.uuid
    req.storage = route.storage
    req.token_entry = entry
    req.unauthenticated = unauth

"""Prepared routes: the common shape of a hot request, served without the generic pipeline's objects.

A batch-token creation (``auth/token/create`` and ``create-orphan`` with ``type=batch``) walks the
generic pipeline (pipeline.py) through a ``Request``, the framework's routing, a ``FieldData``, the
handler and the ``Response`` envelope. Here the same stages run for the common shape alone, on the
parsed body and the resolved parent entry: the caller's token, the ACL, the creation itself
(``tokens/issue.py``'s ``mint_created``, shared with the generic handler) and the envelope
(written at once, held to ``render_logical``'s bytes by tests/core/test_prepared_routes.py), with
the same timers.

A plain read of a KV v1 mount (a GET without query; ``Backend.prepared_read``, declared by the
backend) runs the same way: route, special paths, the caller (a batch token as ``lookup`` opens it,
a service token's shared entry), the ACL, the backend's own read function, ``render_logical``.

A login to an auth method's path that the backend declares prepared (``Backend.prepared_login``:
AppRole's ``login``; a JWT or cert login plugs in the same way) runs the pipeline's stages for an
unauthenticated request on a ``Request`` built here: the mount's special paths, user lockout
around the handler (``Pipeline.login``, shared), the backend's handler given the body's strings
without the framework's dispatch or a ``FieldData``, the login's token (``Pipeline.complete``,
shared), the timers of ``Core.handle_request`` for a login, ``render_logical``. It leaves to the
generic path a request with a token (the caller is resolved and audited there), an audit device,
a field the declaration does not name, a value that is no string (null, a number: converted or
refused by the framework).

Anything unusual takes the generic path instead, decided before anything is counted or written:
an audit device (its records need the ``Request``), a DR secondary, a field that is unknown, null
or needs converting, a type other than batch, a caller that is missing, refused, limited-use or a
batch token, a route that is not the token store's, a special path. Errors the creation itself
raises (a bad TTL, policies the parent lacks, ...) come from the shared code and are rendered by
the caller as the generic path renders them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar

from ..framework import Operation, Request, Response
from ..framework.backend import PreparedLogin
from ..framework.envelope import render_logical
from ..framework.logical import OP_READ, OP_UPDATE
from ..gocompat.json import go_json
from ..routing.router import Route, Router
from ..storage.tap import ForwardToPrimary
from ..telemetry import metrics
from ..tokens.caller import cidr_allows, resolve_caller
from ..tokens.common import identity_policies, policy_warnings
from ..tokens.entry import BATCH, TokenEntry, is_batch_id
from ..tokens.host import TokenHost
from ..tokens.issue import mint_created, plain_create_args
from ..tokens.policies import remove_duplicates
from .access import acl_for
from .pipeline import PRECHECKED, Pipeline, enter_mount

# The prepared updates: full path -> whether the token is an orphan.
TOKEN_CREATE_PATHS = {"auth/token/create": False, "auth/token/create-orphan": True}
_ONLY_STR = frozenset((str,))
_UPDATE = "update"
_READ = "read"
_T = TypeVar("_T")
# A mount's route and the login lane its backend declares (``declared_login``'s answer).
DeclaredLogin = tuple[Route, PreparedLogin]


@dataclass(slots=True)
class PreparedRoutes:
    """The prepared routes of one unsealed core, over its pipeline's parts."""

    pipeline: Pipeline

    def update(
        self, full_path: str, token: str, body: dict[str, Any], remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """A POST/PUT without query, wrapping or namespace headers to ``full_path`` with ``body``
        (parsed): the rendered answer, or None when the generic path must serve it. Raises what
        the route itself raises (``VaultError``: rendered by the caller as the generic path's)."""
        orphan = TOKEN_CREATE_PATHS.get(full_path)
        if orphan is None:
            return self.login(full_path, token, body, remote_addr, request_id)
        return self.create_batch_token(full_path, token, body, remote_addr, request_id, orphan)

    def login(
        self, full_path: str, token: str, body: dict[str, Any], remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """A login to an auth method's path that the backend declares prepared
        (``Backend.prepared_login``, AppRole's ``login``): ``login_to`` its lane. None (the
        generic path) for a token given or a path no backend declares."""
        if token:
            return None
        found = declared_login(self.pipeline.router, full_path)
        return None if found is None else self.login_to(found, full_path, body, remote_addr, request_id)

    def login_to(
        self, found: DeclaredLogin, full_path: str, body: dict[str, Any], remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """A login without a token to the declared lane ``found`` (``declared_login``'s answer
        for ``full_path``; the App looks it up before parsing the body): the pipeline's stages
        for an unauthenticated request (user lockout around the handler, the login's token, the
        timers) on a Request built here, the backend's handler called without the framework's
        dispatch. None (the generic path) for an audit device, a body not of the declared shape
        (an unknown field, a value that is no string)."""
        start = perf_counter()
        p = self.pipeline
        if p.audit is not None and p.audit.active:
            return None
        route, declared = found
        backend = route.backend
        prefix = route.entry.route_prefix
        # Declared fields only, every value a string (the types gathered in C: no generator).
        if not body.keys() <= declared.fields or not set(map(type, body.values())) <= _ONLY_STR:
            return None
        if p.special.flags(route, full_path, declared.path) != (True, False):
            return None
        req = Request(OP_UPDATE, full_path, body, remote_addr=remote_addr, request_id=request_id)
        req.full_path = full_path
        enter_mount(req, route, prefix, declared.path, None, True)
        handler = declared.handler
        try:
            routed = perf_counter()
            try:
                resp = p.login(req, route, backend, lambda r: handler(r, body))
            finally:
                metrics.route_timer(OP_UPDATE, prefix).since(routed)
            if resp is not None:
                resp = p.complete(req, resp, route, None, False)
        except ForwardToPrimary as forward:  # as Pipeline.run: the primary serves it
            forward.entry = None
            raise
        finally:
            metrics.HANDLE_LOGIN_REQUEST.since(start)  # Core.handle_request's, for a login
        if resp is not None:
            remembered = login_envelope(resp, full_path, request_id, route.entry.type)
            if remembered is not None:
                return 200, remembered
        return render_logical(resp, OP_UPDATE, full_path, request_id, route.entry.type)

    def create_batch_token(
        self,
        full_path: str,
        token: str,
        body: dict[str, Any],
        remote_addr: str,
        request_id: str,
        orphan: bool,
    ) -> tuple[int, bytes | None] | None:
        """auth/token/create (or create-orphan) of a batch token, as the generic path answers it."""
        start = perf_counter()
        p = self.pipeline
        if p.audit is not None and p.audit.active:
            return None
        if body.get("type") != BATCH:
            return None
        args = plain_create_args(body)
        if args is None:
            return None
        route = p.router.match(full_path)
        if route is None or route.backend.backend_type != "token":
            return None
        prefix = route.entry.route_prefix
        rel = full_path[len(prefix) :] if full_path.startswith(prefix) else ""
        if p.special.flags(route, full_path, rel) != (False, False):
            return None
        # Not _caller: a batch token cannot create (the generic path refuses it), and peek
        # answers for service tokens only.
        parent = p.tokens.peek(token)
        if parent is None or parent.num_uses != 0 or not cidr_allows(parent, remote_addr):
            return None
        result = acl_for(p.policies, p.router, parent).allow_operation(_UPDATE, full_path, body, 0, False)
        if not result.allowed:
            return None
        # tokens/common.py is_sudo with the request's ACL answer: a second check with sudo
        # required allows exactly when this one granted sudo.
        sudo = bool(result.is_root or result.root_privs) or parent.is_root()
        host, path = p.host, "auth/token/" + rel
        minted = self._timed(
            start,
            OP_UPDATE,
            prefix,
            parent,
            mint_created,
            host,
            args,
            parent,
            sudo,
            path,
            prefix,
            orphan,
            None,
        )
        entry, warnings = minted[0], minted[3]
        policy_warnings(host, entry.policies, warnings)
        return 200, batch_created_envelope(host, entry, warnings, request_id, route.entry.type)

    def read(
        self, full_path: str, token: str, remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """A GET without query, wrapping or namespace headers of ``full_path``: the rendered
        answer when the mount's backend declares a prepared read (KV v1: ``Backend.prepared_read``),
        else None (the generic path)."""
        start = perf_counter()
        p = self.pipeline
        if p.audit is not None and p.audit.active:
            return None
        route = p.router.match(full_path)
        if route is None or full_path.startswith(PRECHECKED):
            return None
        reader = route.backend.prepared_read
        prefix = route.entry.route_prefix
        rel = full_path[len(prefix) :] if full_path.startswith(prefix) else ""
        # The backend's one path is a catch-all ``.*``, which stops at a line break.
        if reader is None or not rel or "\n" in rel:
            return None
        if p.special.flags(route, full_path, rel) != (False, False):
            return None
        entry = self._caller(token, remote_addr)
        if (
            entry is None
            or not acl_for(p.policies, p.router, entry).allow_operation(_READ, full_path, {}).allowed
        ):
            return None
        resp = self._timed(start, OP_READ, prefix, entry, reader, route.storage, rel, prefix)
        return render_logical(resp, OP_READ, full_path, request_id, route.entry.type)

    def _caller(self, token: str, remote_addr: str) -> TokenEntry | None:
        """The caller's entry, only read here: a service token's shared one (tokens/store.py
        peek), a batch token's as ``lookup`` opens it. None, for the generic path to judge, when
        there is none or it is refused, and for a limited-use token (a use to count)."""
        tokens = self.pipeline.tokens
        if is_batch_id(token):
            entry = resolve_caller(tokens, token, remote_addr)
        else:
            entry = tokens.peek(token)
            if entry is not None and not cidr_allows(entry, remote_addr):
                return None
        return entry if entry is not None and entry.num_uses == 0 else None

    def _timed(
        self,
        start: float,
        operation: Operation,
        prefix: str,
        entry: TokenEntry,
        work: Callable[..., _T],
        *args: Any,
    ) -> _T:
        """``work(*args)`` as the pipeline runs a backend's handler: timed as the route's handler
        and, from ``start``, as the core's request (vault.core.handle_request)."""
        try:
            routed = perf_counter()
            try:
                return work(*args)
            finally:
                metrics.route_timer(operation, prefix).since(routed)
        except ForwardToPrimary as forward:  # as Pipeline.run: the primary serves it for this entry
            forward.entry = entry
            raise
        finally:
            metrics.HANDLE_REQUEST.since(start)


def declared_login(router: Router, full_path: str) -> DeclaredLogin | None:
    """The route and prepared login (``Backend.prepared_login``) that serve ``full_path``, a
    mount's prefix and the login's path (one segment, e.g. ``auth/approle/login``); None for any
    other path. One look-up of the mount by its prefix: mounts never nest, so the route found is
    the one ``Router.match`` answers."""
    cut = full_path.rfind("/") + 1
    route = router.get(full_path[:cut])
    if route is None:
        return None
    declared = route.backend.prepared_login
    if declared is None or declared.path != full_path[cut:]:
        return None
    return route, declared


def batch_created_envelope(
    host: TokenHost, entry: TokenEntry, warnings: list[str], request_id: str, mount_type: str
) -> bytes:
    """The envelope ``render_logical`` writes for a new batch token's response, written at once:
    ``auth_block`` (tokens/common.py) and ``auth_json``/``envelope`` (framework/envelope.py) for
    an entry of type batch (not renewable, no lease, no data, no wrapping). The prepared route's
    test holds the two to the same bytes.

    Creations in a row (one parent, one body) differ only in the request ID and the token: the
    bytes around those two are remembered (``_ENVELOPES``), keyed by everything else the envelope
    shows, and the two are put in between. A batch token (``hvb.`` and base64url, as
    ``tokens/batch.py`` writes it) is written by JSON as it is; so is a request ID of the
    characters ``_VERBATIM`` allows (a UUID), the only ones put in between."""
    ident = identity_policies(host, entry.entity_id) if entry.entity_id else []
    meta = entry.meta
    try:
        key = (
            tuple(entry.policies),
            tuple(ident),
            None if meta is None else tuple(meta.items()),
            entry.accessor,
            entry.ttl,
            entry.entity_id,
            entry.type,
            entry.parent == "",
            entry.num_uses,
            tuple(warnings),
            mount_type,
        )
        parts = _ENVELOPES.get(key)
    except TypeError:  # an unhashable value: written in full
        return _envelope_bytes(entry, ident, warnings, request_id, mount_type)
    if parts is None or entry.type != BATCH or _VERBATIM.fullmatch(request_id) is None:
        out = _envelope_bytes(entry, ident, warnings, request_id, mount_type)
        if parts is None:
            _remember_envelope(key, out, request_id, entry.id, meta)
        return out
    return _spliced(parts, request_id, entry.id)


def login_envelope(resp: Response, path: str, request_id: str, mount_type: str) -> bytes | None:
    """``render_logical``'s body for a prepared login's plain answer (an ``auth``, warnings, nothing
    else) that carries a batch token, with the bytes around the request ID and the token
    remembered as ``batch_created_envelope`` does; None for any other answer (rendered in full)."""
    auth = resp.auth
    if (
        auth is None
        or auth.token_type != BATCH
        or not auth.client_token.startswith("hvb.")
        or resp.data is not None
        or resp.secret is not None
        or resp.wrap_info is not None
        or resp.raw_body is not None
        or resp.status is not None
        or resp.lease_duration_override is not None
        or _VERBATIM.fullmatch(request_id) is None
    ):
        return None
    meta = auth.metadata
    try:
        key = (
            _LOGIN,
            tuple(auth.policies),
            tuple(auth.token_policies),
            tuple(auth.identity_policies),
            None if meta is None else tuple(meta.items()),
            auth.accessor,
            auth.lease_duration,
            auth.renewable,
            auth.entity_id,
            auth.orphan,
            auth.num_uses,
            tuple(resp.warnings),
            mount_type,
        )
        parts = _ENVELOPES.get(key)
    except TypeError:  # an unhashable value: written in full
        return None
    if parts is None:
        out = render_logical(resp, OP_UPDATE, path, request_id, mount_type)[1]
        if out is not None:
            _remember_envelope(key, out, request_id, auth.client_token, meta)
        return out
    return _spliced(parts, request_id, auth.client_token)


# The envelope's bytes around the request ID and the token, by what else it shows (the
# policies, metadata and warnings a token carries, never a token ID or a request ID), for
# creations and (keys starting with ``_LOGIN``) logins. Bounded: cleared when full, as
# tokens/batch_codec.py's memo.
ENVELOPE_MEMO_SIZE = 1024
_ENVELOPES: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
# Text JSON writes as it is (no escape, go_json's included): a request ID (a UUID) and a batch
# token (``hvb.`` and base64url) are made of these characters alone.
_VERBATIM = re.compile("[0-9A-Za-z._-]*")
_ID_OPEN = b'{"request_id":"'
_LOGIN = "login"
_TOKEN_OPEN = b'"auth":{"client_token":"'


def _remember_envelope(
    key: tuple[Any, ...], out: bytes, request_id: str, token_id: str, meta: dict[str, str] | None
) -> None:
    """Keep ``out``'s bytes around its request ID and token under ``key`` when both were written
    as they are. The token is the first string after the warnings, which JSON writes with every
    quote escaped: the first ``"auth":{"client_token":"`` is the envelope's own. Metadata of
    strings only: ``1`` and ``True`` are equal keys but different JSON, and no string equals
    either, so a key found always has the metadata of strings it was written with."""
    if _VERBATIM.fullmatch(request_id) is None or _VERBATIM.fullmatch(token_id) is None:
        return
    if meta and not set(map(type, meta.values())) <= _ONLY_STR:
        return
    rid, token = request_id.encode(), token_id.encode()
    at = out.find(_TOKEN_OPEN) + len(_TOKEN_OPEN)
    if not out.startswith(_ID_OPEN + rid + b'"') or out[at : at + len(token) + 1] != token + b'"':
        return
    if len(_ENVELOPES) >= ENVELOPE_MEMO_SIZE:
        _ENVELOPES.clear()
    _ENVELOPES[key] = (out[len(_ID_OPEN) + len(rid) : at], out[at + len(token) :])


def _spliced(parts: tuple[bytes, bytes], request_id: str, token_id: str) -> bytes:
    """The remembered envelope with this answer's request ID and token put in."""
    return b"".join((_ID_OPEN, request_id.encode(), parts[0], token_id.encode(), parts[1]))


def _envelope_bytes(
    entry: TokenEntry, ident: list[str], warnings: list[str], request_id: str, mount_type: str
) -> bytes:
    """``batch_created_envelope`` written in full (tests hold the remembered form to it)."""
    token_policies = list(entry.policies)
    auth: dict[str, Any] = {
        "client_token": entry.id,
        "accessor": entry.accessor,
        "policies": remove_duplicates(token_policies + ident),
        "token_policies": token_policies,
        "metadata": entry.meta,
        "lease_duration": entry.ttl,
        "renewable": False,
        "entity_id": entry.entity_id,
        "token_type": entry.type,
        "orphan": entry.parent == "",
        "mfa_requirement": None,
        "num_uses": entry.num_uses,
    }
    if ident:
        auth["identity_policies"] = ident
    if not token_policies:
        del auth["token_policies"]
    return go_json(
        {
            "request_id": request_id,
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": None,
            "wrap_info": None,
            "warnings": warnings or None,
            "auth": auth,
            "mount_type": mount_type,
        }
    )

"""Prepared routes: the common shape of a hot request, served without the generic pipeline's objects.

A batch-token creation (``auth/token/create`` and ``create-orphan`` with ``type=batch``) walks the
generic pipeline (pipeline.py) through a ``Request``, the framework's routing, a ``FieldData``, the
handler and the ``Response`` envelope. Here the same stages run for the common shape alone, on the
parsed body and the resolved parent entry: the caller's token, the ACL, the creation itself
(``tokens/issue.py``'s ``issue_created``, shared with the generic handler) and the envelope
(``framework/envelope.py``'s ``render_logical``, shared too), with the same timers.

Anything unusual takes the generic path instead, decided before anything is counted or written:
an audit device (its records need the ``Request``), a DR secondary, a field that is unknown, null
or needs converting, a type other than batch, a caller that is missing, refused, limited-use or a
batch token, a route that is not the token store's, a special path. Errors the creation itself
raises (a bad TTL, policies the parent lacks, ...) come from the shared code and are rendered by
the caller as the generic path renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any

from ..framework import Operation
from ..framework.envelope import render_logical
from ..storage.tap import ForwardToPrimary
from ..telemetry import metrics
from ..tokens.caller import resolve_caller
from ..tokens.entry import BATCH
from ..tokens.issue import issue_created, plain_create_args
from .access import acl_for
from .pipeline import Pipeline

# The prepared updates: full path -> whether the token is an orphan.
TOKEN_CREATE_PATHS = {"auth/token/create": False, "auth/token/create-orphan": True}
_UPDATE = "update"


@dataclass(slots=True)
class PreparedRoutes:
    """The prepared routes of one unsealed core, over its pipeline's parts."""

    pipeline: Pipeline

    def update(
        self, full_path: str, token: str, body: dict[str, Any], remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """A POST/PUT without query, wrapping or namespace headers to ``full_path`` with ``body``
        (parsed): the rendered answer, or None when the generic path must serve it."""
        orphan = TOKEN_CREATE_PATHS.get(full_path)
        if orphan is None:
            return None
        return self.create_batch_token(full_path, token, body, remote_addr, request_id, orphan=orphan)

    def create_batch_token(
        self,
        full_path: str,
        token: str,
        body: dict[str, Any],
        remote_addr: str,
        request_id: str,
        *,
        orphan: bool,
    ) -> tuple[int, bytes | None] | None:
        """auth/token/create (or create-orphan) of a batch token, as the generic path answers it.

        Raises what the shared creation raises (``VaultError``: rendered by the caller)."""
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
        parent = resolve_caller(p.tokens, token, remote_addr)
        # Limited-use callers have a use to count (and cannot create children): generic path.
        if parent is None or parent.num_uses != 0 or parent.type == BATCH:
            return None
        acl = acl_for(p.policies, p.router, parent)
        result = acl.allow_operation(_UPDATE, full_path, body, 0, False)
        if not result.allowed:
            return None
        # tokens/common.py is_sudo with the request's ACL answer: a second check with sudo
        # required allows exactly when this one granted sudo.
        sudo = bool(result.is_root or result.root_privs) or parent.is_root()
        try:
            routed = perf_counter()
            try:
                resp = issue_created(
                    p.host,
                    args,
                    parent,
                    sudo,
                    path="auth/token/" + rel,
                    mount_point=prefix,
                    orphan=orphan,
                    role=None,
                )
            finally:
                metrics.route_timer(Operation.UPDATE, prefix).since(routed)
            return render_logical(resp, Operation.UPDATE, full_path, request_id, route.entry.type)
        except ForwardToPrimary as forward:  # as Pipeline.run: the primary serves it for this entry
            forward.entry = parent
            raise
        finally:
            metrics.HANDLE_REQUEST.since(start)

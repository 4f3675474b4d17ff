"""The HTTP face of ``tessera server -recovery``: three routes and nothing else, as OpenBao's.

Recovery mode opens the storage without mounts, tokens or leases so an operator can repair it.
Served: ``sys/generate-recovery-token/attempt|update`` (the last unseal key share unseals the barrier
and mints an ``hvr.`` token kept only in memory) and ``sys/raw/*`` with that token in the
``X-Vault-Token`` header. Every other path is Go's plain-text ``404 page not found``; even
``sys/seal-status`` and ``sys/health`` do not exist in this mode.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson

from ..core.rootgen import generation
from ..framework import Backend, Operation, Response, VaultError
from ..framework.body import parse_query
from ..framework.logical import RawRequest
from ..system.ceremonies import recovery_paths
from ..system.raw import raw_path
from ..system.rawhttp import answer_raw, raw_table
from .app import App, HTTPError, _clean_path, _redirect
from .render import error_body, render_error, render_logical

log = logging.getLogger("tessera.recovery")

_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_NOT_FOUND = (
    404,
    b"404 page not found\n",
    [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff")],
)


class RecoveryApp(App):
    """An App whose routing is the recovery-mode mux; the Core stays sealed until a token exists."""

    def __init__(self, core: Any, **kwargs: Any) -> None:
        super().__init__(core, **kwargs)
        # OpenBao's raw backend is called directly here, without the router's existence check:
        # a write is always an update, so only keys that already exist can be rewritten.
        self.raw_backend = Backend(paths=[raw_path(core, existence=False)], backend_type="system")
        self.raw_paths = raw_table(recovery_paths())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            status, body, headers = await self._route(scope, receive)
        except HTTPError as exc:
            status, body, headers = exc.status, exc.body, [_JSON, *exc.headers]
        except Exception:
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            status, body, headers = 500, error_body(["internal error"]), [_JSON]
        out = [_NO_STORE, *headers]
        if body is not None and scope["method"] != "HEAD":
            out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send(
            {"type": "http.response.body", "body": b"" if body is None or scope["method"] == "HEAD" else body}
        )

    async def _route(
        self, scope: dict[str, Any], receive: Any
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        raw_path_: str = scope["path"]
        method: str = scope["method"].upper()
        query_string: bytes = scope.get("query_string", b"")
        clean = _clean_path(raw_path_)
        if clean != raw_path_:
            return _redirect(clean, query_string)
        if raw_path_ == "/v1/sys/raw":
            return _redirect("/v1/sys/raw/", query_string)
        path = raw_path_[4:] if raw_path_.startswith("/v1/") else ""
        declared = self.raw_paths.get(path)
        if declared is None and not path.startswith("sys/raw/"):
            return _NOT_FOUND
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body = await self._read_body(receive)
        query = parse_query(query_string)
        try:
            if declared is not None:
                answered = await answer_raw(self, declared, RawRequest(method, query, body, headers))
                assert answered is not None  # the ceremonies always answer
                status, out = answered.status, answered.body
            else:
                client = scope.get("client") or ("127.0.0.1", 0)
                status, out = await self._raw(method, path, query, body, headers, client[0])
        except VaultError as exc:
            status, out = render_error(exc)
        return status, out, [_JSON]

    async def _raw(
        self, method: str, path: str, query: dict[str, Any], body: bytes, headers: dict[str, str], remote: str
    ) -> tuple[int, bytes | None]:
        """handleLogicalRecovery: the logical request first, then the recovery token (header only)."""
        token = headers.get("x-vault-token", "")
        req = self._build_request(method, path, query, body, headers, token, remote)
        if not generation(self.core).check_recovery_token(token):
            return 403, orjson.dumps({"errors": []})
        full_path = req.path
        req.full_path = full_path
        req.path = full_path[len("sys/") :]
        req.mount_point = "sys/"
        req.mount_type = "system"
        req.storage = self.core.barrier
        req.request_id = req.request_id or str(uuid.uuid4())
        try:
            resp: Response | None = await self.run(self.raw_backend.handle_request, req)
        except VaultError as exc:
            # The backend answers directly, not through the core, so no error is multierror-wrapped.
            return exc.status, error_body([exc.message] if exc.message else [])
        status, out = render_logical(resp, req.operation, full_path, req.request_id, "")
        if status == 204 and req.operation != Operation.HELP:
            # OpenBao's recovery handler answers a body-less success as 200 "null".
            return 200, b"null"
        return status, out

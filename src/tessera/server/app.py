"""The ASGI application: HTTP in, a logical Request to the Core, Vault's JSON out."""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import struct
import threading
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import orjson
from mypy_extensions import mypyc_attr

from ..asgiutil import answer_lifespan
from ..asgiutil import read_body as read_asgi_body
from ..cluster.interfaces import NodeRole
from ..core.core import Core
from ..core.prepared import TOKEN_CREATE_PATHS, declared_login
from ..framework import (
    CodedError,
    ErrorResponse,
    Operation,
    Path,
    PermissionDenied,
    Request,
    Response,
    SealedError,
    VaultError,
)
from ..framework.body import (
    MAX_REQUEST_SIZE,
    check_patch_media_type,
    list_scan_flags,
    parse_body,
    parse_query,
)
from ..framework.logical import RawRequest, RawResponse
from ..gocompat.durations import DurationError, parse_duration_second
from ..replication.forwarding import ForwardedAnswer, ForwardedRequest
from ..runtime.gate import RunGate
from ..storage.base import StorageUnavailable, deferred_acknowledgement
from ..storage.sqlite_reader import StandbyWrite
from ..storage.tap import ForwardToPrimary
from ..system.backend import raw_endpoints
from ..system.ceremonies import hidden_endpoint
from ..system.rawhttp import answer_raw
from ..telemetry import metrics
from ..ui.assets import NOT_FOUND as UI_NOT_FOUND
from ..ui.assets import UIAssets
from .dispatch import Dispatcher, Runner
from .forward import cluster_client, forwarded_client
from .intake import ANSWERED, ReadWatch, body_expected, read_body
from .peer import PeerTLS
from .quota_http import check_http as check_quota
from .render import BASE_HEADERS, BASE_HEADERS_STR, error_body, render_error, render_logical

log = logging.getLogger("tessera.http")

PREPARED_UPDATES = frozenset(TOKEN_CREATE_PATHS)  # paths core/prepared.py may answer itself

_METHOD_OPS = {
    "GET": Operation.READ,
    "POST": Operation.UPDATE,
    "PUT": Operation.UPDATE,
    "DELETE": Operation.DELETE,
    "LIST": Operation.LIST,
    "PATCH": Operation.PATCH,
    "SCAN": Operation.SCAN,
}


class HTTPError(Exception):
    def __init__(
        self, status: int, body: bytes | None, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed outside the compiled modules
class App:
    """One instance per server; ``core`` does the work, this class only translates HTTP."""

    def __init__(
        self,
        core: Core,
        *,
        max_request_size: int = MAX_REQUEST_SIZE,
        workers: int = 32,
        inline: bool = False,
    ) -> None:
        self.core = core
        self.max_request_size = max_request_size
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tessera-req")
        self.gate: RunGate | None = None  # set by the threaded listener (see runtime/gate.py)
        self.dispatcher: Dispatcher | None = None  # likewise (see server/dispatch.py)
        self.intake: ReadWatch | None = None  # likewise: bounds body reads (server/intake.py)
        self.runner: Runner | None = None  # likewise: serves complete requests (server/dispatch.py)
        self.slots: threading.BoundedSemaphore | None = None  # requests served at once, no runner
        # Requests with a body go to the runner even when it is idle (TESSERA_HTTP_BODIES_ON_RUNNER=1).
        self.bodies_on_runner = False
        # In a worker process: its sync with the active process (cluster/standby.py).
        self.standby: NodeRole | None = None
        # On the active process's internal listener: the secret forwarded requests carry.
        self.forward_secret = ""
        # HA's cluster listener (server/cluster_listener.py): requests standby nodes forward.
        self.cluster_listener = False
        self.ui: UIAssets | None = None  # the web UI's files, when the configuration turns it on
        # The system backend's raw paths (sys/health, sys/init, ...), answered before the pipeline.
        self.raw_paths: dict[str, Path] = raw_endpoints(core)
        # Key-ceremony paths this listener hides (system.ceremonies.refused_key_endpoints).
        self.refused_raw: frozenset[str] = frozenset()
        # The listener's telemetry { unauthenticated_metrics_access = true }: sys/metrics needs no token.
        self.unauthenticated_metrics_access = False
        self.run: Callable[..., Coroutine[Any, Any, Any]] = self._run_executor
        if inline:
            self.set_inline()
        if core.replication.serve_forwarded is None:  # a primary serves its secondaries' writes here
            core.replication.serve_forwarded = self.serve_forwarded

    def set_inline(self) -> None:
        """Served from the server's own worker threads (``serve_threaded``): blocking work runs
        right there, with no hop to the executor and back through the event loop."""
        self.run = _run_inline

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body, headers = await self._handle(scope, receive)
        except HTTPError as exc:
            status, body, headers = exc.status, exc.body, exc.headers
        except StorageUnavailable as unavailable:
            status, body, headers = storage_unavailable(unavailable, scope.get("method"), scope.get("path"))
        except Exception:
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            status, body, headers = 500, error_body(["internal error"]), []
        durable: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        loop = durable.get_loop()
        held = self.core.physical.after_durable(
            lambda err: loop.call_soon_threadsafe(durable.set_result, err)  # type: ignore[arg-type]
        )
        if held and await durable is not None:  # never answer from state a crash could take back
            status, body, headers = 500, error_body(["internal error"]), []
        out_headers = _base_headers(headers) + headers
        if body is not None and scope["method"] != "HEAD":
            out_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send(
            {"type": "http.response.body", "body": b"" if body is None or scope["method"] == "HEAD" else body}
        )

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await answer_lifespan(receive, send)

    async def _read_body(self, receive: Any) -> bytes:
        body = await read_asgi_body(receive, self.max_request_size)
        if body is None:
            raise HTTPError(413, error_body(["http: request body too large"]))
        return body

    async def _run_executor(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    async def _handle(
        self, scope: dict[str, Any], receive: Any
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client = scope.get("client")
        remote_addr = client[0] if client else "127.0.0.1"
        method, query_string, read = scope["method"].upper(), scope.get("query_string", b""), []

        async def read_body() -> bytes:
            read.append(await self._read_body(receive))
            return read[-1]

        try:
            return await self._serve(
                method,
                scope["path"],
                query_string,
                headers,
                read_body,
                remote_addr,
                scope.get("scheme") == "https",
            )
        except ForwardToPrimary as forward:  # a performance secondary's write: its primary serves it
            query, body = query_string.decode("latin-1"), read[-1] if read else b""
            request = ForwardedRequest(
                method, scope["path"], query, headers, body, remote_addr, forward.entry
            )
            return await self.run(self._to_primary, request)  # type: ignore[no-any-return]

    def serve_threaded(self, proto: Any, scope: dict[str, Any]) -> int:
        """One request from granian's WSGI worker, on one of its threads (see ``server/listen.py``).

        ``scope`` is the CGI-style environ granian builds; the answer goes out through
        ``proto.response_bytes``. Same pipeline as ``__call__``, minus the event loop: the
        request never changes threads, which is most of what an ASGI request costs here. With a
        dispatcher (``server/dispatch.py``) this thread is the runner, and a request of a route
        that runs long is handed to the side pool, which answers it later. A request with a body
        is read here first (``server/intake.py``): with a runner, this is one of many intake threads
        and the complete request is handed to the runner.
        """
        method = scope["REQUEST_METHOD"].upper()
        raw_path = scope["PATH_INFO"]
        if not raw_path.isascii():  # WSGI strings are bytes as Latin-1; ASGI decodes UTF-8
            raw_path = raw_path.encode("latin-1").decode("utf-8", "replace")
        try:
            headers = cgi_headers(scope)
        except Exception:
            log.exception("unhandled error reading %s %s", method, raw_path)
            proto.response_bytes(500, BASE_HEADERS_STR, error_body(["internal error"]))
            return 500
        remote_addr = scope.get("REMOTE_ADDR") or "127.0.0.1"
        tls = scope.get("wsgi.url_scheme") == "https"
        query_string = scope.get("QUERY_STRING", "").encode("latin-1")
        raw_body: bytes | None = b""
        if body_expected(method, scope):
            # Read here, on one of granian's threads (blocked in Rust if the client is slow), so
            # that the request is complete before it reaches the runner (server/intake.py).
            read = self.intake.read if self.intake is not None else _read_untimed
            body = read(
                proto,
                scope["wsgi.input"],
                scope.get("CONTENT_LENGTH"),
                self.max_request_size,
                http2=scope.get("SERVER_PROTOCOL") == "HTTP/2",
            )
            if body is ANSWERED:
                return 0
            raw_body = body  # type: ignore[assignment]
        args = (proto, method, raw_path, query_string, headers, raw_body, remote_addr, tls)
        runner = self.runner
        # A request whose body was just read runs here when the runner has nothing to do: this
        # thread has the GIL back already, and handing over would cost one more switch. Bodiless
        # requests always go to the runner: run here, under wrk's 16 connections they cost reads
        # ~35% of their throughput (kv1 read 17,999 -> 11,621 req/s, quiet machine). Under a
        # load of writes alone the runner then stays idle and they take turns on granian's
        # threads; ``bodies_on_runner`` sends them to the runner too (docs/performance.md, round four).
        if runner is not None and (not raw_body or self.bodies_on_runner or not runner.idle()):
            runner.submit(self._route, args)
            return 0  # answered by the runner
        slots = self.slots
        if slots is None:
            return self._route(*args)
        with slots:
            return self._route(*args)

    def _route(self, *args: Any) -> int:
        """A complete request to whoever answers it: the active process, the pool or this thread.
        ``args`` are ``_answer_here``'s: (proto, method, raw_path, query_string, headers, raw_body,
        remote_addr, tls)."""
        if self.forward_secret:
            # The internal listener: only for requests a worker forwards (plain HTTP on loopback,
            # so it must not become a way around the public listener's TLS or client certificates).
            client = forwarded_client(args[4], self.forward_secret)
            if client is None:
                args[0].response_bytes(403, BASE_HEADERS_STR, error_body(["permission denied"]))
                return 403
            args = (*args[:6], *client)
        elif self.cluster_listener:
            # From a standby node (its cluster certificate proved it): who its client is.
            found = cluster_client(args[4])
            if found is None:
                args[0].response_bytes(403, BASE_HEADERS_STR, error_body(["permission denied"]))
                return 403
            metrics.HA_CLUSTER_REQUESTS.inc()
            args = (*args[:6], *found)
        method, raw_path = args[1], args[2]
        standby = self.standby
        if standby is not None and not standby.ready(method, raw_path):
            if self.refused_raw and raw_path[4:] in self.refused_raw:
                return self._answer(*args)  # hidden here: answered here, not by the active process
            return self._hand_over(args)
        dispatcher = self.dispatcher
        # Without a worker role ``_answer`` is ``_answer_here``: one call less on every request.
        answer = self._answer_here if standby is None else self._answer
        if dispatcher is None:
            return answer(*args)
        return dispatcher.serve(method, raw_path, answer, args)

    def _hand_over(self, args: tuple[Any, ...]) -> int:
        """A worker's request for the active process: written to it here, answered by the relay."""
        assert self.standby is not None
        return self.standby.forward(args)

    def _answer(self, *args: Any) -> int:
        """``_answer_here``; in a worker process, through its role: a worker rebuilds its state
        when the active process commits, never while a request runs on another thread (intake
        threads, the side pool), which would see it half-built."""
        if self.standby is not None:
            return self.standby.answer(self._answer_here, args)
        return self._answer_here(*args)

    def _answer_here(
        self,
        proto: Any,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: dict[str, str],
        raw_body: bytes | None,
        remote_addr: str,
        tls: bool | PeerTLS,  # the TLS front passes its PeerTLS (truthy)
    ) -> int:
        gate = self.gate
        wrote = False
        forward: ForwardToPrimary | None = None
        try:
            if gate is not None:
                gate.enter()
            with deferred_acknowledgement():  # writes return before their fsync: see below
                answered = self._serve_now(
                    method, raw_path, query_string, headers, raw_body, remote_addr, tls
                )
                if answered is None:
                    answered = _drive(
                        self._serve(
                            method,
                            raw_path,
                            query_string,
                            headers,
                            lambda: _body_or_413(raw_body),
                            remote_addr,
                            tls,
                        )
                    )
                status, body, extra = answered
        except HTTPError as exc:
            status, body, extra = exc.status, exc.body, exc.headers
        except StandbyWrite:  # a worker process's request that must write: see cluster/standby.py
            wrote = True
        except ForwardToPrimary as to_primary:  # a performance secondary's write of replicated data
            forward = to_primary
        except StorageUnavailable as unavailable:
            status, body, extra = storage_unavailable(unavailable, method, raw_path)
        except Exception:
            log.exception("unhandled error serving %s %s", method, raw_path)
            status, body, extra = 500, error_body(["internal error"]), []
        finally:
            if gate is not None:
                gate.leave()
        if forward is not None:  # outside the gate: a round trip to the primary
            query = query_string.decode("latin-1")
            request = ForwardedRequest(
                method, raw_path, query, headers, raw_body or b"", remote_addr, forward.entry
            )
            status, body, extra = self._to_primary(request)
        standby = self.standby
        if standby is not None:
            if wrote:
                standby.wrote(method, raw_path)
                return self._hand_over(
                    (proto, method, raw_path, query_string, headers, raw_body, remote_addr, tls)
                )
            standby.served(method, raw_path)
        out = BASE_HEADERS_STR  # shared, never changed: granian only reads it
        if extra:
            base = _BASE_UNTYPED_STR if _own_content_type(extra) else BASE_HEADERS_STR
            out = base + [(k.decode("latin-1"), v.decode("latin-1")) for k, v in extra]
        payload = b"" if body is None or method == "HEAD" else body

        def send(error: BaseException | None) -> None:
            if error is None:
                proto.response_bytes(status, out, payload)
            else:
                proto.response_bytes(500, BASE_HEADERS_STR, error_body(["internal error"]))

        # The answer leaves once every write made so far is on disk, this request's and those
        # it may have read, sent by the storage's syncer; this thread goes on to the next one.
        if not self.core.physical.after_durable(send):
            send(None)
        return status

    async def _serve(
        self,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: dict[str, str],
        read_body: Any,
        remote_addr: str,
        tls: bool | PeerTLS,  # the TLS front passes its PeerTLS (truthy)
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        """Everything after the transport: ``read_body`` is awaited once, when the body is needed."""
        if not _plain_path(raw_path):
            refused = _refuse_path(raw_path)
            if refused is not None:
                return refused
            # Go's ServeMux answers unclean paths (//, /./, /../) and a few bare subtrees with a redirect.
            clean = _clean_path(raw_path)
            if clean != raw_path:
                return _redirect(clean, query_string)
        if raw_path in ("/", "/ui") or raw_path.startswith("/ui/"):
            return self._ui(raw_path, headers)
        if raw_path == "/v1/sys":
            return _redirect("/v1/sys/", query_string)
        if not raw_path.startswith("/v1/"):
            return 404, error_body([]), []
        path = raw_path[4:]
        extra_headers: list[tuple[bytes, bytes]] = []
        namespace = headers.get("x-vault-namespace", "").strip("/")
        if namespace:
            extra_headers.append((b"x-vault-namespace", headers["x-vault-namespace"].encode()))
            if namespace != "root":
                return 404, error_body(["namespace not found"]), extra_headers
        body = await read_body()
        query = parse_query(query_string) if query_string else {}
        token = _token_from_headers(headers)
        # Rate-limit quotas come first, as Vault's rateLimitQuotaWrapping: before the raw handlers.
        if _quotas_configured(self.core):
            quota = await check_quota(self.core, self.run, method, path, query, body, remote_addr)
            if isinstance(quota, tuple):
                return quota[0], quota[1], extra_headers + quota[2]
            extra_headers += quota
        try:
            if method == "HELP" or (query and _first(query.get("help"))):
                return await self._help(path, headers, token, remote_addr, extra_headers)
            declared = self.raw_paths.get(path)
            if declared is not None:
                answered = await self._answer_raw_path(
                    declared, path, RawRequest(method, query, body, headers, token)
                )
                if answered is not None:  # None: the logical path serves it after all (sys/metrics)
                    # A response's own headers first: its content type is then the first header.
                    return answered.status, answered.body, answered.headers + extra_headers
            if method == "HEAD":
                await self.run(self._head, token)
            return await self.run(  # type: ignore[no-any-return]
                self._logical, method, path, query, body, headers, token, remote_addr, tls, extra_headers
            )
        except VaultError as exc:
            status, out = render_error(exc)
            return status, out, extra_headers

    def _serve_now(
        self,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes | None,
        remote_addr: str,
        tls: bool | PeerTLS,
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]] | None:
        """``_serve`` for the common logical request, run straight through on this thread (no
        coroutine, no executor): a plain /v1/ path that is no raw sys path, a method the core
        serves, no namespace header, no rate-limit quota, no help, a body within the limit.

        None for anything else: ``_serve`` answers it, and its checks come in its order. An update
        of a prepared route's common shape (core/prepared.py) skips the ``Request`` too."""
        if (
            body is None
            or method not in _DIRECT_METHODS
            or raw_path[:4] != "/v1/"  # with the two below, _plain_path spelled out (no calls)
            or "//" in raw_path
            or "/." in raw_path
            or raw_path == "/v1/sys"
            or "x-vault-namespace" in headers
        ):
            return None
        quotas = getattr(self.core, "quotas", None)  # _quotas_configured, spelled out: every request
        if quotas is not None and quotas.quotas:
            return None
        path = raw_path[4:]
        if path in self.raw_paths:
            return None
        query = parse_query(query_string) if query_string else {}
        if query and _first(query.get("help")):
            return None
        token = _token_from_headers(headers)
        try:
            if not query and _WRAP_HEADERS[0] not in headers and _WRAP_HEADERS[1] not in headers:
                if method == "GET":
                    answered = self._prepared_read(path, token, remote_addr)
                else:
                    answered = self._prepared_update(method, path, token, body, headers, remote_addr)
                if answered is not None:
                    return answered[0], answered[1], []
            return self._logical(method, path, query, body, headers, token, remote_addr, tls, [])
        except VaultError as exc:
            status, out = render_error(exc)
            return status, out, []

    def _prepared_read(self, path: str, token: str, remote_addr: str) -> tuple[int, bytes | None] | None:
        """The core's prepared answer to a read (core/prepared.py), or None (the generic path)."""
        return self.core.serve_prepared_read(path, token, remote_addr, new_request_id())

    def _prepared_update(
        self, method: str, path: str, token: str, raw_body: bytes, headers: dict[str, str], remote_addr: str
    ) -> tuple[int, bytes | None] | None:
        """The core's prepared answer to an update (core/prepared.py), or None (the generic path).
        A login's declared lane, found here before the body is parsed, is handed to the core so
        that it is not looked up twice."""
        if method not in _UPDATES:
            return None
        login = None
        if path not in PREPARED_UPDATES:
            if token:
                return None
            login = declared_login(self.core.router, path)
            if login is None:
                return None
        try:
            body = parse_body(raw_body, headers.get("content-type", ""))
        except VaultError:
            return None  # refused by the generic path, in its order
        if login is not None:
            return self.core.serve_prepared_login(login, path, body or {}, remote_addr, new_request_id())
        return self.core.serve_prepared_update(path, token, body or {}, remote_addr, new_request_id())

    def _logical(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        body: bytes,
        headers: dict[str, str],
        token: str,
        remote_addr: str,
        tls: bool | PeerTLS,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        """A logical request built, run through the core and rendered: ``_serve``'s last step."""
        req = self._build_request(method, path, query, body, headers, token, remote_addr)
        req.tls = bool(tls)
        req.peer_certificates = getattr(tls, "peer_certificates", ())
        resp = self._handle_logical(req)
        return _rendered(req, resp, path, extra_headers)

    def serve_forwarded(self, forwarded: ForwardedRequest) -> ForwardedAnswer:
        """On a replication primary: a request one of its performance secondaries could not serve
        (``replication/forwarding.py``), run through the pipeline for the token entry the
        secondary resolved. Raw paths (sys/health, sys/init, ...) describe one server: never sent."""
        method, raw_path = forwarded.method, forwarded.raw_path
        path = raw_path[4:]
        extra: list[tuple[bytes, bytes]] = []
        gate = self.gate
        if gate is not None:
            gate.enter()
        try:
            if not raw_path.startswith("/v1/") or path in self.raw_paths:
                raise ErrorResponse(f"{raw_path} cannot be forwarded to the primary")
            query = parse_query(forwarded.query.encode("latin-1")) if forwarded.query else {}
            token = _token_from_headers(forwarded.headers)
            req = self._build_request(
                method, path, query, forwarded.body, forwarded.headers, token, forwarded.remote_addr
            )
            req.forwarded_entry = forwarded.entry
            status, out, extra = _rendered(req, self._handle_logical(req), path, [])
        except VaultError as exc:
            status, out = render_error(exc)
        except StorageUnavailable as unavailable:
            status, out, extra = storage_unavailable(unavailable, method, raw_path)
        except (Exception, StandbyWrite, ForwardToPrimary):  # this server cannot write after all
            log.exception("unhandled error serving %s %s forwarded by a secondary", method, raw_path)
            status, out = 500, error_body(["internal error"])
        finally:
            if gate is not None:
                gate.leave()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in extra]
        return ForwardedAnswer(status, headers, out or b"")

    def _to_primary(self, request: ForwardedRequest) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        """On a performance secondary: the primary's answer to a request that writes replicated
        data (nothing of it was stored here), once this secondary has applied the write."""
        answer = self.core.replication.forward(request)
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        return answer.status, answer.body, extra

    async def _answer_raw_path(self, declared: Path, path: str, req: RawRequest) -> RawResponse | None:
        """A raw path's answer (system/rawhttp.py), unless this listener hides it."""
        if path in self.refused_raw:
            return hidden_endpoint(self, path)
        return await answer_raw(self, declared, req)

    def _ui(
        self, raw_path: str, headers: dict[str, str]
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        """The web UI (``ui = true``, on in dev mode); without it Vault has no handler there at all."""
        if self.ui is None:
            return UI_NOT_FOUND
        if not raw_path.startswith("/ui/"):
            return _redirect("/ui/", b"")
        return self.ui.answer(raw_path[4:], headers.get("accept-encoding", ""))

    def _handle_logical(self, req: Request) -> Response | None:
        """The core's pipeline, after the checks Vault's handleCancelableRequest makes first."""
        if self.core.sealed:
            raise SealedError()
        if req.path.endswith("/") and req.operation in (Operation.UPDATE, Operation.CREATE, Operation.PATCH):
            raise ErrorResponse("cannot write to a path ending in '/'")
        return self.core.handle_request(req)

    def _head(self, token: str) -> None:
        """HEAD reaches the core as Vault's header operation: sealed, then the token, then 405."""
        if self.core.sealed:
            raise SealedError()
        if not token or self.core.resolve_token(token) is None:
            raise PermissionDenied()
        raise CodedError(405, "")

    async def _help(
        self,
        path: str,
        headers: dict[str, str],
        token: str,
        remote_addr: str,
        extra: list[tuple[bytes, bytes]],
    ) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
        """``?help=<anything>`` or the HELP method: the path's help document, as bare JSON."""
        req = Request(
            operation=Operation.HELP,
            path=path,
            client_token=token,
            headers=headers,
            remote_addr=remote_addr,
            request_id=str(uuid.uuid4()),
            is_help=True,
        )
        resp = await self.run(self.core.handle_request, req)
        return 200, orjson.dumps(resp.data if resp is not None else None), extra

    def _build_request(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        raw_body: bytes,
        headers: dict[str, str],
        token: str,
        remote_addr: str,
    ) -> Request:
        if method == "OPTIONS":
            # Without a CORS config Vault routes OPTIONS as an internal operation, which it refuses.
            if self.core.sealed:
                raise SealedError()
            raise ErrorResponse("cannot handle internal-only request operation")
        op = _METHOD_OPS.get(method)
        if op is None:
            raise CodedError(405, "")
        data: dict[str, Any] = {}
        if method == "GET" and query:
            # Vault reads the first value; an empty one means "not set"; only a true flag is removed.
            listing, scanning = list_scan_flags(query)
            if listing:
                query.pop("list")
                op = Operation.LIST
            elif scanning:
                query.pop("scan")
                op = Operation.SCAN
            data = dict(query)
        elif method in ("GET", "LIST", "SCAN", "DELETE"):
            data = dict(query)
        else:
            if method == "PATCH":
                check_patch_media_type(headers)
            parsed = parse_body(raw_body, headers.get("content-type", ""))
            data = parsed or {}
        if op in (Operation.LIST, Operation.SCAN) and not path.endswith("/"):
            path += "/"
        wrap_ttl = 0
        wrap_header = headers.get("x-vault-wrap-ttl")
        if wrap_header:
            try:
                wrap_ttl = parse_duration_second(wrap_header)
            except DurationError as exc:
                raise ErrorResponse(f"error parsing X-Vault-Wrap-TTL header: {exc}") from None
            if wrap_ttl < 0:
                raise ErrorResponse("requested wrap ttl cannot be negative")
        return Request(
            operation=op,
            path=path,
            data=data,
            client_token=token,
            headers=headers,
            query=query,
            remote_addr=remote_addr,
            wrap_ttl=wrap_ttl,
            wrap_format=headers.get("x-vault-wrap-format", ""),
            request_id=new_request_id(),
        )


# The methods ``_serve_now`` takes straight to the core (HEAD, HELP, OPTIONS and the rest: ``_serve``).
_DIRECT_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "LIST"})
_UPDATES = frozenset({"POST", "PUT"})
# Headers that make a request something a prepared route does not answer (response wrapping).
_WRAP_HEADERS = ("x-vault-wrap-ttl", "x-vault-wrap-format")


_ID_RANDOM = threading.local()
_ID_RANDOM_CHUNK = 4096
# Each 16 bytes' version (byte 6: 0100xxxx) and variant (byte 8: 10xxxxxx) bits, by translation;
# a UUID's hex digits in their 8-4-4-4-12 groups.
_UUID_VERSION = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_UUID_VARIANT = bytes((byte & 0x3F) | 0x80 for byte in range(256))
_UUID_GROUPS = struct.Struct("8s4s4s4s12s")
_DASHED = b"-".join
os.register_at_fork(after_in_child=_ID_RANDOM.__dict__.clear)  # a child draws its own bytes


def _rendered(
    req: Request, resp: Response | None, path: str, extra_headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
    """A logical answer as Vault's JSON, with the answer's own headers first, so that a content
    type of its own (pki/ca/pem) replaces the JSON one."""
    status, out = render_logical(resp, req.operation, req.full_path or path, req.request_id, req.mount_type)
    if resp is not None and resp.headers:
        own = [(k.lower().encode(), v.encode()) for k, v in resp.headers.items()]
        extra_headers = own + extra_headers
    return status, out, extra_headers


def storage_unavailable(
    exc: StorageUnavailable, method: object, path: object
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """A 503 naming why the storage cannot be reached (Vault answers its storage errors with a
    500; a 503 tells clients and load balancers to try again or elsewhere: see the README)."""
    log.warning("storage unavailable serving %s %s: %s", method, path, exc)
    return 503, error_body([str(exc)]), []


def new_request_id() -> str:
    """A random (version 4) UUID as text, without building a ``uuid.UUID`` (a few µs per request).

    The bytes come 4 KiB at a time from ``os.urandom``, per thread: one system call, formatted
    at once, for 256 request IDs; a request takes the next of them. Request IDs correlate log
    lines; they are not secrets (token IDs are drawn from the system's generator directly,
    AES-GCM nonces from OpenSSL's: runtime/nonces.py).
    """
    local = _ID_RANDOM
    try:
        return next(local.ids)  # type: ignore[no-any-return]
    except (AttributeError, StopIteration):
        local.ids = ids = iter(request_ids(os.urandom(_ID_RANDOM_CHUNK)))
        return next(ids)


def request_ids(random: bytes) -> list[str]:
    """Version 4 UUIDs as text, one from each 16 bytes of ``random`` (a multiple of 16 bytes).

    The version and variant bits of every block are set at once (two translations of extended
    slices), and ``struct`` cuts the hex digits into their groups for a C ``join``: ~2.8k
    instructions an ID, where formatting each in Python (slices, ``int``, an f-string) cost ~8k.
    """
    marked = bytearray(random)
    marked[6::16] = marked[6::16].translate(_UUID_VERSION)
    marked[8::16] = marked[8::16].translate(_UUID_VARIANT)
    digits = marked.hex().encode()
    return list(map(bytes.decode, map(_DASHED, _UUID_GROUPS.iter_unpack(digits))))


# Environ key -> header name, "" for the keys that are not headers (granian's fixed CGI keys).
_CGI_HEADER_NAMES: dict[str, str] = {}


def cgi_headers(scope: dict[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name, from granian's CGI-style environ.

    One dict look-up per environ key: every request comes here with ~20 keys.
    """
    names = _CGI_HEADER_NAMES
    headers = {}
    for key, value in scope.items():
        name = names.get(key)
        if name is None:
            name = _cgi_header_name(key)
        if name:
            headers[name] = value
    if "CONTENT_TYPE" in scope:
        headers["content-type"] = scope["CONTENT_TYPE"]
    if "CONTENT_LENGTH" in scope:
        headers["content-length"] = scope["CONTENT_LENGTH"]
    return headers


def _cgi_header_name(key: str) -> str:
    """``HTTP_X_VAULT_TOKEN`` → ``x-vault-token`` ("" for a key that is not a header),
    remembered for the names clients keep sending."""
    name = key[5:].lower().replace("_", "-") if key.startswith("HTTP_") else ""
    if len(_CGI_HEADER_NAMES) < 1024:
        _CGI_HEADER_NAMES[key] = name
    return name


async def _run_inline(fn: Any, *args: Any) -> Any:
    """``App.run`` for the threaded server: already on a worker thread, so just call."""
    return fn(*args)


def _drive(coro: Any) -> Any:
    """Run a coroutine that never suspends (every await is ``_run_inline``) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a request awaited the event loop on the threaded server")


def _read_untimed(_proto: Any, stream: Any, length: str | None, limit: int, *, http2: bool) -> bytes | None:
    """``ReadWatch.read`` without a listener around the App (tests call ``serve_threaded``)."""
    return read_body(stream, length, limit, http2=http2)


async def _body_or_413(body: bytes | None) -> bytes:
    """The body read earlier, or the 413 the ASGI path raises where it reads it."""
    if body is None:
        raise HTTPError(413, error_body(["http: request body too large"]))
    return body


def _first(value: Any) -> str:
    """url.Values.Get: the first of repeated query values, "" when absent."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _refuse_path(path: str) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]] | None:
    """What the reference answers, rather than a redirect, for dot segments and a leading ``//``.

    Go reads ``//v1/...`` as a host and a path outside /v1/ (404), and its mux cleans only the
    escaped path, so ``%2e%2e`` and ``..%2f`` reach Vault, which refuses them (400). The path here
    is already decoded: literal dot segments, which HTTP clients remove before sending, get the same
    400 rather than the reference's redirect.
    """
    if path.startswith("//"):
        return 404, error_body([]), []
    if "/." in path:
        segments = path.split("/")
        if "." in segments or ".." in segments:
            if path.startswith("/v1/"):
                return 400, error_body(["relative paths not supported"]), []
            return 404, error_body([]), []
    return None


def _plain_path(path: str) -> bool:
    """A path neither ``_refuse_path`` nor ``_clean_path`` has anything to say about (nearly all)."""
    return path.startswith("/") and "//" not in path and "/." not in path


def _quotas_configured(core: Core) -> bool:
    """Whether any rate-limit quota exists: without one the quota step has nothing to do."""
    manager = getattr(core, "quotas", None)
    return manager is not None and bool(manager.quotas)


def _clean_path(path: str) -> str:
    """Go's http cleanPath: path.Clean, keeping a trailing slash."""
    if path.startswith("/") and "//" not in path and "/." not in path:
        return path  # nothing for Clean to do: no empty, "." or ".." element
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _redirect(location: str, query_string: bytes) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]]:
    """A 307 as Go's http.Redirect sends it (the query string is kept, the path escaped as url.EscapedPath)."""
    location = quote(location, safe="$&+,/:;=@")
    target = location + ("?" + query_string.decode("latin-1") if query_string else "")
    return 307, None, [(b"location", target.encode("latin-1"))]


# The base headers for an answer that brings its own content type first (the UI's files).
_BASE_UNTYPED = [h for h in BASE_HEADERS if h[0] != b"content-type"]
_BASE_UNTYPED_STR = [h for h in BASE_HEADERS_STR if h[0] != "content-type"]


def _own_content_type(extra: list[tuple[bytes, bytes]]) -> bool:
    return bool(extra) and extra[0][0] == b"content-type"


def _base_headers(extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return list(_BASE_UNTYPED if _own_content_type(extra) else BASE_HEADERS)


def _token_from_headers(headers: dict[str, str]) -> str:
    token = headers.get("x-vault-token", "").strip()
    if token:
        return token
    auth = headers.get("authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return ""

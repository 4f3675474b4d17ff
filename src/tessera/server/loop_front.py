"""The plain-HTTP listener: one event-loop thread reads each request, runs it, and writes its answer.

Measured on a 2-core machine (issue 29, docs/performance.md): on granian's threaded worker a
batch-token request cost ~270 µs of server CPU, of which Tessera's own Python was ~55; the rest
was the hops between granian's Rust threads, its Python intake threads and the runner thread,
each a GIL hand-over and a futex wake-up, and granian's pool spinning in ``sched_yield``. Here a
single thread does all of it, on uvloop (libuv): reading, parsing (``server/http1.py``), running
the request where the runner would, and writing, with no thread switch for a request that
neither waits nor runs long.

That thread is the runner of ``server/dispatch.py``: routes that were seen to wait or run long go
to the dispatcher's side pool, whose answers come back to this loop (``call_soon_threadsafe``),
as do answers held until their write is durable (the storage's syncer thread) and answers a
worker process's relay receives. On storage without the run gate (PostgreSQL without HA's cache),
every request goes to a pool of ``TESSERA_HTTP_THREADS`` threads instead, where network waits overlap.

Hostile clients cost a socket, never a thread: the loop reads every request whole before it runs,
with Go's ``net/http`` deadlines (``front_connection.Timeouts``), swept every quarter second; at the
connection cap the connection that has waited longest on its client is shed (idle ones first);
a client that does not read its answers stops being read (pipelined requests wait their turn).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

import uvloop

from ..framework.body import MAX_REQUEST_SIZE
from .config import ListenerConfig
from .dispatch import dispatcher_for, gate_for, request_threads, route_or_500
from .fdlimit import connection_cap
from .front_connection import Phase, Timeouts
from .http1 import (
    CHUNKED,
    MAX_HEAD,
    REASONS,
    BadRequest,
    ChunkedBody,
    Head,
    common_head,
    header_block,
    parse_head,
)
from .intake import TIMEOUT_BODY, TIMEOUT_HEADERS
from .render import BASE_HEADERS_STR, error_body

log = logging.getLogger("tessera.server")

SWEEP = 0.25  # seconds between deadline sweeps (Vault's timeouts are whole seconds)
_HELD_INPUT = 1 << 20  # bytes read ahead of a running request before reading pauses
_WRITE_HIGH = 1 << 18  # an answer's unsent bytes past which the client counts as not reading
# The phases as module constants: ``Phase.X`` goes through ``EnumType.__getattr__`` on Python
# 3.11 (~0.8k instructions each, and the front reads a phase a dozen times a request).
_HEADERS, _BODY, _RUNNING = Phase.HEADERS, Phase.BODY, Phase.RUNNING
_WRITING, _IDLE, _CLOSED = Phase.WRITING, Phase.IDLE, Phase.CLOSED
_SHED_ORDER = {_IDLE: 0, _HEADERS: 1}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
DRAIN_SECONDS = 10.0  # how long a stopping listener waits for the answers of requests in flight
DRAIN_POLL = 0.02


def new_loop() -> asyncio.AbstractEventLoop:
    """libuv's loop: its reads, writes and polling are C, not asyncio's Python selector loop."""
    return uvloop.new_event_loop()


class LoopFrontServer:
    """One plain-HTTP listener: ``await serve()`` runs it, ``stop()`` ends it (the embedded-server interface)."""

    def __init__(self, app: Any, host: str, port: int, listener: ListenerConfig | None = None) -> None:
        listener = listener or ListenerConfig()
        self.app = app
        self.timeouts = Timeouts.of(listener)
        self.cap = connection_cap(listener.max_connections)
        self.max_request_size = getattr(app, "max_request_size", MAX_REQUEST_SIZE)
        # SO_REUSEPORT as granian binds: worker processes share the listener (cluster/pool.py).
        self.sock = socket.create_server((host, port), backlog=1024, reuse_port=True)
        self.sock.setblocking(False)
        app.gate = gate_for(app)
        app.dispatcher = dispatcher_for(app)
        app.set_inline()  # requests run right here or on pool threads: App._drive needs no loop
        # Without a dispatcher nothing runs on the loop: every request waits on the network.
        self.pool = None if app.dispatcher else ThreadPoolExecutor(request_threads(), "tessera-http-req")
        self.connections: dict[int, LoopConnection] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0
        self._server: asyncio.AbstractServer | None = None
        self.stopped = threading.Event()
        self._date = (0, b"")
        self._date_line = (0, b"")

    async def serve(self) -> None:
        thread = threading.Thread(target=self._run, name="tessera-http", daemon=True)
        thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self.stopped.wait)

    def stop(self) -> None:
        """Stop accepting; requests in flight are answered (up to ``DRAIN_SECONDS``), then every
        connection closes: a write a client was told nothing about is not left unanswered."""
        loop = self.loop
        if loop is None or loop.is_closed():
            self.stopped.set()
            return
        try:
            loop.call_soon_threadsafe(self._drain, time.monotonic() + DRAIN_SECONDS)
        except RuntimeError:  # closed meanwhile
            self.stopped.set()

    def retire(self) -> None:
        """A plain listener is never replaced by a reload: retiring it is stopping it. (A method,
        not ``retire = stop``: mypyc would read that alias as an attribute's default.)"""
        self.stop()

    def _run(self) -> None:
        loop = self.loop = new_loop()
        self.loop_thread = threading.get_ident()
        try:
            self._server = loop.run_until_complete(
                loop.create_server(lambda: LoopConnection(self), sock=self.sock, backlog=1024)
            )
            loop.call_later(SWEEP, self._sweep)
            loop.run_forever()
            for conn in list(self.connections.values()):
                conn.close()
            loop.run_until_complete(asyncio.sleep(0))
        except Exception:
            log.exception("HTTP listener failed")
        finally:
            self._shut(loop)

    def _drain(self, deadline: float) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        busy = False
        for conn in list(self.connections.values()):
            if conn.phase is _RUNNING:
                busy = True
            else:
                conn.close(flush=True)  # an answer still being sent goes out first
        assert self.loop is not None
        if busy and time.monotonic() < deadline:
            self.loop.call_later(DRAIN_POLL, self._drain, deadline)
        else:
            self.loop.call_later(DRAIN_POLL, self.loop.stop)  # a turn for the last writes

    def _shut(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)
        if self.app.dispatcher is not None:
            self.app.dispatcher.pool.close()
        try:
            self.sock.close()
        except OSError:
            pass
        loop.close()
        self.stopped.set()

    # -- used by connections ---------------------------------------------------------------------

    def run(self, args: tuple[Any, ...]) -> None:
        """A complete request (``args`` as ``App._route`` takes them): run here, or in the pool."""
        if self.pool is not None:
            self.pool.submit(self._route, args)
        else:
            route_or_500(self.app, args)

    def _route(self, args: tuple[Any, ...]) -> None:
        route_or_500(self.app, args)

    def date(self) -> bytes:
        """The Date header's value, as Go writes it, made once a second."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True).encode("ascii"))
        return self._date[1]

    def date_line(self) -> bytes:
        """The Date header's line and the blank line after it, made once a second."""
        now = int(time.time())
        if self._date_line[0] != now:
            self._date_line = (now, b"date: %s\r\n\r\n" % self.date())
        return self._date_line[1]

    def opened(self, conn: LoopConnection) -> bool:
        """Whether a new connection may stay: at the cap, another that waits on its client goes."""
        if len(self.connections) >= self.cap and not self._shed():
            log.warning("HTTP listener: %d connections busy, closing a new one", self.cap)
            return False
        self.connections[id(conn)] = conn
        return True

    def forget(self, conn: LoopConnection) -> None:
        self.connections.pop(id(conn), None)

    def _shed(self) -> bool:
        """Close the connection that has waited longest on its client (idle ones first)."""
        waiting = [c for c in self.connections.values() if c.phase in _SHED_ORDER]
        if not waiting:
            return False
        min(waiting, key=lambda c: (_SHED_ORDER[c.phase], c.since)).close()
        return True

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections.values()):
            if conn.deadline is not None and now >= conn.deadline:
                conn.expire(now)
        assert self.loop is not None
        self.loop.call_later(SWEEP, self._sweep)


class LoopConnection(asyncio.Protocol):
    """A client connection; every method runs on the loop's thread but ``response_bytes``."""

    def __init__(self, front: LoopFrontServer) -> None:
        self.front = front
        self.transport: Any = None
        self.remote_addr = "127.0.0.1"
        self.buf: bytes | bytearray = b""
        self.scanned = 0  # bytes of ``buf`` already searched for the end of the headers
        self.phase = _IDLE
        self.since = self.started = time.monotonic()
        self.deadline: float | None = None
        self.head: Head | None = None
        self.need = 0  # body bytes still to come (sized bodies)
        self.parts: list[bytes] = []
        self.chunked: ChunkedBody | None = None
        self.closing = False  # the answer ends the connection
        self.paused = False  # reading paused: a request runs, or the client is not reading
        self.write_blocked = False

    # -- asyncio's events --------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.remote_addr = peer[0]
        if not self.front.opened(self):
            transport.abort()
            self.phase = _CLOSED
            return
        transport.set_write_buffer_limits(high=_WRITE_HIGH)
        # Go times the first request's headers from the accept.
        self._enter(_HEADERS, self.since, self.front.timeouts.header)

    def data_received(self, data: bytes) -> None:
        if self.phase is _IDLE and not self.buf and self._whole(data):
            return
        if self.phase is _IDLE:
            self.started = time.monotonic()
            self._enter(_HEADERS, self.started, self.front.timeouts.header)
        buf = self.buf
        if not buf:
            self.buf = data
        elif isinstance(buf, bytearray):
            buf += data  # a request arriving in many pieces is not copied whole at each one
        else:
            self.buf = bytearray(buf) + data
        if self.phase is _HEADERS or self.phase is _BODY:
            self._advance()
        elif len(self.buf) > _HELD_INPUT:
            self._pause()

    def _whole(self, data: bytes) -> bool:
        """One whole request in one read and nothing after it (a kept-alive client's usual
        request): run at once, without the bookkeeping of a request arriving in pieces. False,
        having done nothing, for anything else (pipelined, partial, refused, chunked, too large,
        a stray line break first): the general path reads it."""
        block, blank, body = data.partition(b"\r\n\r\n")  # (no argument parsing, unlike find)
        if not blank or not block or len(block) > MAX_HEAD or data[0] == 13:  # 13: a stray CR,
            return False  # which the general path strips
        try:
            head = common_head(block)  # parse_head's lane for the common head
        except BadRequest:
            return False  # answered by the general path, as it answers it
        if head is None:
            return False
        length = head.length
        if length < 0 or length > self.front.max_request_size or len(body) != length:
            return False
        self.head = head
        self._run(head, body)
        return True

    def eof_received(self) -> bool:
        """A client that half-closes after its request still gets the answer, then the close."""
        self.closing = True
        return self.phase is _RUNNING or self.phase is _WRITING

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = _CLOSED
        self.front.forget(self)

    def pause_writing(self) -> None:
        """The client is not reading its answers: they stop being made (and its time runs)."""
        self.write_blocked = True
        self._pause()
        if self.phase is _IDLE:
            self._enter(_WRITING, time.monotonic(), self.front.timeouts.write)

    def resume_writing(self) -> None:
        self.write_blocked = False
        if self.phase is _WRITING:
            self._next()

    # -- deadlines -----------------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """Past the phase's deadline: a body gets its 408, anything else is simply closed."""
        if self.phase is _BODY:
            log.debug("request body from %s not complete in time", self.remote_addr)
            self.closing = True
            head = _head(408, TIMEOUT_HEADERS, len(TIMEOUT_BODY), True, self.front.date())
            self.transport.write(head + TIMEOUT_BODY)
            self.close(flush=True)
        else:
            self.close()

    def close(self, *, flush: bool = False) -> None:
        if self.phase is _CLOSED:
            return
        self.phase = _CLOSED
        self.front.forget(self)
        if flush:
            self.transport.close()  # after what is queued is written
        else:
            self.transport.abort()

    def _enter(self, phase: Phase, now: float, seconds: float | None) -> None:
        self.phase, self.since = phase, now
        self.deadline = None if seconds is None else now + seconds

    # -- reading -------------------------------------------------------------------------------------

    def _advance(self) -> None:
        """Parse what has arrived; a complete request is run."""
        try:
            if self.phase is _HEADERS and not self._read_head():
                return
            if self._read_body():
                self._submit()
        except BadRequest as exc:
            self._bad_request(exc)

    def _read_head(self) -> bool:
        buf = self.buf
        if buf.startswith(b"\r\n"):  # a stray line break before a request (RFC 9112 2.2)
            buf = self.buf = buf.lstrip(b"\r\n")
        end = buf.find(b"\r\n\r\n", max(0, self.scanned - 3))  # never the same bytes twice
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise BadRequest(431, "request header fields too large")
            self.scanned = len(buf)
            return False
        self.scanned = 0
        if end > MAX_HEAD:
            raise BadRequest(431, "request header fields too large")
        head = self.head = parse_head(bytes(buf[:end]))
        self.buf = buf[end + 4 :]
        # The whole request must arrive within the read timeout, from its first byte (Go).
        self.phase = _BODY
        timeout = self.front.timeouts.request
        self.deadline = None if timeout is None else self.started + timeout
        limit = self.front.max_request_size
        if head.length == CHUNKED:
            self.chunked = ChunkedBody(limit)
        elif head.length > limit:
            self.closing = True  # answered 413 without reading the body: the rest is not read
            self.need = 0
            self.parts = []
            self._submit(too_large=True)
            return False
        else:
            self.need = head.length
            self.parts = []
        return True

    def _read_body(self) -> bool:
        """Take body bytes from the buffer; True once the body is whole."""
        buf = self.buf
        if self.chunked is not None:
            pos, done = self.chunked.feed(buf, 0)
            self.buf = buf[pos:]
        else:
            take = min(self.need, len(buf))
            if take:
                self.parts.append(bytes(buf[:take]) if take < len(buf) or type(buf) is not bytes else buf)
                self.buf = buf[take:]
                self.need -= take
            done = self.need == 0
        if not done:
            head = self.head
            if head is not None and head.expect_continue:
                head.expect_continue = False
                self.transport.write(_CONTINUE)
        return done

    def _submit(self, *, too_large: bool = False) -> None:
        head = self.head
        assert head is not None
        if too_large:
            body: bytes | None = None
        elif self.chunked is not None:
            body = self.chunked.body()
            self.closing = self.closing or body is None
            self.chunked = None
        else:
            parts = self.parts
            body = parts[0] if len(parts) == 1 else b"".join(parts)
            self.parts = []
        self._run(head, body)

    def _run(self, head: Head, body: bytes | None) -> None:
        """A complete request to the front's ``run``; reading pauses until its answer is out."""
        self.closing = self.closing or not head.keep_alive
        self.phase, self.deadline = _RUNNING, None
        path, _, query = head.target.partition("?")
        if path[:1] != "/":
            path = _origin_path(path)
        if "%" in path:
            path = unquote(path, errors="replace")
        self.front.run(
            (
                self,
                head.method.upper(),
                path,
                query.encode("latin-1") if query else b"",
                head.headers,
                body,
                self.remote_addr,
                False,
            )
        )
        if self.phase is _RUNNING:  # answered later (the side pool, a held answer): a pipelining
            self._pause()  # client waits its turn (one answered right here was read after anyway)

    def _bad_request(self, exc: BadRequest) -> None:
        """Go's server answers a request it cannot parse with a plain-text status and closes."""
        log.debug("malformed request from %s: %s", self.remote_addr, exc)
        text = REASONS.get(exc.status, b"").decode() + (f": {exc.told}" if exc.told else "")
        body = f"{exc.status} {text}".encode()
        head = (
            f"HTTP/1.1 {exc.status} {text}\r\n"
            f"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.close(flush=True)

    def _pause(self) -> None:
        if not self.paused and self.phase is not _CLOSED:
            self.paused = True
            self.transport.pause_reading()

    # -- writing -------------------------------------------------------------------------------------

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """The answer, from whichever thread made it (App's ``proto`` interface)."""
        front = self.front
        if threading.get_ident() == front.loop_thread:
            self._respond(status, headers, body)
            return
        loop = front.loop
        try:
            if loop is not None:
                loop.call_soon_threadsafe(self._respond, status, headers, body)
        except RuntimeError:  # the listener stopped meanwhile: nobody to answer
            pass

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self.phase is not _RUNNING:
            return  # closed meanwhile (the client left, or the server is stopping)
        head_req = self.head
        if status in (204, 304) or (head_req is not None and head_req.method == "HEAD"):
            body = b""
        if (
            headers is BASE_HEADERS_STR
            and not self.closing
            and status in _PLAIN
            and len(body) < 65536
            and (head_req is None or not head_req.http10)
        ):
            self.transport.write(_plain_answer(status, body, self.front.date_line()))
            self._answered()
            return
        try:
            head = _head(status, headers, len(body), self.closing, self.front.date())
            if head_req is not None and head_req.http10 and not self.closing:
                head = head[:-2] + b"connection: keep-alive\r\n\r\n"  # Go's word to a 1.0 client
        except ValueError:
            log.error("answer with an invalid header for %s: %s", self.remote_addr, headers)
            body = error_body(["internal error"])
            head = _head(500, BASE_HEADERS_STR, len(body), self.closing, self.front.date())
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        self._answered()

    def _answered(self) -> None:
        """The answer is written: close, or wait for the client to read it, or for its next request."""
        self.head = None
        if self.closing:
            self.close(flush=True)
            return
        now = time.monotonic()
        if self.write_blocked:
            self._enter(_WRITING, now, self.front.timeouts.write)
            return
        idle = self.front.timeouts.idle  # _enter(_IDLE, ...), spelled out: every answer comes here
        self.phase, self.since, self.deadline = _IDLE, now, None if idle is None else now + idle
        if self.paused or self.buf:
            self._next()

    def _next(self) -> None:
        """Ready for the next request: read again, and parse one already here (pipelined)."""
        if self.phase is _WRITING:
            self._enter(_IDLE, time.monotonic(), self.front.timeouts.idle)
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if self.buf:
            self.started = time.monotonic()
            self._enter(_HEADERS, self.started, self.front.timeouts.header)
            loop = self.front.loop
            assert loop is not None
            loop.call_soon(self._advance)  # on a turn of its own: no recursion through pipelines


def _origin_path(target: str) -> str:
    """The path of an absolute-form target (``http://host/path``); ``*`` and others stay as sent."""
    scheme, sep, rest = target.partition("://")
    if not sep or "/" in scheme:
        return target
    return "/" + rest.partition("/")[2]


_BASE_BLOCK = "".join(f"{k}: {v}\r\n" for k, v in BASE_HEADERS_STR).encode("latin-1")


def _head(status: int, headers: list[tuple[str, str]], length: int, closing: bool, date: bytes) -> bytes:
    """Status line and headers; ValueError for a header that could split the answer."""
    block = _BASE_BLOCK if headers is BASE_HEADERS_STR else header_block(headers, closing)
    close = b"connection: close\r\n" if closing else b""
    length_line = b"" if status in (204, 304) else b"content-length: %d\r\n" % length
    return b"HTTP/1.1 %d %s\r\n%s%s%sdate: %s\r\n\r\n" % (
        status,
        REASONS.get(status, b""),
        block,
        length_line,
        close,
        date,
    )


# Statuses answered through ``_plain_answer``: every one with a reason but 204 and 304 (bodiless).
_PLAIN = frozenset(REASONS) - {204, 304}
_PLAIN_PREFIXES: dict[int, bytes] = {}
_LENGTH_LINES: dict[int, bytes] = {}
_LENGTH_LINES_KEPT = 4096


def _plain_answer(status: int, body: bytes, date_line: bytes) -> bytes:
    """``_head(status, BASE_HEADERS_STR, len(body), False, date) + body`` (the common answer, kept
    alive), from its status line and headers made once per status and its length line once per
    length: no formatting per answer."""
    prefix = _PLAIN_PREFIXES.get(status)
    if prefix is None:
        prefix = _PLAIN_PREFIXES[status] = b"HTTP/1.1 %d %s\r\n%s" % (status, REASONS[status], _BASE_BLOCK)
    length = len(body)
    line = _LENGTH_LINES.get(length)
    if line is None:
        line = b"content-length: %d\r\n" % length
        if len(_LENGTH_LINES) < _LENGTH_LINES_KEPT:
            _LENGTH_LINES[length] = line
    return b"".join((prefix, line, date_line, body))

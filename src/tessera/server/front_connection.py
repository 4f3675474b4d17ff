"""One client connection of the TLS front (``server/tls_front.py``), as a non-blocking state machine.

The front's single reactor thread drives every connection: the TLS handshake, reading request
headers and the whole body, writing the answer. Only a complete request is served, on the reactor
thread itself or by a pool (``server/tls_front.py`` says which), so a client that is slow, silent
or idle costs a socket and a few kilobytes, never a thread. A connection serves one request per
turn of the reactor: what a pipelining client sent beyond it waits for the connection's next turn
(:meth:`FrontConnection.resume`), after the other connections' turns. Each phase has a deadline,
with Go's ``net/http`` semantics for the listener's settings (see :class:`Timeouts`); the
reactor's sweep calls :meth:`expire` past it.
"""

from __future__ import annotations

import enum
import logging
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import h11
from OpenSSL import SSL, crypto

from .config import ListenerConfig
from .front_reading import Head, read_head
from .http1 import REASONS, header_block
from .intake import TIMEOUT_BODY, TIMEOUT_HEADERS
from .peer import PeerTLS, ResumedChains

log = logging.getLogger("tessera.server")

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
_CHUNK = 65536
_READS_PER_TURN = 16  # records read per readiness event, so one fast sender cannot hog the reactor
# Bytes of a plain request kept while its body comes in further records (Python's http.client
# sends head and body apart); a larger body is read by h11, which drops what exceeds the limit.
_MAX_KEPT = 65536


# SSL_read / SSL_write / SSL_pending through pyOpenSSL's own cffi library (``OpenSSL.SSL._lib``),
# as its ``recv``/``send``/``pending`` make them, less what they do on every call besides: on a
# record read or written, pyOpenSSL's error check (three helper checks, SSL_get_error, a chain
# of comparisons) finds nothing to raise, so it runs only when OpenSSL reports no progress, where
# it raises exactly what ``recv``/``send`` raise. Without that library (a pyOpenSSL that moved
# it), the public methods.
_LIB: Any = getattr(SSL, "_lib", None)
_FFI: Any = getattr(SSL, "_ffi", None)
_DIRECT = (
    _LIB is not None
    and _FFI is not None
    and all(hasattr(_LIB, name) for name in ("SSL_read", "SSL_write", "SSL_pending"))
    and hasattr(SSL.Connection, "_raise_ssl_error")
)
_ALLOCATE: Any = _FFI.new_allocator(should_clear_after_alloc=False) if _DIRECT else None


# Each falls back to pyOpenSSL's own method on a pyOpenSSL without its cffi library where it was
# (a test in the function, not a second definition: mypyc compiles one definition of a name).
def _recv(tls: SSL.Connection) -> bytes:
    """``tls.recv(_CHUNK)``."""
    if not _DIRECT:  # pragma: no cover
        return tls.recv(_CHUNK)
    ssl = tls._ssl
    buf = _ALLOCATE("char[]", _CHUNK)
    result = _LIB.SSL_read(ssl, buf, _CHUNK)
    if result > 0:
        return bytes(_FFI.unpack(buf, result))
    tls._raise_ssl_error(ssl, result)
    return b""


def _send(tls: SSL.Connection, data: bytes) -> int:
    """``tls.send(data)`` for bytes of at most ``_CHUNK``."""
    if not _DIRECT:  # pragma: no cover
        return tls.send(data)
    ssl = tls._ssl
    result: int = _LIB.SSL_write(ssl, data, len(data))
    if result <= 0:
        tls._raise_ssl_error(ssl, result)
    return result


def _pending(tls: SSL.Connection) -> int:
    """``tls.pending()``."""
    if not _DIRECT:  # pragma: no cover
        return tls.pending()
    found: int = _LIB.SSL_pending(tls._ssl)
    return found


def _first_set(*seconds: int) -> float | None:
    """The first non-zero setting (Go's fallbacks), or None: no limit."""
    return next((float(s) for s in seconds if s > 0), None)


@dataclass(frozen=True)
class Timeouts:
    """Seconds each phase may last (None: no limit), derived as Go's ``http.Server`` derives them.

    The handshake gets the shortest of the read, header and write timeouts; request headers get
    ``http_read_header_timeout`` (else ``http_read_timeout``) from the request's first byte; the
    whole request, body included, ``http_read_timeout``; an idle keep-alive connection
    ``http_idle_timeout`` (else ``http_read_timeout``); writing the answer ``http_write_timeout``.
    """

    handshake: float | None
    header: float | None
    request: float | None
    idle: float | None
    write: float | None

    @classmethod
    def of(cls, listener: ListenerConfig) -> Timeouts:
        set_ = [s for s in (listener.http_read_header_timeout, listener.http_read_timeout) if s > 0]
        set_ += [listener.http_write_timeout] if listener.http_write_timeout > 0 else []
        return cls(
            handshake=float(min(set_)) if set_ else None,
            header=_first_set(listener.http_read_header_timeout, listener.http_read_timeout),
            request=_first_set(listener.http_read_timeout),
            idle=_first_set(listener.http_idle_timeout, listener.http_read_timeout),
            write=_first_set(listener.http_write_timeout),
        )


class Phase(enum.Enum):
    HANDSHAKE = "handshake"
    HEADERS = "headers"  # waiting for (the rest of) a request's headers
    BODY = "body"
    RUNNING = "running"  # complete request being served: nothing read until its answer is out
    WRITING = "writing"
    IDLE = "idle"  # keep-alive, between requests
    CLOSED = "closed"

    # Identity's hash, in C: Enum's own hashes the member's name in Python, and the fronts test a
    # phase's membership in a set (``READING``) several times a request.
    __hash__ = object.__hash__


READING = frozenset({Phase.HEADERS, Phase.BODY, Phase.IDLE})
# Connections waiting on their client for a request: what is shed when the connection cap is reached.
WAITING = frozenset({Phase.IDLE, Phase.HANDSHAKE, Phase.HEADERS})
# The phases as module constants: ``Phase.X`` goes through ``EnumType.__getattr__`` on Python
# 3.11 (~0.8k instructions each).
_HANDSHAKE, _HEADERS, _BODY, _RUNNING = Phase.HANDSHAKE, Phase.HEADERS, Phase.BODY, Phase.RUNNING
_WRITING, _IDLE, _CLOSED = Phase.WRITING, Phase.IDLE, Phase.CLOSED


class FrontConnection:
    """A client connection; every method runs on the reactor thread (answers arrive through it too)."""

    def __init__(self, front: Any, sock: socket.socket, remote_addr: str, now: float) -> None:
        self.front = front
        self.sock = sock
        self.remote_addr = remote_addr
        self.tls = SSL.Connection(front.handshake_context(), sock)
        self.tls.set_accept_state()
        self.http = h11.Connection(h11.SERVER)
        self.fed = False  # h11 holds bytes of this request (else it may come whole: front_reading.py)
        # A plain request whose body is still coming (``_simple``): its bytes so far, and its head,
        # where its body begins and how long it is.
        self.kept = bytearray()
        self.kept_head: tuple[Head, int, int] | None = None
        self.peer = PeerTLS()
        self.phase = _HANDSHAKE
        self.since = now  # when the current phase began (the oldest waiting ones are shed first)
        self.deadline = _after(now, front.timeouts.handshake)
        self.started = now  # the current request's first byte
        self.interest = 0
        self.want = READ  # what OpenSSL last asked to wait for
        self.out = b""
        self.sent = 0
        self.close_after_write = False
        self.closing = False  # the answer being written ends the connection (client's wish, HTTP/1.0)
        self.request: Head | None = None
        self.body = bytearray()
        self.too_large = False
        self.queued = False  # waits in the reactor's queue for its next turn (``resume``)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """The ``proto`` App._answer writes to (the connection itself): from the reactor thread
        serving the request, a pool thread, or the storage's syncer thread."""
        self.front.delivered(self, status, headers, body)

    # -- events from the reactor ---------------------------------------------------------------

    def ready(self, now: float) -> None:
        """The socket is readable or writable: make what progress it allows."""
        self._guarded(self._progress, now)

    def resume(self, now: float) -> None:
        """The turn ``_written`` queued: the request already buffered (in h11, or decrypted by
        OpenSSL, which no readiness event would announce), then what the socket has."""
        self.queued = False
        self._guarded(self._go_on, now)

    def _progress(self, now: float) -> None:
        if self.phase is _HANDSHAKE:
            self._handshake(now)
        if self.out and self.phase is not _CLOSED:
            self._flush(now)
        if self.phase in READING and not self.queued:  # a queued one reads in its own turn
            self._read(now)

    def _go_on(self, now: float) -> None:
        if self.phase in READING and self.fed and self._advance(now):
            return
        if self.phase in READING:
            self._read(now)

    def _guarded(self, step: Callable[[float], None], now: float) -> None:
        """``step``, with the errors a client can cause ending its connection (a 400 if it can
        still be told), then the reactor told what the connection waits on now."""
        try:
            step(now)
        except h11.RemoteProtocolError as exc:
            self._bad_request(exc, now)
        except (SSL.Error, OSError, h11.ProtocolError) as ended:
            log.debug("TLS connection from %s ended: %s", self.remote_addr, ended)
            self.close()
        self._update_interest()

    def expire(self, now: float) -> None:
        """Past the phase's deadline: a body gets its 408, anything else is simply closed."""
        if self.phase is _BODY:
            log.debug("request body from %s not complete in time", self.remote_addr)
            self._answer_timeout(now)
        else:
            self.close()

    def deliver(self, status: int, headers: list[tuple[str, str]], body: bytes, now: float) -> None:
        """The answer to the running request, handed back to the reactor thread."""
        if self.phase is not _RUNNING or self.request is None:
            return  # closed meanwhile (the server stopping)
        try:
            self._respond(status, headers, b"" if self.request.method == b"HEAD" else body, now)
        except (SSL.Error, OSError, h11.ProtocolError) as ended:
            log.debug("TLS connection from %s ended: %s", self.remote_addr, ended)
            self.close()
        self._update_interest()

    def close(self) -> None:
        if self.phase is _CLOSED:
            return
        self.phase = _CLOSED
        self.front.forget(self)
        try:
            self.tls.shutdown()  # best effort: a close_notify if the socket takes it now
        except (SSL.Error, OSError):
            pass
        self.sock.close()

    # -- phases ------------------------------------------------------------------------------------

    def _enter(self, phase: Phase, now: float, seconds: float | None) -> None:
        self.phase, self.since, self.deadline = phase, now, _after(now, seconds)

    def _handshake(self, now: float) -> None:
        try:
            self.tls.do_handshake()
        except (SSL.WantReadError, SSL.WantWriteError) as exc:
            self.want = _wanted(exc)
            return
        self.want = READ
        self.peer = PeerTLS(_peer_certificates(self.tls, self.front.chains))
        self.started = now  # Go times the first request's headers from the end of the handshake
        self._enter(_HEADERS, now, self.front.timeouts.header)

    def _read(self, now: float) -> None:
        """Read and parse until OpenSSL has nothing more or a request is complete: nothing past
        one record is buffered for a request still to come (a pipelining client waits its turn)."""
        turns = 0
        while self.phase in READING:
            if turns >= _READS_PER_TURN and not _pending(self.tls):
                return  # the socket's readiness brings the reactor back
            turns += 1
            try:
                data = _recv(self.tls)
            except (SSL.WantReadError, SSL.WantWriteError) as exc:
                self.want = _wanted(exc)
                return
            except (SSL.ZeroReturnError, SSL.SysCallError):  # closed, with or without a close_notify
                data = b""
            if self.phase is _IDLE and data:
                self.started = now  # the next request's headers are timed from its first byte
                self._enter(_HEADERS, now, self.front.timeouts.header)
            if not self.fed and self._simple(data, now):
                if self.kept_head is not None:
                    continue  # the rest of its body
                return  # one request per turn
            self.fed = True
            self.http.receive_data(data)
            if self._advance(now) or not data:
                return  # one request per turn

    def _simple(self, data: bytes, now: float) -> bool:
        """A plain request read without h11 (``front_reading.py``): served when ``data`` completes it,
        kept while its body is still coming (True either way; each record is appended once).
        Otherwise h11 is given what was kept, for the caller to go on with ``data`` (False)."""
        if self.kept_head is not None:
            return self._more_body(data, now)
        found = read_head(data) if data else None
        if found is None:
            return False
        head, start, length = found
        if len(data) == start + length:
            self._submit(now, head, None if length > self.front.max_request_size else data[start:])
            return True
        if len(data) > start + length or start + length > _MAX_KEPT:
            return False  # pipelined, or a body too large to keep: h11's
        self.kept, self.kept_head = bytearray(data), found
        self.phase = _BODY  # its deadline counts from the request's first byte (Go)
        self.deadline = _after(self.started, self.front.timeouts.request)
        return True

    def _more_body(self, data: bytes, now: float) -> bool:
        """``_simple`` for a request whose head and body's start are kept already."""
        assert self.kept_head is not None
        head, start, length = self.kept_head
        missing = start + length - len(self.kept)
        kept, self.kept, self.kept_head = self.kept, bytearray(), None
        if data and len(data) <= missing:
            kept += data
            if len(data) == missing:
                self._submit(now, head, None if length > self.front.max_request_size else bytes(kept[start:]))
            else:
                self.kept, self.kept_head = kept, (head, start, length)
            return True
        self.http.receive_data(kept)  # type: ignore[arg-type]  # the end of the stream, or bytes past the body: h11 reads it all
        return False

    def _advance(self, now: float) -> bool:
        """Take the parsed events up to a complete request, which is served: whether one was."""
        while self.phase in READING:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                if self.http.they_are_waiting_for_100_continue and not self.out:
                    self._queue(self.http.send(h11.InformationalResponse(status_code=100, headers=[])))
                    self._flush(now)
                return False
            if isinstance(event, h11.Request):
                self.request, self.body, self.too_large = Head.of(event), bytearray(), False
                self.phase = _BODY  # its deadline counts from the request's first byte (Go)
                self.deadline = _after(self.started, self.front.timeouts.request)
            elif isinstance(event, h11.Data):
                # Read untyped: h11's ``Data.data`` says bytes but is a bytearray, which compiled
                # code would refuse at the attribute read.
                data: bytes | bytearray = cast(Any, event).data
                self._take(data)
            elif isinstance(event, h11.EndOfMessage):
                assert self.request is not None
                body, self.body = None if self.too_large else bytes(self.body), bytearray()
                self._submit(now, self.request, body)
                return True
            else:  # ConnectionClosed, or PAUSED after a close
                self.close()
        return False

    def _take(self, data: bytes | bytearray) -> None:
        # Past the limit the rest is read and dropped (memory stays bounded), so that the client,
        # still sending, does get its 413 rather than a reset connection.
        self.too_large = self.too_large or len(self.body) + len(data) > self.front.max_request_size
        if self.too_large:
            self.body.clear()
        else:
            self.body += data

    def _submit(self, now: float, request: Head, body: bytes | None) -> None:
        """The complete request to the App (``body`` None: over the size limit), answered through
        :meth:`response_bytes` from whichever thread (this one, when the reactor serves it: the
        answer may be out when this returns)."""
        self._enter(_RUNNING, now, None)
        self.request = request
        path, _, query = request.target.decode("latin-1").partition("?")
        headers = dict(request.fields)  # the App's own: the head's may be shared (front_reading.py)
        if len(headers) != len(request.headers):  # a name given twice
            _join_index_states(headers, request.headers)
        method = request.method.decode("ascii").upper()
        # ``tls`` is the PeerTLS: truthy, and it carries the client's certificates to the request.
        path = unquote(path, errors="replace")
        self.front.run(
            (self, method, path, query.encode("latin-1"), headers, body, self.remote_addr, self.peer)
        )

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes, now: float) -> None:
        """The answer's bytes, written here rather than by h11 (its events, header normalisation
        and state machine cost more than the rest of the front per request; ``bench.cert_threads``).
        The bytes are h11's: status line, the headers as given (checked with h11's own grammar),
        ``content-length``, and ``Connection: close`` when the client asked to close or spoke
        HTTP/1.0 (h11 says so by ``their_state`` MUST_CLOSE). The next request gets a new
        h11 parser (``_written``)."""
        if self.fed:
            self.closing = self.http.their_state is h11.MUST_CLOSE
        else:  # read without h11 (front_reading.py)
            self.closing = self.request is not None and self.request.close
        if status in (204, 304):
            body = b""  # never a body (h11 refused one)
        head = _response_head(status, headers, len(body), self.closing)
        self._queue(head + body if body else head)
        self._enter(_WRITING, now, self.front.timeouts.write)
        self._flush(now)

    def _answer_timeout(self, now: float) -> None:
        """Go answers a body past its read deadline with an error and closes; so does this, with 408."""
        self.close_after_write = True
        head = b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(
            f"{k}: {v}\r\n".encode("latin-1") for k, v in TIMEOUT_HEADERS
        )
        self._queue(head + f"content-length: {len(TIMEOUT_BODY)}\r\n\r\n".encode() + TIMEOUT_BODY)
        self._enter(_WRITING, now, self.front.timeouts.write or 1.0)
        try:
            self._flush(now)
        except (SSL.Error, OSError):
            self.close()
        self._update_interest()

    def _bad_request(self, exc: h11.RemoteProtocolError, now: float) -> None:
        """Go's server answers a request it cannot parse with a plain 400 and closes."""
        log.debug("malformed request from %s: %s", self.remote_addr, exc)
        if self.http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.close()
            return
        body = b"400 Bad Request"
        head = (
            f"HTTP/1.1 {exc.error_status_hint} Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        self.close_after_write = True
        self._queue(head.encode("latin-1") + body)
        self._enter(_WRITING, now, self.front.timeouts.write or 1.0)
        try:
            self._flush(now)
        except (SSL.Error, OSError):
            self.close()

    # -- writing -----------------------------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        self.out = self.out[self.sent :] + data if self.out else data
        self.sent = 0

    def _flush(self, now: float) -> None:
        out = self.out
        while self.sent < len(out):
            try:
                if not self.sent and len(out) <= _CHUNK:  # nearly every answer: whole, one call
                    self.sent = _send(self.tls, out)
                else:  # a slice of the same buffer, as OpenSSL wants it again after a Want*
                    self.sent += self.tls.send(memoryview(out)[self.sent : self.sent + _CHUNK])
            except SSL.WantWriteError:
                self.want = WRITE
                return
            except SSL.WantReadError:
                self.want = READ
                return
        self.out, self.sent, self.want = b"", 0, READ
        if self.phase is _WRITING:
            self._written(now)

    def _written(self, now: float) -> None:
        """The answer is out: next request on a kept-alive connection, else close. One already
        buffered is taken in the connection's next turn (``resume``), never from here: an answer
        written while its request is served on the reactor would otherwise serve the next
        pipelined request inside this one, and so on, as deep as the client pipelines."""
        if self.close_after_write or self.closing:
            self.close()
            return
        self.request = None
        if not self.fed:  # it came whole, without h11 (front_reading.py): h11 is as new, nothing left over
            self._enter(_IDLE, now, self.front.timeouts.idle)
            if _pending(self.tls):
                self.front.later(self)
            return
        if self.http.their_state is not h11.DONE:
            self.close()
            return
        pending, closed = self.http.trailing_data
        self.http = h11.Connection(h11.SERVER)  # as start_next_cycle, for a response h11 never saw
        self.fed = bool(pending or closed)
        if self.fed:
            self.http.receive_data(pending)
            if closed:
                self.http.receive_data(b"")
        if pending:  # a pipelined request already in
            self.started = now
            self._enter(_HEADERS, now, self.front.timeouts.header)
        else:
            self._enter(_IDLE, now, self.front.timeouts.idle)
        if pending or closed or _pending(self.tls):
            self.front.later(self)

    def _update_interest(self) -> None:
        """Register with the reactor for what the connection waits on now."""
        if self.phase is _CLOSED:
            return
        # Running: nothing is read until the answer is out (a pipelining client waits its turn).
        waiting = self.phase is _HANDSHAKE or self.phase in READING or bool(self.out)
        events = self.want if waiting else 0
        if events != self.interest:
            self.front.watch(self, self.interest, events)
            self.interest = events


# Status lines and header blocks written lately, by status, closing and the headers: answers
# carrying only these headers (the App's base set) are kept, nothing a request could vary.
_ANSWER_NAMES = frozenset({"content-type", "cache-control", "strict-transport-security"})
_HEADS: dict[tuple[int, bool, tuple[tuple[str, str], ...]], bytes] = {}
_MAX_HEADS = 64


def _response_head(status: int, headers: list[tuple[str, str]], length: int, closing: bool) -> bytes:
    """Status line and headers as h11 wrote them; h11's LocalProtocolError for a header it refused."""
    key = (status, closing, tuple(headers))
    start = _HEADS.get(key)
    if start is None:
        try:
            block = header_block(headers, closing)
        except ValueError as exc:
            raise h11.LocalProtocolError(str(exc)) from None
        start = b"HTTP/1.1 %d %s\r\n%s" % (status, REASONS.get(status, b""), block)
        if all(name.lower() in _ANSWER_NAMES for name, _ in headers):
            if len(_HEADS) >= _MAX_HEADS:
                _HEADS.clear()
            _HEADS[key] = start
    if closing:
        return b"%scontent-length: %d\r\nConnection: close\r\n\r\n" % (start, length)
    return b"%scontent-length: %d\r\n\r\n" % (start, length)


def _join_index_states(headers: dict[str, str], raw: list[tuple[bytes, bytes]]) -> None:
    """Vault's clients send each ``X-Vault-Index`` state a request requires as a header of its
    own: all of them count (joined by commas), not the last one only."""
    states = [value.decode("latin-1") for name, value in raw if name == b"x-vault-index"]
    if len(states) > 1:
        headers["x-vault-index"] = ", ".join(states)


def _wanted(exc: SSL.Error) -> int:
    """The readiness OpenSSL waits for before the call that raised ``exc`` can go on."""
    return READ if isinstance(exc, SSL.WantReadError) else WRITE


def _after(now: float, seconds: float | None) -> float | None:
    return None if seconds is None else now + seconds


def _peer_certificates(conn: SSL.Connection, chains: ResumedChains) -> tuple[bytes, ...]:
    """The client's certificate first, then the chain it sent (server side, OpenSSL omits the
    leaf); for a resumed session, which has no chain (None, where a full handshake's is a
    list, empty or not), the one its client sent last with that certificate."""
    leaf = conn.get_peer_certificate()
    if leaf is None:
        return ()
    first = crypto.dump_certificate(crypto.FILETYPE_ASN1, leaf)
    sent = conn.get_peer_cert_chain()
    if sent is None:
        return chains.resumed(first)
    out = [first]
    for cert in sent:
        der = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
        if der != first:
            out.append(der)
    chain = tuple(out)
    chains.presented(chain)
    return chain

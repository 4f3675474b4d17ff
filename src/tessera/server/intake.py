"""Request bodies are read before a request reaches the runner, so that a slow client holds up nobody.

granian hands a request to Python on one of its threads as soon as the headers are in; the body
is read through ``wsgi.input``, which blocks (in Rust, without the GIL) until the bytes arrive,
and is gone once that call returns. When granian's single thread was the runner, one client
sending 1 of 1,000 announced bytes stopped every other request for as long as it liked. So
granian's threads are now the *intake*: many of them, each taking a request, reading its body
if it has one (the methods Vault never reads one for, and an announced length of 0, have none
to wait for), and handing the complete request to the runner (``server/dispatch.py``). A slow
client costs one intake thread, blocked in Rust, and a socket.

``http_read_timeout`` bounds the read: when it runs out the client gets a 408 and the connection
is closed, which ends the blocked read (the reference answers a 500 with Go's "i/o timeout"
error; the timeout is the client's, not a server error). Bodies of a known length are collected
in one call, which ends on the first error: granian's sized reads retry a reset HTTP/2 stream
forever, a thread spinning at 100% CPU (the runner, when the runner read bodies).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

from .render import BASE_HEADERS_STR, error_body

log = logging.getLogger("tessera.http")

# Vault reads a body only for writes; for these methods it is ignored, so it is never waited for.
BODILESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "LIST", "OPTIONS", "SCAN", "HELP"})
READ_CHUNK = 65536

TIMEOUT_HEADERS = [*BASE_HEADERS_STR, ("connection", "close")]
TIMEOUT_BODY = error_body(["i/o timeout reading the request body"])
BUSY_BODY = error_body(["too many request bodies being read; try again"])
FLUSH_PAUSE = 0.1  # seconds a timed-out answer waits for hyper to write it before the cut


def body_expected(method: str, scope: dict[str, Any]) -> bool:
    """Whether the request may carry a body worth waiting for."""
    if method in BODILESS_METHODS:
        return False
    length = scope.get("CONTENT_LENGTH")
    if length is not None:
        return length.strip() != "0"
    # HTTP/1 without a length has a body only when chunked; HTTP/2 may stream one without.
    return "HTTP_TRANSFER_ENCODING" in scope or scope.get("SERVER_PROTOCOL") == "HTTP/2"


def read_body(stream: Any, length: str | None, limit: int, *, http2: bool = False) -> bytes | None:
    """The whole body, or None when it is (or is announced) larger than ``limit``.

    HTTP/2 bodies are always collected in one call: an HTTP/2 stream cut off by its client
    errors at every later read, and granian's sized reads retry errors forever.
    """
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size > limit:
            return None  # refused before a byte is read
        if size >= 0:
            return bytes(stream.read())  # hyper stops at the announced length
    if http2:
        body = bytes(stream.read())
        return body if len(body) <= limit else None
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)


class ReadWatch:
    """Bodies being read, and one thread that answers those past ``http_read_timeout`` with a 408.

    Whoever takes a read out of the table answers it: the reading thread when the body is in,
    the watch when time is up (``dict.pop`` is atomic, so exactly one of them gets it). The
    watch looks once a second: Vault's timeouts are whole seconds.

    Each read holds one of granian's threads. Past ``max_reads`` at once, a new request with a
    body is answered 503 at once, unread, so that some threads are always left for everyone
    else: a crowd of slow bodies then costs writes a retry, never the whole server.
    """

    def __init__(self, timeout: int, max_reads: int = 0) -> None:
        self.timeout = timeout
        self.max_reads = max_reads  # 0: no cap
        self._reads: dict[int, tuple[float, Any]] = {}
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def read(
        self, proto: Any, stream: Any, length: str | None, limit: int, *, http2: bool = False
    ) -> bytes | Answered | None:
        """The body (None: too large), or ANSWERED when the client has had its answer already."""
        if self.max_reads and len(self._reads) >= self.max_reads:
            _answer_busy(proto)
            return ANSWERED
        if self.timeout > 0 and self._thread is None:
            self._start()
        key = next(self._ids)
        self._reads[key] = (time.monotonic() + self.timeout if self.timeout > 0 else math.inf, proto)
        try:
            body = read_body(stream, length, limit, http2=http2)
        finally:
            taken = self._reads.pop(key, None)
        return body if taken is not None else ANSWERED

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="tessera-read-watch", daemon=True)
                self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            for key, (deadline, _) in list(self._reads.items()):
                if deadline <= now:
                    entry = self._reads.pop(key, None)
                    if entry is not None:  # answered on a thread of its own: see _answer_timeout
                        threading.Thread(target=_answer_timeout, args=(entry[1],), daemon=True).start()

    def close(self) -> None:
        self._stop.set()


class Answered:
    """The request was answered without its body: a 408 (too slow) or a 503 (too many reads)."""


ANSWERED = Answered()


def _answer_busy(proto: Any) -> None:
    """Too many bodies being read at once: 503, unread (the connection closes with the request)."""
    proto.response_bytes(503, TIMEOUT_HEADERS, BUSY_BODY)


def _answer_timeout(proto: Any) -> None:
    """The body did not arrive in time: a 408, and the connection is cut.

    hyper would keep the connection (and the thread blocked reading its body) for as long as the
    client likes, ``Connection: close`` or not: it closes a connection only once the request body
    is done. It does abort one whose answer ends short of its announced length, and dropping the
    connection ends the blocked read. So the 408 announces one byte more than it sends, and ends
    only after a pause that lets hyper write what it has (ended at once, the connection was cut
    before the status left): the client has the status and the error, then the connection closes
    (Go's answer, a 500, ends the same way).
    """

    def body() -> Iterator[bytes]:
        yield TIMEOUT_BODY
        time.sleep(FLUSH_PAUSE)  # on this answer's own thread, without the GIL

    try:
        headers = [*TIMEOUT_HEADERS, ("content-length", str(len(TIMEOUT_BODY) + 1))]
        proto.response_iter(408, headers, body())
    except Exception:
        log.exception("answering a request whose body timed out")

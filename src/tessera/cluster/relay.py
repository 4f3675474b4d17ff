"""The relay: forwarded requests in flight, and the one thread that sends their answers back."""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import Any

from ..runtime.scheduling import wake_promptly

log = logging.getLogger("tessera.worker")

_NOT_RELAYED = frozenset(
    {"content-length", "connection", "keep-alive", "transfer-encoding", "date", "server"}
)


class Relay:
    """Forwarded requests in flight, and the one thread that sends their answers back.

    The runner writes a request on an idle kept-alive connection to the active process and goes
    on; this thread waits on all the connections at once (epoll) and answers each client as its
    answer completes. One thread instead of one per request in flight: with a thread per
    request, every answer woke its own thread, and their turns at the GIL cost more CPU than the
    request itself.
    """

    def __init__(self, address: tuple[str, int], unreachable: tuple[list[tuple[str, str]], bytes]) -> None:
        self.address = address
        self.unreachable = unreachable  # the answer when the active process cannot be reached
        self._idle: list[socket.socket] = []
        self._busy: dict[int, _InFlight] = {}
        self._epoll = select.epoll()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, proto: Any, request: bytes, head: bool) -> None:
        self._start()
        for attempt in (1, 2):  # an idle connection the active process has closed: a new one
            try:
                sock = self._idle.pop() if self._idle and attempt == 1 else self._connect()
            except OSError as exc:
                self._fail(proto, exc)
                return
            try:
                sock.sendall(request)
            except OSError as exc:
                sock.close()
                if attempt == 2:
                    self._fail(proto, exc)
                    return
                continue
            self._busy[sock.fileno()] = _InFlight(sock, proto, request, head)
            self._epoll.register(sock.fileno(), select.EPOLLIN)
            return

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=300)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="tessera-relay", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        wake_promptly()  # each wake-up sends a client its answer
        while True:
            for fd, _ in self._epoll.poll():
                flight = self._busy.get(fd)
                if flight is None:
                    continue
                try:
                    self._readable(fd, flight)
                except Exception:  # one bad exchange must not stop every later one
                    log.exception("relaying an answer from the active process failed")
                    self._drop(fd, flight)

    def _readable(self, fd: int, flight: _InFlight) -> None:
        try:
            chunk = flight.sock.recv(262144)
        except OSError:
            chunk = b""
        if chunk:
            flight.buf += chunk
            try:
                answer = _parse(flight.buf, flight.head)
            except ValueError as exc:
                answer = None
                self._drop(fd, flight)
                self._fail(flight.proto, exc)
                return
            if answer is None:
                return  # more to come
            self._epoll.unregister(fd)
            del self._busy[fd]
            self._idle.append(flight.sock)
            status, relayed, payload = answer
            flight.proto.response_bytes(status, relayed, payload)
            return
        self._drop(fd, flight)
        if not flight.buf and not flight.retried:  # closed before answering: once more
            try:
                sock = self._connect()
                sock.sendall(flight.request)
            except OSError as exc:
                self._fail(flight.proto, exc)
                return
            flight.sock, flight.retried = sock, True
            self._busy[sock.fileno()] = flight
            self._epoll.register(sock.fileno(), select.EPOLLIN)
            return
        self._fail(flight.proto, ConnectionError("the active process closed the connection"))

    def _fail(self, proto: Any, exc: BaseException) -> None:
        log.error("forwarding a request to the active process failed: %s", exc)
        headers, body = self.unreachable
        proto.response_bytes(500, headers, body)

    def _drop(self, fd: int, flight: _InFlight) -> None:
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass
        self._busy.pop(fd, None)
        flight.sock.close()


class _InFlight:
    __slots__ = ("buf", "head", "proto", "request", "retried", "sock")

    def __init__(self, sock: socket.socket, proto: Any, request: bytes, head: bool) -> None:
        self.sock = sock
        self.proto = proto
        self.request = request
        self.head = head
        self.buf = b""
        self.retried = False


def _parse(buf: bytes, head: bool) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """The answer in ``buf`` once complete, else None.

    A small parser on purpose: the other end is always Tessera's own listener (granian), whose
    answers carry a content-length or are chunked.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    rest = buf[end + 4 :]
    status = int(lines[0].split(" ", 2)[1])
    relayed: list[tuple[str, str]] = []
    length = -1
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        if name not in _NOT_RELAYED:
            relayed.append((name, value))
    if head or status in (204, 304) or 100 <= status < 200:
        return status, relayed, b""
    if chunked:
        body = _dechunk(rest)
        return None if body is None else (status, relayed, body)
    if length < 0:
        raise ValueError("an answer with neither content-length nor chunks")
    return None if len(rest) < length else (status, relayed, rest[:length])


def _dechunk(buf: bytes) -> bytes | None:
    out = bytearray()
    while True:
        line_end = buf.find(b"\r\n")
        if line_end < 0:
            return None
        size = int(buf[:line_end].split(b";", 1)[0], 16)
        start = line_end + 2
        if size == 0:
            return bytes(out) if len(buf) >= start + 2 else None  # the last CRLF (no trailers)
        if len(buf) < start + size + 2:
            return None
        out += buf[start : start + size]
        buf = buf[start + size + 2 :]

"""A worker process's side of a request: serve it here, or hand it to the active process.

Served here (``Standby.ready``) once the worker has caught up with the change feed and holds the
keyring of the active process's current unseal. Handed over, as Vault's performance standbys
forward to their active node:

- everything under ``sys/`` (seal state, mounts, policies, leases: the active process's business);
- every request while the active process is sealed, while this worker waits for its keyring,
  and while audit devices or rate-limit quotas are configured (each request audited and counted
  once, by one process);
- a request that tried to write: the storage refused it (:class:`StandbyWrite`) before anything
  reached disk, the worker reloads its state (the attempt may have touched in-memory caches) and
  the request goes to the active process, which runs it from the start. Routes seen writing go
  straight there afterwards, except one request in ``PROBE_EVERY`` that is tried here again, so a
  route that writes only sometimes (``auth/token/create`` makes batch and service tokens) comes
  back once it stops.

The active process learns the client's address and scheme from headers that only its internal
listener accepts, and only with the secret the two share (``server/workers.py``).
"""

from __future__ import annotations

import gc
import hmac
import logging
import select
import socket
import threading
import time
from typing import Any

from ..core import standby as standby_state
from ..core.barrier import Keyring
from ..core.core import Core
from ..framework.backend import Backend
from ..runtime.scheduling import wake_promptly
from ..storage.changefeed import SharedState
from ..storage.sqlite_reader import SQLiteReader, StandbyWrite
from .peer import PeerTLS
from .render import BASE_HEADERS_STR, error_body

log = logging.getLogger("tessera.worker")

FORWARD_HEADER = "x-tessera-forward"
CLIENT_HEADER = "x-tessera-client"
TLS_HEADER = "x-tessera-tls"
PEER_CERTS_HEADER = "x-tessera-peer-certificates"
PROBE_EVERY = 64  # requests of a writing route per local try, doubling up to PROBE_MAX
PROBE_MAX = 256
_MAX_ROUTES = 4096
# Headers that belong to one connection, or that the client library sets again.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "host",
        "te",
        "upgrade",
        FORWARD_HEADER,
        CLIENT_HEADER,
        TLS_HEADER,
        PEER_CERTS_HEADER,
    }
)
_NOT_RELAYED = frozenset(
    {"content-length", "connection", "keep-alive", "transfer-encoding", "date", "server"}
)
NO_ACTIVE = "local node not active but active cluster node not found"


class Standby:
    """The worker's state of sync with the active process, and its way to it."""

    def __init__(
        self,
        core: Core,
        physical: SQLiteReader,
        shared: SharedState,
        internal: str,
        secret: str,
        slot: int = -1,
    ) -> None:
        self.core = core
        self.slot = slot  # where this worker reports what it has seen (changefeed.py)
        self.physical = physical
        self.shared = shared
        host, _, port = internal.rpartition(":")
        self.internal = (host, int(port))
        self.secret = secret
        self.epoch = 0  # the unseal whose keyring this worker holds (0: none)
        self.seen = 0  # the newest change applied
        self._offered: tuple[int, bytes] | None = None  # (epoch, serialized keyring) from the pipe
        self._offer_lock = threading.Lock()
        self._writers: dict[tuple[str, str], list[int]] = {}  # writing routes -> [since, interval]
        self.relay = Relay(self.internal)
        self._retry_at = 0.0

    # -- keeping up ----------------------------------------------------------------------------
    def offer_keyring(self, epoch: int, keyring: bytes) -> None:
        """From the pipe thread: the keyring of the active process's unseal ``epoch``."""
        with self._offer_lock:
            self._offered = (epoch, keyring)
        # Built here, now, rather than by the first request that finds the new epoch: the first
        # build imports the backends' modules and collects garbage (~250 ms measured), which the
        # runner would spend with requests waiting behind it.
        try:
            self._follow(epoch)
        except Exception:
            log.exception("worker could not build its state; the next request tries again")

    def ready(self, method: str, path: str) -> bool:
        """Catch up with the active process; whether this request may be served here."""
        with self.core.state_lock:  # no request runs meanwhile (App._answer holds it too)
            return self._ready(method, path)

    def _ready(self, method: str, path: str) -> bool:
        seq, epoch = self.shared.read()
        try:
            if epoch != self.epoch:
                if time.monotonic() < self._retry_at:
                    return False
                self._follow(epoch)
                if epoch != self.epoch or not epoch:
                    return False
            if not epoch:
                return False
            if seq != self.seen:
                self._catch_up()
        except (Exception, StandbyWrite):
            # State this worker cannot build from storage (yet): hand everything over, seal, and
            # try again from the keyring in a second.
            log.exception("worker could not catch up with the active process; forwarding meanwhile")
            self._retry_at = time.monotonic() + 1.0
            with self.core.state_lock:
                if not self.core.sealed:
                    self.core.seal()
                self.epoch = 0
            return False
        if self.core.standby_forward_all or path.startswith("/v1/sys/") or path == "/v1/sys":
            return False
        state = self._writers.get((method, path))
        if state is None:
            return True
        state[0] += 1
        return state[0] % state[1] == 0  # the probe: tried here again

    def _follow(self, epoch: int) -> None:
        """The active process sealed (epoch 0) or unsealed again: drop the keys, take the new ones."""
        core = self.core
        with core.state_lock:
            if epoch and epoch == self.epoch:
                return  # built meanwhile by the other thread
            if not core.sealed:
                core.seal()
            self.epoch = 0
            with self._offer_lock:
                offered = self._offered
            if not epoch or offered is None or offered[0] != epoch:
                return  # forwarded until the keyring of this unseal arrives
            core.barrier.install_keyring(Keyring.deserialize(offered[1]))
            self.seen = self.shared.read()[0]
            standby_state.build_state(core)
            self.shared.publish_seen(self.slot, self.seen)
            self.epoch = epoch
        # As the active process does once started: what the unseal built lives on, and the
        # collector's full passes need not walk it (tens of ms per pass otherwise).
        gc.collect()
        gc.freeze()

    def _catch_up(self) -> None:
        rows = self.physical.changes_since(self.seen)
        if not rows:
            return
        if rows[0][0] != self.seen + 1:
            self.reload()  # the log was pruned past what this worker saw
        else:
            standby_state.apply_changes(self.core, (key for _, key in rows))
        self.seen = rows[-1][0]
        self.shared.publish_seen(self.slot, self.seen)

    def reload(self) -> None:
        started = time.perf_counter()
        standby_state.reload(self.core)
        log.info("worker reloaded its state in %.1f ms", (time.perf_counter() - started) * 1000)

    # -- writes --------------------------------------------------------------------------------
    def wrote(self, method: str, path: str) -> None:
        """The request tried to write: remember the route, and drop what it may have touched.

        Stores write before they remember (token entries, entities, leases), so a refused write
        leaves no entry behind; the token cache is dropped anyway, which costs a read or two. A
        mount whose backend keeps nothing of its storage in memory needs nothing more; any other
        (transit changes its cached key before saving it) is rebuilt with everything else.
        """
        writers = self._writers
        state = writers.get((method, path))
        if state is None:
            if len(writers) >= _MAX_ROUTES:
                writers.clear()
            writers[(method, path)] = [0, PROBE_EVERY]
        else:
            state[0], state[1] = 0, min(state[1] * 2, PROBE_MAX)  # writes still: probe less often
        core = self.core
        if core.tokens is not None:
            core.tokens.invalidate()
        route = core.router.match(path[4:]) if path.startswith("/v1/") else None
        if route is None or (
            route.backend.invalidate is not Backend.keeps_nothing and route.entry.type != "token"
        ):
            self.reload()

    def served(self, method: str, path: str) -> None:
        """Served here without writing: a route probed after it wrote is served here again."""
        self._writers.pop((method, path), None)

    # -- handing over --------------------------------------------------------------------------
    def forward(
        self,
        proto: Any,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes | None,
        remote_addr: str,
        tls: bool,
    ) -> int:
        """Send the request to the active process; its answer goes out from the relay thread."""
        target = raw_path + ("?" + query_string.decode("latin-1") if query_string else "")
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.internal[0]}:{self.internal[1]}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k not in _HOP]
        lines += [
            f"{FORWARD_HEADER}: {self.secret}",
            f"{CLIENT_HEADER}: {remote_addr}",
            f"{TLS_HEADER}: {'1' if tls else '0'}",
            f"content-length: {len(body or b'')}",
        ]
        if isinstance(tls, PeerTLS) and tls.peer_certificates:  # for the cert auth method
            lines.append(f"{PEER_CERTS_HEADER}: {tls.header_value()}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        self.relay.send(proto, request, method == "HEAD")
        return 0


class Relay:
    """Forwarded requests in flight, and the one thread that sends their answers back.

    The runner writes a request on an idle kept-alive connection to the active process and goes
    on; this thread waits on all the connections at once (epoll) and answers each client as its
    answer completes. One thread instead of one per request in flight: with a thread per
    request, every answer woke its own thread, and their turns at the GIL cost more CPU than the
    request itself.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
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
                _fail(proto, exc)
                return
            try:
                sock.sendall(request)
            except OSError as exc:
                sock.close()
                if attempt == 2:
                    _fail(proto, exc)
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
                _fail(flight.proto, exc)
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
                _fail(flight.proto, exc)
                return
            flight.sock, flight.retried = sock, True
            self._busy[sock.fileno()] = flight
            self._epoll.register(sock.fileno(), select.EPOLLIN)
            return
        _fail(flight.proto, ConnectionError("the active process closed the connection"))

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


def _fail(proto: Any, exc: BaseException) -> None:
    log.error("forwarding a request to the active process failed: %s", exc)
    proto.response_bytes(500, BASE_HEADERS_STR, error_body([NO_ACTIVE]))


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


def forwarded_client(headers: dict[str, str], secret: str) -> tuple[str, bool | PeerTLS] | None:
    """On the active process's internal listener: the original client's (address, TLS), if the
    request carries the workers' secret. The headers are removed either way."""
    given = headers.pop(FORWARD_HEADER, None)
    client = headers.pop(CLIENT_HEADER, None)
    tls = headers.pop(TLS_HEADER, None)
    certs = headers.pop(PEER_CERTS_HEADER, None)
    if given is None or not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return None
    if tls == "1" and certs:
        return client or "127.0.0.1", PeerTLS.from_header(certs)
    return client or "127.0.0.1", tls == "1"

"""A TLS listener that asks for client certificates and hands them to the request.

Vault's listener *requests* a client certificate on every TLS handshake without verifying it
(Go's ``tls.RequestClientCert``); the ``cert`` auth method verifies it later against its own
trusted certificates. granian terminates TLS in Rust (rustls) and gives Python neither the
peer's certificate nor a way to accept one it cannot verify, so a listener that requests client
certificates is served here instead. Vault asks by default; Tessera asks only when the listener sets
``tls_disable_client_certs = false``, and otherwise keeps granian's TLS, which is faster, speaks
HTTP/2 and guards against slow and idle clients. (granian's open pull request #854 would put
the chain in the ASGI scope, but only on its ASGI interface and only for certificates its own
``ssl_ca`` verified: the cert method's CAs and pinned certificates could still not log in.)

- pyOpenSSL does the handshake (the stdlib ``ssl`` module can only ask for a certificate it
  then verifies against a fixed CA list: it has no verify callback);
- h11 parses HTTP/1.1 (keep-alive, chunked bodies);
- each request goes to :meth:`App._answer` with a :class:`PeerTLS` for ``tls``, the
  certificates the client presented (DER), so ``req.peer_certificates`` holds them.

``tls_require_and_verify_client_cert`` verifies against ``tls_client_ca_file`` during the
handshake, as Vault's listener does.

Hostile clients: one reactor thread (``selectors``) does every handshake and reads every request,
headers and whole body, with the listener's timeouts as Go applies them
(``server/front_connection.py``); only complete requests are served. Where granian's listener has
a runner thread (``server/dispatch.py``), the reactor thread is the runner: it serves a complete
request itself and writes the answer then and there, with routes that run long still handed to
the side pool, whose answers come back through :meth:`TLSFrontServer.delivered` and a wake-up
socket. Handing every request to a separate runner thread and its answer back cost two thread
switches per request (issue 24). On PostgreSQL without the run gate, requests go to a pool of
``TESSERA_HTTP_THREADS`` threads. A silent, slow or idle client costs a socket, not a thread.
At ``max_connections`` (by default what the open-file limit allows) a new connection sheds the
oldest one waiting on its client (idle first), so idle sockets never lock others out. It replaced
a thread per connection: a thread per idle socket, no timeouts but a fixed idle one, and requests
running on threads that took turns (``bench/front_flood.py`` compares).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from OpenSSL import SSL

from ..framework.body import MAX_REQUEST_SIZE
from .app import App
from .config import ListenerConfig
from .dispatch import dispatcher_for, gate_for, request_threads, route_or_500
from .fdlimit import connection_cap
from .front_connection import WAITING, FrontConnection, Phase, Timeouts
from .peer import ResumedChains

log = logging.getLogger("tessera.server")

SWEEP = 0.25  # seconds between deadline sweeps (Vault's timeouts are whole seconds)
ACCEPT_PAUSE = 0.1  # seconds the listener rests when accept fails (out of file descriptors)
_ACCEPTS_PER_TURN = 64
_SHED_ORDER = {Phase.IDLE: 0, Phase.HANDSHAKE: 1, Phase.HEADERS: 2}


def tls_context(listener: ListenerConfig) -> SSL.Context:
    """The server context: the listener's key pair and minimum version, client certificates asked for."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(
        SSL.TLS1_3_VERSION if listener.tls_min_version == "tls13" else SSL.TLS1_2_VERSION
    )
    ctx.use_certificate_chain_file(listener.tls_cert_file)
    ctx.use_privatekey_file(listener.tls_key_file)
    ctx.check_privatekey()
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
    ctx.set_session_id(b"tessera")
    if listener.tls_require_and_verify_client_cert:
        if listener.tls_client_ca_file:
            ctx.load_verify_locations(listener.tls_client_ca_file)
        else:
            ctx.set_default_verify_paths()
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda _c, _x, _e, _d, ok: bool(ok))
    else:
        # RequestClientCert: whatever the client sends is accepted here and judged by auth methods.
        ctx.set_verify(SSL.VERIFY_PEER, lambda *_args: True)
    return ctx


class TLSFrontServer:
    """One listener: ``await serve()`` runs it, ``stop()`` ends it (the embedded-server interface)."""

    def __init__(
        self, app: Any, host: str, port: int, listener: ListenerConfig, context: SSL.Context | None = None
    ) -> None:
        self.app = app
        self.context = context if context is not None else tls_context(listener)
        self.timeouts = Timeouts.of(listener)
        self.chains = ResumedChains()  # for resumed sessions (peer.py)
        self.cap = connection_cap(listener.max_connections)
        self.max_request_size = getattr(app, "max_request_size", MAX_REQUEST_SIZE)
        # SO_REUSEPORT as granian binds: worker processes share the listener (cluster/pool.py).
        self.sock = socket.create_server((host, port), backlog=1024, reuse_port=True)
        self.sock.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._wake_r)
        self.pool = ThreadPoolExecutor(max_workers=request_threads(), thread_name_prefix="tessera-tls-req")
        self.inline = self._serve_as_runner(app)
        self.connections: dict[int, FrontConnection] = {}
        self._answers: collections.deque[tuple[FrontConnection, int, Any, bytes]] = collections.deque()
        self._later: collections.deque[FrontConnection] = collections.deque()  # see FrontConnection.resume
        self._reactor_thread = 0  # its ident, once running: answers made there are written at once
        self._accept_paused_until = 0.0
        self.stopped = threading.Event()
        app.set_inline()  # requests run on the reactor or pool threads (App._drive needs no loop)

    def _serve_as_runner(self, app: Any) -> bool:
        """On local storage, complete requests are served as granian's are: the run gate, one
        runner thread and its side pool for long routes (``server/dispatch.py``), which cost
        about half the CPU per request of threads taking turns; the reactor thread is that
        runner (True). Elsewhere (PostgreSQL) the front's pool (False)."""
        if type(app) is not App:
            return False
        app.gate = gate_for(app)
        app.dispatcher = dispatcher_for(app)
        return app.dispatcher is not None

    async def serve(self) -> None:
        reactor = threading.Thread(target=self._reactor, name="tessera-tls-front", daemon=True)
        reactor.start()
        await asyncio.get_running_loop().run_in_executor(None, self.stopped.wait)

    def stop(self) -> None:
        self.stopped.set()
        self._wake()

    # -- used by connections ---------------------------------------------------------------------

    def handshake_context(self) -> SSL.Context:
        """The context a new connection's handshake uses."""
        return self.context

    def run(self, args: tuple[Any, ...]) -> None:
        """A complete request (``args`` as ``App._route`` takes them), on the reactor thread: served
        here as the runner would (the dispatcher may hand it to its side pool), else in the pool."""
        if self.inline:
            self._route(args)
        else:
            self.pool.submit(self._route, args)

    def _route(self, args: tuple[Any, ...]) -> None:
        route_or_500(self.app, args)

    def delivered(self, conn: FrontConnection, status: int, headers: Any, body: bytes) -> None:
        """An answer, from any thread, for the reactor to write: at once when this is the reactor
        (a request it served), else queued for it and the reactor woken."""
        if threading.get_ident() == self._reactor_thread:
            self._deliver(conn, status, headers, body, time.monotonic())
            return
        self._answers.append((conn, status, headers, body))
        self._wake()

    def later(self, conn: FrontConnection) -> None:
        """``conn`` has a request buffered already: it gets a turn after the others' (``resume``)."""
        if not conn.queued:
            conn.queued = True
            self._later.append(conn)

    def watch(self, conn: FrontConnection, old: int, new: int) -> None:
        fd = conn.sock.fileno()
        if old and new:
            self.selector.modify(fd, new, conn)
        elif new:
            self.selector.register(fd, new, conn)
        elif old:
            self.selector.unregister(fd)

    def forget(self, conn: FrontConnection) -> None:
        if conn.interest:
            try:
                self.selector.unregister(conn.sock.fileno())
            except (KeyError, ValueError, OSError):
                pass
            conn.interest = 0
        self.connections.pop(id(conn), None)

    # -- the reactor -----------------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake (buffer full), or closed

    def _reactor(self) -> None:
        self._reactor_thread = threading.get_ident()
        next_sweep = time.monotonic() + SWEEP
        try:
            while not self.stopped.is_set():
                next_sweep = self._turn(next_sweep)
        except Exception:
            log.exception("TLS listener failed")
        finally:
            self._shut()

    def _turn(self, next_sweep: float) -> float:
        """One wait for readiness and what it brings; the time of the next deadline sweep.
        (A turn of its own so that ``bench/cert_instructions.py`` can count turns alone.)"""
        for key, _mask in self.selector.select(0 if self._later else SWEEP):
            now = time.monotonic()
            if key.data is None:
                self._accept(now)
            elif key.data is self._wake_r:
                self._drain_wakes(now)
            else:
                self._ready(key.data, now)
        now = time.monotonic()
        if self._later:
            self._resume_queued(now)
        if now >= next_sweep:
            self._sweep(now)
            next_sweep = now + SWEEP
        return next_sweep

    def _ready(self, conn: FrontConnection, now: float) -> None:
        """One connection's turn; a failure ends that connection, never the listener."""
        try:
            conn.ready(now)
        except Exception:
            log.exception("TLS connection from %s failed", conn.remote_addr)
            conn.close()

    def _resume_queued(self, now: float) -> None:
        """The turns ``later`` queued; a connection queued again meanwhile waits for the next round."""
        for _ in range(len(self._later)):
            conn = self._later.popleft()
            if conn.phase is not Phase.CLOSED:
                try:
                    conn.resume(now)
                except Exception:
                    log.exception("TLS connection from %s failed", conn.remote_addr)
                    conn.close()

    def _drain_wakes(self, now: float) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._answers:
            conn, status, headers, body = self._answers.popleft()
            self._deliver(conn, status, headers, body, now)

    def _deliver(self, conn: FrontConnection, status: int, headers: Any, body: bytes, now: float) -> None:
        try:
            conn.deliver(status, headers, body, now)
        except Exception:
            log.exception("answering a TLS request from %s failed", conn.remote_addr)
            conn.close()

    def _accept(self, now: float) -> None:
        for _ in range(_ACCEPTS_PER_TURN):
            try:
                sock, addr = self.sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("TLS listener: accept failed: %s", exc)  # e.g. out of file descriptors
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._shed(now):
                    continue
                self.selector.unregister(self.sock)  # not a busy loop while the condition lasts
                self._accept_paused_until = now + ACCEPT_PAUSE
                return
            if len(self.connections) >= self.cap and not self._shed(now):
                log.warning("TLS listener: %d connections busy, closing a new one", self.cap)
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = FrontConnection(self, sock, addr[0], now)
            self.connections[id(conn)] = conn
            self._ready(conn, now)  # registers it; a client may have sent its hello already

    def _shed(self, now: float) -> bool:
        """Close the connection that has waited longest on its client (idle ones first)."""
        waiting = [c for c in self.connections.values() if c.phase in WAITING]
        if not waiting:
            return False
        victim = min(waiting, key=lambda c: (_SHED_ORDER[c.phase], c.since))
        log.debug(
            "TLS listener: at %d connections, closing one %s since %.1fs",
            self.cap,
            victim.phase.value,
            now - victim.since,
        )
        victim.close()
        return True

    def _sweep(self, now: float) -> None:
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self.selector.register(self.sock, selectors.EVENT_READ, None)
        for conn in list(self.connections.values()):
            if conn.deadline is not None and now >= conn.deadline:
                conn.expire(now)

    def _shut(self) -> None:
        for conn in list(self.connections.values()):
            conn.close()
        self.pool.shutdown(wait=False)
        if self.app.dispatcher is not None:
            self.app.dispatcher.pool.close()
        for sock in (self.sock, self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass
        self.selector.close()
        self.stopped.set()

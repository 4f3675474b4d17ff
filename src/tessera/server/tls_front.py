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
- h11 parses HTTP/1.1 (keep-alive, chunked bodies), one thread per connection;
- each request goes to :meth:`App._answer` with a :class:`PeerTLS` for ``tls``, the
  certificates the client presented (DER), so ``req.peer_certificates`` holds them.

``tls_require_and_verify_client_cert`` verifies against ``tls_client_ca_file`` during the
handshake, as Vault's listener does.
"""

from __future__ import annotations

import asyncio
import errno
import http
import logging
import socket
import struct
import threading
from typing import Any
from urllib.parse import unquote

import h11
from OpenSSL import SSL, crypto

from .body import MAX_REQUEST_SIZE
from .config import ListenerConfig
from .peer import PeerTLS

log = logging.getLogger("tessera.server")

MAX_CONNECTIONS = 1024  # open connections (one thread each); more are closed at once, as a full backlog would
IDLE_TIMEOUT = 90  # seconds a keep-alive connection may wait for its next request (Go's IdleTimeout-ish)
_READ = 65536


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

    def __init__(self, app: Any, host: str, port: int, listener: ListenerConfig) -> None:
        self.app = app
        self.context = tls_context(listener)
        self.max_request_size = getattr(app, "max_request_size", MAX_REQUEST_SIZE)
        # SO_REUSEPORT as granian binds: worker processes share the listener (server/workers.py).
        self.sock = socket.create_server((host, port), backlog=1024, reuse_port=True)
        self.stopped = threading.Event()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        app.set_inline()  # requests run on the connection's thread (App._drive needs no loop)

    async def serve(self) -> None:
        accept = threading.Thread(target=self._accept_loop, name="tessera-tls-accept", daemon=True)
        accept.start()
        await asyncio.get_running_loop().run_in_executor(None, self.stopped.wait)

    def stop(self) -> None:
        self.stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, addr = self.sock.accept()
            except OSError as exc:
                if self.stopped.is_set():
                    return
                log.warning("TLS listener: accept failed: %s", exc)  # e.g. out of file descriptors
                self.stopped.wait(0.1)  # not a busy loop while the condition lasts
                continue
            if not self.slots.acquire(blocking=False):
                log.warning("TLS listener: %d connections open, closing a new one", MAX_CONNECTIONS)
                conn.close()
                continue
            worker = _Connection(self, conn, addr[0])
            threading.Thread(target=worker.run, name="tessera-tls-conn", daemon=True).start()


class _Reply:
    """The ``proto`` App._answer writes to; the answer may come from the storage's syncer thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.done.set()


class _Connection:
    """One client connection: handshake, then requests one after another until either side closes."""

    def __init__(self, server: TLSFrontServer, sock: socket.socket, remote_addr: str) -> None:
        self.server = server
        self.sock = sock
        self.remote_addr = remote_addr
        self.tls = SSL.Connection(server.context, sock)
        self.http = h11.Connection(h11.SERVER)
        self.peer = PeerTLS()

    def run(self) -> None:
        # A kernel receive timeout keeps the socket blocking for OpenSSL but ends idle connections.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", IDLE_TIMEOUT, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.tls.set_accept_state()
            self._handshake()
            self.peer = PeerTLS(_peer_certificates(self.tls))
            while self._one_request():
                self.http.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            self._bad_request(exc)
        except (SSL.Error, OSError, h11.ProtocolError) as exc:
            log.debug("TLS connection from %s ended: %s", self.remote_addr, exc)
        except Exception:
            log.exception("TLS connection from %s failed", self.remote_addr)
        finally:
            self._close()
            self.server.slots.release()

    def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        """Go's server answers a request it cannot parse with a plain 400 and closes."""
        log.debug("malformed request from %s: %s", self.remote_addr, exc)
        if self.http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        try:
            body = b"400 Bad Request"
            head = h11.Response(
                status_code=exc.error_status_hint,
                headers=[
                    ("content-type", "text/plain; charset=utf-8"),
                    ("connection", "close"),
                    ("content-length", str(len(body))),
                ],
                reason=b"Bad Request",
            )
            self._sendall(
                self.http.send(head)
                + self.http.send(h11.Data(data=body))
                + self.http.send(h11.EndOfMessage())
            )
        except (SSL.Error, OSError, h11.ProtocolError):
            pass

    def _next_event(self) -> Any:
        while True:
            event = self.http.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.http.they_are_waiting_for_100_continue:
                self._sendall(self.http.send(h11.InformationalResponse(status_code=100, headers=[])))
            self.http.receive_data(self._recv())

    def _one_request(self) -> bool:
        """Serve one request; False when the connection is done."""
        event = self._next_event()
        if not isinstance(event, h11.Request):
            return False
        body, too_large = bytearray(), False
        while True:
            part = self._next_event()
            if isinstance(part, h11.Data):
                # Past the limit the rest is read and dropped (memory stays bounded), so that the
                # client, still sending, does get its 413 rather than a reset connection.
                too_large = too_large or len(body) + len(part.data) > self.server.max_request_size
                if too_large:
                    body.clear()
                else:
                    body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return False
        reply = _Reply()
        self._answer(event, None if too_large else bytes(body), reply)
        reply.done.wait()
        self._send(event.method, reply)
        return self.http.our_state is h11.DONE and self.http.their_state is h11.DONE  # else: close

    def _answer(self, request: h11.Request, body: bytes | None, reply: _Reply) -> None:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers}
        self.server.app._answer(
            reply,
            request.method.decode("ascii").upper(),
            unquote(path, errors="replace"),
            query.encode("latin-1"),
            headers,
            body,
            self.remote_addr,
            self.peer,
        )

    def _handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                return
            except SSL.SysCallError as exc:
                if exc.args[0] != errno.EINTR:
                    raise

    def _recv(self) -> bytes:
        while True:
            try:
                return self.tls.recv(_READ)
            except SSL.ZeroReturnError:
                return b""
            except SSL.SysCallError as exc:
                if exc.args[0] != errno.EINTR:  # a signal (SIGHUP, a profiler) interrupted the read
                    raise

    def _sendall(self, data: bytes) -> None:
        """pyOpenSSL's sendall, but a write interrupted by a signal is retried with the same bytes."""
        view, offset = memoryview(data), 0
        while offset < len(data):
            try:
                offset += self.tls.send(view[offset : offset + _READ])
            except SSL.SysCallError as exc:
                if exc.args[0] != errno.EINTR:
                    raise
            except SSL.WantWriteError:
                continue

    def _send(self, method: bytes, reply: _Reply) -> None:
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        headers.append(("content-length", str(len(reply.body))))
        try:
            reason = http.HTTPStatus(reply.status).phrase.encode()
        except ValueError:
            reason = b""
        out = self.http.send(h11.Response(status_code=reply.status, headers=headers, reason=reason))
        if method != b"HEAD" and reply.body:
            out += self.http.send(h11.Data(data=reply.body))
        out += self.http.send(h11.EndOfMessage())
        self._sendall(out)

    def _close(self) -> None:
        try:
            self.tls.shutdown()
        except (SSL.Error, OSError):
            pass
        self.sock.close()


def _peer_certificates(conn: SSL.Connection) -> tuple[bytes, ...]:
    """The client's certificate first, then the chain it sent (server side, OpenSSL omits the leaf)."""
    leaf = conn.get_peer_certificate()
    if leaf is None:
        return ()
    chain = conn.get_peer_cert_chain() or []
    out = [crypto.dump_certificate(crypto.FILETYPE_ASN1, leaf)]
    for cert in chain:
        der = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
        if der != out[0]:
            out.append(der)
    return tuple(out)

"""The primary's replication listener: HTTPS with mutual TLS on the cluster address.

Every connection must present a certificate the replication CA signed; the handler is told the
certificate's common name (``rep-secondary-<id>``) and fingerprint, and answers JSON. It runs in threads of its own,
beside the API listener, while this cluster is a primary.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

log = logging.getLogger("tessera.replication")

# (method, path, query, body, the client certificate's (common name, SHA-256)) -> (status, JSON)
Serve = Callable[[str, str, dict[str, str], Any, tuple[str, str]], tuple[int, Any]]
IDLE_SECONDS = 300  # an idle connection is closed after this (its secondary reconnects)
MAX_BODY = 48 << 20  # a forwarded request's body, base64: Vault's 32 MiB limit and a third more


def _peer(sock: Any) -> tuple[str, str]:
    """The client certificate's common name and SHA-256 (of its DER), or empty strings."""
    if not isinstance(sock, ssl.SSLSocket):
        return "", ""
    cert: Any = sock.getpeercert()
    der = sock.getpeercert(binary_form=True) or b""
    name = ""
    for rdn in (cert or {}).get("subject", ()):
        for pair in rdn:
            if pair[0] == "commonName":
                name = str(pair[1])
    return name, hashlib.sha256(der).hexdigest() if der else ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # connections stay open: a secondary's stream, its forwarded writes
    # The headers and the body go out in two writes: on a kept connection, Nagle's algorithm held
    # the body until the client's delayed ACK of the headers (~40 ms per answer on loopback).
    disable_nagle_algorithm = True
    timeout = IDLE_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("replication listener: " + format, *args)

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            status, doc = 413, {"errors": ["request too large"]}
            self.close_connection = True  # the body stays unread
        else:
            raw = self.rfile.read(length) if length else b""
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None
            query = dict(parse_qsl(parts.query))
            try:
                status, doc = self.server.serve(self.command, parts.path, query, body, _peer(self.connection))
            except Exception:
                log.exception("replication listener: %s %s failed", self.command, parts.path)
                status, doc = 500, {"errors": ["internal error"]}
        out = orjson.dumps(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = _answer
    do_POST = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    serve: Serve
    open_connections: set[Any]
    open_lock: threading.Lock

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """One connection's requests; the connection is known until it ends, so that a stopped
        listener closes the connections it kept open too."""
        with self.open_lock:
            self.open_connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.open_lock:
                self.open_connections.discard(request)

    def close_connections(self) -> None:
        with self.open_lock:
            for connection in list(self.open_connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class ReplicationListener:
    """Listens on ``host:port`` until :meth:`stop`."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, serve: Serve) -> None:
        self._server = _Server((host, port), _Handler, bind_and_activate=False)
        self._server.serve = serve
        self._server.open_connections = set()
        self._server.open_lock = threading.Lock()
        self._server.allow_reuse_address = True
        self._server.server_bind()
        self._server.server_activate()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="replication-listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)

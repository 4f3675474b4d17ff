"""The mutual TLS of replication traffic, and the small JSON client both sides speak.

Both ends trust the replication CA alone: the primary's listener presents a certificate it signed
and demands one from the client, which each secondary got in its activation token. ``ssl`` loads
certificates from files only, so each key spends an instant in a private temporary file. A
thread keeps its connection to an address open between requests.
"""

from __future__ import annotations

import http.client
import os
import select
import ssl
import tempfile
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from .ca import KeyPair

TIMEOUT = 10.0


class ChannelError(Exception):
    """The other side could not be reached or refused the request (``status`` 0 when unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _load_pair(context: ssl.SSLContext, pair: KeyPair) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-rep-") as directory:
        path = os.path.join(directory, "pair.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pair.cert_pem + pair.key_pem)
        context.load_cert_chain(path)


def server_context(ca_pem: str, pair: KeyPair) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=ca_pem)
    _load_pair(context, pair)
    return context


def client_context(ca_pem: str, pair: KeyPair) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem)
    context.check_hostname = False  # the CA is this replication set's own: its signature is the check
    _load_pair(context, pair)
    return context


def request_json(
    base: str,
    method: str,
    path: str,
    *,
    context: ssl.SSLContext | None = None,
    body: Any = None,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Any:
    """One JSON request to ``base`` (``https://host:port``); the decoded answer, or ChannelError."""
    parts = urlsplit(base)
    if parts.hostname is None:
        raise ChannelError(f"not an address: {base!r}")
    conn = _connection(parts.scheme, parts.hostname, parts.port, context, timeout)
    target = path + ("?" + urlencode(query) if query else "")
    payload = None if body is None else orjson.dumps(body)
    try:
        conn.request(
            method, target, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
        )
        answer = conn.getresponse()
        raw = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        _drop(conn)
        raise ChannelError(f"{base}: {exc}") from None
    if answer.will_close:
        _drop(conn)
    try:
        doc = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        doc = None
    if answer.status >= 400:
        errors = doc.get("errors") if isinstance(doc, dict) else None
        raise ChannelError("; ".join(map(str, errors or [f"status {answer.status}"])), answer.status)
    return doc


# Connections kept open per thread (a stream, a request thread forwarding), one per address and
# TLS context: a mutual TLS handshake costs the primary more than the request it carries.
_KEPT = threading.local()


def _connection(
    scheme: str, host: str, port: int | None, context: ssl.SSLContext | None, timeout: float
) -> http.client.HTTPConnection:
    kept: dict[tuple[Any, ...], http.client.HTTPConnection] = _KEPT.__dict__.setdefault("conns", {})
    key = (scheme, host, port, context)
    conn = kept.get(key)
    if conn is not None and not _closed_by_peer(conn):
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn
    if conn is not None:
        _drop(conn)
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port or 443, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port or 80, timeout=timeout)
    kept[key] = conn
    return conn


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle kept connection with something to read has been closed by the other side (a
    restarted primary, an idle timeout): sending on it would fail after the request left."""
    sock = conn.sock
    if sock is None:
        return False  # not connected yet: connects on the next request
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _drop(conn: http.client.HTTPConnection) -> None:
    conn.close()
    kept: dict[tuple[Any, ...], http.client.HTTPConnection] = _KEPT.__dict__.get("conns", {})
    for key, held in list(kept.items()):
        if held is conn:
            del kept[key]

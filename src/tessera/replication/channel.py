"""The mutual TLS of replication traffic, and the small JSON client both sides speak.

Both ends trust the replication CA alone: the primary's listener presents a certificate it signed
and demands one from the client, which each secondary got in its activation token. ``ssl`` loads
certificates from files only: ``runtime/mtls.py`` loads each key from a private temporary file,
encrypted, for an instant. A thread keeps its connection to an address open between requests.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from ..runtime import mtls
from .ca import KeyPair

TIMEOUT = 10.0


class ChannelError(Exception):
    """The other side could not be reached or refused the request (``status`` 0 when unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def server_context(ca_pem: str, pair: KeyPair) -> ssl.SSLContext:
    return mtls.server_context(ca_pem, pair.loaded(), minimum=ssl.TLSVersion.TLSv1_2)


def client_context(ca_pem: str, pair: KeyPair) -> ssl.SSLContext:
    # No host name check: the CA is this replication set's own, its signature is the check.
    return mtls.client_context(ca_pem, pair.loaded(), check_hostname=False, minimum=ssl.TLSVersion.TLSv1_2)


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

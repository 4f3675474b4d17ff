"""The mutual TLS of replication traffic, and the small JSON client both sides speak.

Both ends trust the replication CA alone: the primary's listener presents a certificate it signed
and demands one from the client, which each secondary got in its activation token. ``ssl`` loads
certificates from files only: ``runtime/mtls.py`` loads each key from a private temporary file,
encrypted, for an instant.
"""

from __future__ import annotations

import http.client
import ssl
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
) -> Any:
    """One JSON request to ``base`` (``https://host:port``); the decoded answer, or ChannelError."""
    parts = urlsplit(base)
    if parts.hostname is None:
        raise ChannelError(f"not an address: {base!r}")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=TIMEOUT, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
    target = path + ("?" + urlencode(query) if query else "")
    payload = None if body is None else orjson.dumps(body)
    try:
        conn.request(
            method, target, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
        )
        answer = conn.getresponse()
        raw = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ChannelError(f"{base}: {exc}") from None
    finally:
        conn.close()
    try:
        doc = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        doc = None
    if answer.status >= 400:
        errors = doc.get("errors") if isinstance(doc, dict) else None
        raise ChannelError("; ".join(map(str, errors or [f"status {answer.status}"])), answer.status)
    return doc

"""Who a forwarded request came from: on the active process's internal listener, and on the
HA cluster listener.

The internal listener accepts only requests carrying the secret the active process gave its
workers (``cluster/forwarding.py`` sends them); the cluster listener believes a standby node's
word, its mutual TLS having proved the sender. The client's certificates become a :class:`PeerTLS`.
"""

from __future__ import annotations

from ..cluster.forwarding import CLIENT_HEADER, read_claims, read_forwarded
from .peer import PeerTLS


def forwarded_client(headers: dict[str, str], secret: str) -> tuple[str, bool | PeerTLS] | None:
    """The original client's (address, TLS), if the request carries the workers' secret. The
    headers are removed either way."""
    found = read_forwarded(headers, secret)
    if found is None:
        return None
    return _client(*found)


def cluster_client(headers: dict[str, str]) -> tuple[str, bool | PeerTLS] | None:
    """On the cluster listener: the client a standby names, None if it names none (the cluster
    listener serves forwarded requests only). The headers are removed."""
    if CLIENT_HEADER not in headers:
        return None
    return _client(*read_claims(headers))


def _client(client: str, tls: bool, certs: str | None) -> tuple[str, bool | PeerTLS]:
    if tls and certs:
        return client, PeerTLS.from_header(certs)
    return client, tls

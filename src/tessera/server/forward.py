"""The active process's internal listener: who a request a worker forwarded came from.

Only requests carrying the secret the active process gave its workers are accepted there
(``cluster/forwarding.py`` sends them); the client's certificates become a :class:`PeerTLS`.
"""

from __future__ import annotations

from ..cluster.forwarding import read_forwarded
from .peer import PeerTLS


def forwarded_client(headers: dict[str, str], secret: str) -> tuple[str, bool | PeerTLS] | None:
    """The original client's (address, TLS), if the request carries the workers' secret. The
    headers are removed either way."""
    found = read_forwarded(headers, secret)
    if found is None:
        return None
    client, tls, certs = found
    if tls and certs:
        return client, PeerTLS.from_header(certs)
    return client, tls

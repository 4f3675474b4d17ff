"""Handing a worker's request to the active process, as Vault's performance standbys forward.

The request goes over plain HTTP/1.1 to the active process's internal listener (loopback),
with the client's address and scheme in headers that listener accepts only together with the
secret the two share (``pool.py`` makes it; ``server/forward.py`` checks it). The answers come
back through the :class:`~.relay.Relay`.
"""

from __future__ import annotations

import hmac

from .interfaces import HandedOver
from .relay import Relay

FORWARD_HEADER = "x-tessera-forward"
CLIENT_HEADER = "x-tessera-client"
TLS_HEADER = "x-tessera-tls"
PEER_CERTS_HEADER = "x-tessera-peer-certificates"
# On a cluster listener's refusal of a forwarded request it did not serve (``ha/peer_role.py``):
# the node is not active, and the standby that sent it asks the node the HA table names next.
NOT_ACTIVE_HEADER = "x-tessera-not-active"
NO_ACTIVE = "local node not active but active cluster node not found"
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


class HTTPForwarder:
    """A worker's :class:`~.interfaces.Forwarder`: the active process's internal listener."""

    def __init__(self, internal: str, secret: str, unreachable: tuple[list[tuple[str, str]], bytes]) -> None:
        host, _, port = internal.rpartition(":")
        self.address = (host, int(port))
        self.secret = secret
        self.relay = Relay(self.address, unreachable)

    def forward(self, request: HandedOver) -> None:
        """Send the request to the active process; its answer goes out from the relay thread."""
        method, body, tls = request.method, request.body, request.tls
        query = request.query_string.decode("latin-1")
        target = request.raw_path + ("?" + query if query else "")
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.address[0]}:{self.address[1]}"]
        lines += [f"{k}: {v}" for k, v in request.headers.items() if k not in _HOP]
        lines += [
            f"{FORWARD_HEADER}: {self.secret}",
            f"{CLIENT_HEADER}: {request.remote_addr}",
            f"{TLS_HEADER}: {'1' if tls else '0'}",
            f"content-length: {len(body or b'')}",
        ]
        certificates = getattr(tls, "peer_certificates", None)  # server/peer.py's PeerTLS
        if certificates:  # for the cert auth method
            lines.append(f"{PEER_CERTS_HEADER}: {tls.header_value()}")  # type: ignore[attr-defined]
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        self.relay.send(request.proto, wire, method == "HEAD")


def read_forwarded(headers: dict[str, str], secret: str) -> tuple[str, bool, str | None] | None:
    """On the active process's internal listener: the original client's address, whether it came
    over TLS, and its certificates header, if the request carries the workers' secret. The
    headers are removed either way."""
    given = headers.pop(FORWARD_HEADER, None)
    claims = read_claims(headers)
    if given is None or not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return None
    return claims


def read_claims(headers: dict[str, str]) -> tuple[str, bool, str | None]:
    """The client's address, TLS and certificates a forwarding node names (removed from
    ``headers``), for a listener that knows the sender otherwise (the HA cluster listener,
    whose mutual TLS proved it a node of the cluster)."""
    client = headers.pop(CLIENT_HEADER, None)
    tls = headers.pop(TLS_HEADER, None)
    certs = headers.pop(PEER_CERTS_HEADER, None)
    return client or "127.0.0.1", tls == "1", certs if tls == "1" else None

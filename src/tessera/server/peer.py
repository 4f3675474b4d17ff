"""What a TLS listener learnt about its client, as the ``tls`` fact a request carries."""

from __future__ import annotations

import base64
import binascii
import collections
from dataclasses import dataclass


@dataclass(frozen=True)
class PeerTLS:
    """True (the request came over TLS), with the certificates the client presented (DER, leaf first)."""

    peer_certificates: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return True

    def header_value(self) -> str:
        """For a request a worker hands over: the chain as comma-separated base64."""
        return ",".join(base64.b64encode(der).decode() for der in self.peer_certificates)

    @classmethod
    def from_header(cls, value: str) -> PeerTLS:
        try:
            return cls(tuple(base64.b64decode(part, validate=True) for part in value.split(",") if part))
        except (binascii.Error, ValueError):
            return cls()


class ResumedChains:
    """The certificates each client sent with its own, for the sessions it resumes.

    A resumed TLS session (a session ticket) brings back the client's certificate but not the
    intermediates it sent in its full handshake: OpenSSL's tickets keep the leaf alone, and the
    cert method then finds no chain to a CA that trusts an intermediate's issuer. Go's tickets
    keep the whole chain, so the reference logs such a client in on every reconnection. Kept here
    by the leaf's bytes, for the reactor thread only: the newest chain a full handshake presented
    with that leaf (only the holder of its key completes one; the certificates are public, and
    a login verifies them anyway). Bounded: the least recently used leaf is dropped, and its
    resumed sessions present the leaf alone until the client's next full handshake.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._chains: collections.OrderedDict[bytes, tuple[bytes, ...]] = collections.OrderedDict()

    def presented(self, chain: tuple[bytes, ...]) -> None:
        """A full handshake's chain (leaf first)."""
        leaf = chain[0]
        if len(chain) == 1:
            self._chains.pop(leaf, None)
            return
        self._chains[leaf] = chain
        self._chains.move_to_end(leaf)
        if len(self._chains) > self.limit:
            self._chains.popitem(last=False)

    def resumed(self, leaf: bytes) -> tuple[bytes, ...]:
        """The chain for a resumed session whose client certificate is ``leaf``."""
        chain = self._chains.get(leaf)
        if chain is None:
            return (leaf,)
        self._chains.move_to_end(leaf)
        return chain

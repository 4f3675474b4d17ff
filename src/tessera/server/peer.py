"""What a TLS listener learnt about its client, as the ``tls`` fact a request carries."""

from __future__ import annotations

import base64
import binascii
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

"""What the two API clients (the CLI's and the agent's) share: TLS settings and Go's error prefix.

Both are clients of the Vault API and import no server code; this module sits below them both.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class TLSSettings:
    """The TLS files and checks one client uses, as the CLI flags and the agent's ``vault {}`` name them."""

    ca_cert: str = ""
    ca_path: str = ""
    client_cert: str = ""
    client_key: str = ""
    tls_server_name: str = ""
    skip_verify: bool = False

    def ssl_context(self) -> ssl.SSLContext:
        """An OpenSSL context with these CAs and client certificate (or no verification at all)."""
        ctx = ssl.create_default_context(cafile=self.ca_cert or None, capath=self.ca_path or None)
        if self.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key or None)
        return ctx


def go_op(method: str) -> str:
    """Go's url.Error prefix for a method: ``Put``, ``Get``…"""
    return method[:1].upper() + method[1:].lower()

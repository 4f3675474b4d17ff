"""The cert auth method (Vault's builtin/credential/cert): log in with a TLS client certificate.

``certs/:name`` holds a PEM certificate to trust (a CA, or one pinned client certificate) with
constraints on the client's names, OUs and extensions, and the usual ``token_*`` fields. A login
needs the certificate the client presented on the TLS connection itself (``server/tls_front.py``
puts it on the request); ``verify.py`` decides which entry it matches.
"""

from __future__ import annotations

from typing import Any

from ..tokenutil import AuthBackend
from .login import CertAuth
from .paths import cert_paths

HELP = """
The "cert" credential provider allows authentication using
TLS client certificates. A client connects to OpenBao and uses
the "login" endpoint to generate a client token.

Trusted certificates are configured using the "certs/" endpoint
by a user with root access. A certificate authority can be trusted,
which permits all keys signed by it. Alternatively, self-signed
certificates can be trusted avoiding the need for a CA.
"""


def factory(core: Any, entry: Any) -> AuthBackend:
    cert = CertAuth(core, entry)
    return AuthBackend(
        paths=cert_paths(cert),
        help=HELP,
        backend_type="cert",
        kind="credential",
        renew_hook=cert.renew,
        invalidate=cert.invalidate,
    )

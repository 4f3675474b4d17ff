"""The PKI secrets engine: X.509 certificates as short-lived (optionally leased) secrets.

Several issuers and keys per mount as Vault 1.11+ has them (``issuers``, ``issuer/:ref``, ``keys``,
a default of each), roles that say which names a certificate may carry, ``issue``/``sign`` under
them, revocation with per-issuer CRLs, and the unauthenticated CA and CRL fetch paths. Everything
is stored in the mount's barrier-encrypted view; certificates come from the ``cryptography`` package.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from ...framework import Backend, Request, Response, SecretType
from . import paths_certs, paths_fetch, paths_issuers, revocation
from .store import PKIStore, storage_of

if TYPE_CHECKING:
    from ...core.core import Core
    from ...routing.mounts import MountEntry

HELP = """
The PKI backend dynamically generates X509 server and client certificates.

After mounting this backend, configure the CA using the "pem_bundle" endpoint within
the "config/" path.
"""


def _revoke_lease(req: Request, internal: dict[str, Any]) -> Response | None:
    """A certificate's lease ended (by TTL, with its token, or on demand): the certificate is revoked."""
    store = PKIStore(storage_of(req))
    serial = internal.get("serial_number", "")
    if serial and store.cert_pem(serial) is not None:
        try:
            revocation.revoke(store, serial)
        except revocation.ExpiredCertificate:
            pass  # the certificate ended with its lease: nothing to list on the CRL
    return None


def factory(core: Core, entry: MountEntry) -> Backend:
    mount_ttls = partial(core.mount_ttls, entry)
    tidy_state = paths_fetch.initial_tidy_state()
    paths = paths_certs.build(mount_ttls) + paths_issuers.build(mount_ttls) + paths_fetch.build(tidy_state)
    return Backend(
        paths=paths,
        help=HELP,
        backend_type="pki",
        kind="logical",
        secrets={paths_certs.SECRET_TYPE: SecretType(paths_certs.SECRET_TYPE, revoke=_revoke_lease)},
        invalidate=Backend.keeps_nothing,
    )

"""The replication CA: the primary's own authority for the mutual TLS of replication traffic.

Made when a cluster first becomes a primary and kept behind the barrier; each secondary gets a
client certificate it signs (in the activation token), and the primary's replication listener
trusts this CA alone. Vault does the same with certificates its primary issues per secondary.
The certificate work is ``runtime/mtls.py``'s, shared with the HA cluster port; this module
holds replication's names and lifetimes, and its form in storage and in activation tokens: PEM
text (:class:`KeyPair`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..runtime import mtls

CA_YEARS = 10
LEAF_YEARS = 2
SKEW_SECONDS = 300.0  # a certificate is valid from this long ago: the secondary's clock may lag


@dataclass(frozen=True)
class KeyPair:
    cert_pem: str
    key_pem: str

    def loaded(self) -> mtls.Pair:
        try:
            return mtls.Pair.from_pem(self.cert_pem, self.key_pem)
        except ValueError:
            raise ValueError("the replication CA key is not an EC key") from None


def _text(pair: mtls.Pair) -> KeyPair:
    return KeyPair(pair.cert_pem(), pair.key_pem())


def new_ca(cluster_id: str) -> KeyPair:
    return _text(mtls.make_ca(f"rep-ca-{cluster_id}", time.time(), years=CA_YEARS, backdate=SKEW_SECONDS))


def issue(ca: KeyPair, common_name: str, *, server: bool = False) -> KeyPair:
    """A leaf the CA signs: a secondary's client certificate (or the primary's server one)."""
    usage = mtls.SERVER if server else mtls.CLIENT
    life = 365 * 86400 * LEAF_YEARS
    leaf = mtls.issue(
        ca.loaded(), common_name, common_name, time.time(), life, (usage,), backdate=SKEW_SECONDS
    )
    return _text(leaf)


def fingerprint(cert_pem: str) -> str:
    """SHA-256 of the certificate's DER: what the listener matches a client certificate against."""
    return mtls.fingerprint(cert_pem)

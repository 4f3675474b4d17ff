"""The cluster's own TLS: a CA the first active node makes, and the node certificates it signs.

As Vault's cluster port: traffic between HA nodes is mutual TLS under a CA only the cluster
has (ECDSA P-256, which both OpenSSL and rustls speak), so a peer that shows a certificate of
that CA is a node of this cluster and nothing else is. The CA lives behind the barrier (stored
by ``cluster/ha/node_tls.py``); every node, once unsealed, signs itself a short-lived
certificate for the host of its ``cluster_addr``, good for both ends of a connection.

Python's ``ssl`` loads a key from a file only: :func:`client_context` writes the key encrypted
under a one-time password into a private directory and removes it once loaded, so no private
key is ever on a disk in clear.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 10  # rotation is not offered: the CA lives as long as the cluster's data
NODE_HOURS = 24.0  # a node certificate's life
REISSUE_SHARE = 1 / 3  # re-issued once less than this share of its life is left


@dataclass(frozen=True)
class ClusterCA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def stored(self) -> dict[str, str]:
        """Its form behind the barrier (never anywhere else)."""
        key = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {"ca_cert": _pem(self.cert).decode(), "ca_key": key.decode()}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ClusterCA:
        cert = x509.load_pem_x509_certificate(str(stored["ca_cert"]).encode())
        key = serialization.load_pem_private_key(str(stored["ca_key"]).encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the cluster CA's key is not an ECDSA key")
        return cls(cert, key)


@dataclass(frozen=True)
class NodeTLS:
    """This node's certificate and key, and the cluster CA as the only trust root."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate

    def due(self, now: float) -> bool:
        """Re-issue: less than ``REISSUE_SHARE`` of its life left."""
        start, end = self.cert.not_valid_before_utc.timestamp(), self.cert.not_valid_after_utc.timestamp()
        return now >= end - (end - start) * REISSUE_SHARE


def make_ca(cluster_name: str, now: float) -> ClusterCA:
    """A new CA for the cluster (the first active node makes it once)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tessera-cluster-ca {cluster_name}".strip())])
    start = _utc(now - 60)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return ClusterCA(cert, key)


def issue_node(ca: ClusterCA, host: str, node_id: str, now: float, hours: float = NODE_HOURS) -> NodeTLS:
    """A certificate for the node at ``host`` (its ``cluster_addr``'s), server and client alike."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = _utc(now - 60)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"node-{node_id}")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(_utc(now + hours * 3600))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([_general_name(host)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return NodeTLS(cert, key, ca.cert)


def client_context(tls: NodeTLS) -> ssl.SSLContext:
    """A client's TLS 1.3 context: this node's certificate, the cluster CA the only root."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cadata=_pem(tls.ca).decode())
    password = secrets.token_bytes(32)
    key = tls.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    directory = Path(tempfile.mkdtemp(prefix="tessera-cluster-", dir=_private_tmp()))
    try:
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        _write_private(cert_file, _pem(tls.cert))
        _write_private(key_file, key)
        ctx.load_cert_chain(str(cert_file), str(key_file), password=password)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return ctx


def host_of(cluster_addr: str) -> str:
    """The host of ``https://host:port`` (brackets off an IPv6 address)."""
    rest = cluster_addr.split("://", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host or "localhost")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _private_tmp() -> str | None:
    """Memory-backed where the machine has it."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)

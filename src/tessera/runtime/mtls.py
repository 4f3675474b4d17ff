"""Mutual TLS under a CA of our own: making the CA, signing leaves, and ``ssl`` contexts that trust it alone.

Two parts of Tessera need this, with different names, lifetimes and stored forms: the HA cluster
port (``cluster/cluster_tls.py``) and replication (``replication/ca.py``). The certificate work is
the same, so it is written once here, beneath both. Keys are ECDSA P-256, which OpenSSL, rustls
and Go all speak.

Python's ``ssl`` loads a key from a file only: :func:`load_pair` writes the key encrypted under a
one-time password into a private directory (memory-backed where the machine has one) and removes
it once loaded, so no private key is ever on a disk in clear.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
# KeyUsage flags: a CA signs certificates and CRLs; a leaf signs its handshakes.
_CA_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
_LEAF_USAGE = x509.KeyUsage(True, False, False, False, False, False, False, False, False)


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key: a CA, or a leaf it signed."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> str:
        return cert_pem(self.cert)

    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @classmethod
    def from_pem(cls, cert: str, key: str) -> Pair:
        loaded = serialization.load_pem_private_key(key.encode(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError("the key is not an ECDSA key")
        return cls(x509.load_pem_x509_certificate(cert.encode()), loaded)


def make_ca(common_name: str, now: float, *, years: int, backdate: float = 60.0) -> Pair:
    """A self-signed CA that may sign leaves only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    start = _utc(now - backdate)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pair(cert, key)


def issue(
    ca: Pair,
    common_name: str,
    host: str,
    now: float,
    seconds: float,
    usages: Sequence[x509.ObjectIdentifier] = (SERVER, CLIENT),
    *,
    backdate: float = 60.0,
) -> Pair:
    """A leaf ``ca`` signs for ``host`` (an IP address or a DNS name), good for ``seconds``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(now - backdate))
        .not_valid_after(_utc(now + seconds))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_LEAF_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.SubjectAlternativeName([general_name(host)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Pair(cert, key)


def client_context(
    ca: str, mine: Pair, *, check_hostname: bool = True, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
) -> ssl.SSLContext:
    """A client's context: ``mine`` shown to the server, the CA (PEM) the only root."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer (and its host name)
    ctx.minimum_version = minimum
    ctx.check_hostname = check_hostname
    ctx.load_verify_locations(cadata=ca)
    load_pair(ctx, mine)
    return ctx


def server_context(
    ca: str, mine: Pair, *, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
) -> ssl.SSLContext:
    """A server's context: ``mine`` shown, and a client certificate of the CA (PEM) required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = minimum
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca)
    load_pair(ctx, mine)
    return ctx


def load_pair(ctx: ssl.SSLContext, pair: Pair) -> None:
    """``ctx.load_cert_chain`` from memory: the key spends an instant in a private file, encrypted."""
    password = secrets.token_bytes(32)
    key = pair.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    directory = Path(tempfile.mkdtemp(prefix="tessera-tls-", dir=_private_tmp()))
    try:
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        _write_private(cert_file, pair.cert_pem().encode())
        _write_private(key_file, key)
        ctx.load_cert_chain(str(cert_file), str(key_file), password=password)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert: str) -> str:
    """SHA-256 of a certificate's DER (from its PEM), hex: how a peer's certificate is pinned."""
    return x509.load_pem_x509_certificate(cert.encode()).fingerprint(hashes.SHA256()).hex()


def general_name(host: str) -> x509.GeneralName:
    """A subject alternative name for ``host``: an IP address, or else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host or "localhost")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


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

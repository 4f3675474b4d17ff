"""Certificates for tests, made with ``cryptography``: CAs, server and client certificates, on disk.

``Issuer.issue`` signs a certificate with whatever a test needs (common name, OUs, SANs, custom
extensions, key usage, validity); ``Pem`` writes it with its key so clients (requests, the bao CLI,
Tessera's CLI and agent) can present it.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .servers import ReferenceServer, ServerProcess, TesseraServer, free_port

_names = itertools.count()


@dataclass(frozen=True)
class Pem:
    """A certificate and its key written to files; ``pem`` is the certificate's text."""

    cert: Path
    key: Path
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def utf8_string(text: str) -> bytes:
    """A DER UTF8String (short form): the value of a custom extension Vault reads as a string."""
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


@dataclass
class Issuer:
    """A CA that signs certificates into ``directory``."""

    directory: Path
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def root(cls, directory: Path, name: str = "Tessera test root") -> Issuer:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            _base(subject, subject, key.public_key(), days=30)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(directory, cert, key)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def intermediate(self, name: str) -> Issuer:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            self._signed_base(subject, key, days=20)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Issuer(self.directory, cert, key)

    def _signed_base(
        self,
        subject: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        days: int,
        not_before: datetime.timedelta = datetime.timedelta(minutes=-5),
    ) -> x509.CertificateBuilder:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        base = _base(subject, self.certificate.subject, key.public_key(), days=days, not_before=not_before)
        return base.add_extension(aki, critical=False)

    def issue(
        self,
        common_name: str,
        *,
        ous: tuple[str, ...] = (),
        dns: tuple[str, ...] = (),
        emails: tuple[str, ...] = (),
        uris: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        extensions: dict[str, bytes] | None = None,
        usage: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.CLIENT_AUTH,
        not_before: datetime.timedelta = datetime.timedelta(minutes=-5),
        days: int = 5,
        self_signed: bool = False,
        chain: tuple[Issuer, ...] = (),
    ) -> Pem:
        """A leaf certificate; ``chain`` intermediates are appended to its PEM file (as clients send them)."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous]
        subject = x509.Name(attrs)
        if self_signed:
            builder = _base(subject, subject, key.public_key(), days=days, not_before=not_before)
        else:
            builder = self._signed_base(subject, key, days, not_before)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.RFC822Name(e) for e in emails]
        names += [x509.UniformResourceIdentifier(u) for u in uris]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            builder = builder.add_extension(_LEAF_USAGE, critical=True)
        for oid, value in (extensions or {}).items():
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False
            )
        cert = builder.sign(key if self_signed else self.key, hashes.SHA256())
        stem = self.directory / f"{common_name.replace('/', '_').replace('*', 'x')}-{next(_names)}"
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        pem = serialization.Encoding.PEM
        cert_path.write_bytes(
            cert.public_bytes(pem) + b"".join(i.certificate.public_bytes(pem) for i in chain)
        )
        key_path.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return Pem(cert_path, key_path, cert)

    def server(self, host: str = "127.0.0.1") -> Pem:
        return self.issue(host, dns=("localhost",), ips=(host,), usage=ExtendedKeyUsageOID.SERVER_AUTH)

    def write_ca(self, name: str = "ca.pem") -> Path:
        path = self.directory / name
        path.write_text(self.pem)
        return path


_CA_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
_LEAF_USAGE = x509.KeyUsage(True, False, True, False, False, False, False, False, False)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    *,
    days: int,
    not_before: datetime.timedelta = datetime.timedelta(minutes=-5),
) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + not_before)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def tls_config(
    directory: Path,
    port: int,
    server: Pem,
    *,
    ask_client_certs: bool = True,
    storage: str = 'storage "inmem" {}',
    extra: str = "",
) -> Path:
    """A TLS server config; ``ask_client_certs`` sets ``tls_disable_client_certs = false`` (Tessera's
    listeners ask for client certificates only when told to; Vault's by default). ``storage`` is the
    storage block, ``extra`` more top-level settings (``workers = 2``)."""
    path = directory / f"server-{port}.hcl"
    ask = "  tls_disable_client_certs = false\n" if ask_client_certs else ""
    path.write_text(
        f"{storage}\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n{ask}'
        f'  tls_cert_file = "{server.cert}"\n  tls_key_file = "{server.key}"\n}}\n'
        'disable_mlock = true\ndefault_lease_ttl = "768h"\nmax_lease_ttl = "768h"\n' + extra
    )
    return path


def start_tls_pair(directory: Path) -> tuple[ServerProcess, ServerProcess, Issuer, Path]:
    root = Issuer.root(directory)
    ca_file = root.write_ca()
    server_pem = root.server()
    servers: list[ServerProcess] = []
    for kind in (ReferenceServer, TesseraServer):
        port = free_port(span=2)
        server = kind(config=tls_config(directory, port, server_pem), ca_cert=ca_file).start()
        server.init(1, 1)
        server.unseal()
        servers.append(server)
    return servers[0], servers[1], root, ca_file

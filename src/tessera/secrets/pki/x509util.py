"""X.509 building blocks on the ``cryptography`` package: keys, PEM, serials, certificates, CRLs.

Nothing here touches storage or requests: the path handlers decide *what* to sign, this module
only knows *how*, the way Vault's sdk/helper/certutil does.
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ...framework import ErrorResponse

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_CURVES: dict[int, type[ec.EllipticCurve]] = {
    224: ec.SECP224R1,
    256: ec.SECP256R1,
    384: ec.SECP384R1,
    521: ec.SECP521R1,
}
DEFAULT_BITS = {"rsa": 2048, "ec": 256, "ed25519": 0}

KEY_USAGES = {
    "digitalsignature": "digital_signature",
    "contentcommitment": "content_commitment",
    "keyencipherment": "key_encipherment",
    "dataencipherment": "data_encipherment",
    "keyagreement": "key_agreement",
    "certsign": "key_cert_sign",
    "crlsign": "crl_sign",
    "encipheronly": "encipher_only",
    "decipheronly": "decipher_only",
}

EXT_KEY_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "serverauth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientauth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codesigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailprotection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocspsigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "ipsecendsystem": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsectunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsecuser": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "microsoftservergatedcrypto": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscapeservergatedcrypto": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoftcommercialcodesigning": x509.ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoftkernelcodesigning": x509.ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}


# -- keys ------------------------------------------------------------------------------
def validate_key_params(key_type: str, key_bits: int) -> int:
    """The bit length to use for ``key_type``, or Vault's refusal (certutil.ValidateKeyTypeLength)."""
    if key_type == "any":
        return 0
    if key_type not in DEFAULT_BITS:
        raise ErrorResponse(f"unknown key type {key_type}")
    bits = key_bits or DEFAULT_BITS[key_type]
    if key_type == "rsa":
        if bits < 2048:
            raise ErrorResponse(f"RSA keys < 2048 bits are unsafe and not supported: got {bits}")
        if bits not in (2048, 3072, 4096, 8192):
            raise ErrorResponse(f"unsupported bit length for RSA key: {bits}")
    elif key_type == "ec" and bits not in _CURVES:
        raise ErrorResponse(f"unsupported bit length for EC key: {bits}")
    return bits if key_type != "ed25519" else 0


def generate_key(key_type: str, key_bits: int) -> PrivateKey:
    bits = validate_key_params(key_type, key_bits)
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ec":
        return ec.generate_private_key(_CURVES[bits]())
    return ed25519.Ed25519PrivateKey.generate()


def key_type_of(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ec"
    return "ed25519"


def key_bits_of(key: PrivateKey | PublicKey) -> int:
    if isinstance(
        key, (rsa.RSAPrivateKey, rsa.RSAPublicKey, ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)
    ):
        return key.key_size
    return 0


def private_key_pem(key: PrivateKey, fmt: str = "der") -> str:
    """PEM the way Vault writes it: PKCS#1 for RSA, SEC1 for EC, PKCS#8 for Ed25519 (or ``pkcs8``)."""
    if fmt == "pkcs8" or isinstance(key, ed25519.Ed25519PrivateKey):
        encoding = serialization.PrivateFormat.PKCS8
    else:
        encoding = serialization.PrivateFormat.TraditionalOpenSSL
    pem = key.private_bytes(serialization.Encoding.PEM, encoding, serialization.NoEncryption())
    return pem.decode().strip()


@functools.lru_cache(maxsize=64)
def load_private_key(pem: str) -> PrivateKey:
    """Parse a PEM key; issuers' keys are used on every issue, so the last few stay parsed."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ErrorResponse("unsupported private key type")
    return key


def public_der(key: PrivateKey | PublicKey) -> bytes:
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- PEM and serials -------------------------------------------------------------------
def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode().strip()


@functools.lru_cache(maxsize=256)
def load_cert(pem: str) -> x509.Certificate:
    """Parse a PEM certificate (immutable, so CA certificates stay parsed between requests)."""
    return x509.load_pem_x509_certificate(pem.encode())


def format_serial(number: int) -> str:
    """Colon-separated hex of the serial's big-endian bytes, as certutil.GetHexFormatted."""
    raw = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return ":".join(f"{b:02x}" for b in raw)


def normalize_serial(text: str) -> str:
    """A serial as users type it (dashes or colons, any case) in its stored form."""
    return text.strip().lower().replace("-", ":")


def hex_id(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def split_pem_blocks(text: str) -> list[tuple[str, bytes]]:
    """Every PEM block in ``text`` as (type, DER); text outside blocks is ignored."""
    blocks: list[tuple[str, bytes]] = []
    lines = iter(text.replace("\r\n", "\n").split("\n"))
    for line in lines:
        line = line.strip()
        if not (line.startswith("-----BEGIN ") and line.endswith("-----")):
            continue
        kind = line[len("-----BEGIN ") : -5]
        body: list[str] = []
        for inner in lines:
            inner = inner.strip()
            if inner.startswith("-----END "):
                break
            if ":" not in inner:  # skip RFC 1421 headers
                body.append(inner)
        try:
            blocks.append((kind, base64.b64decode("".join(body), validate=False)))
        except ValueError:
            raise ErrorResponse("error decoding PEM block") from None
    return blocks


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    if not pem.strip():
        raise ErrorResponse('"csr" is empty')
    blocks = split_pem_blocks(pem)
    if not blocks:
        raise ErrorResponse("csr contains no data")
    try:
        csr = x509.load_der_x509_csr(blocks[0][1])
    except ValueError as exc:
        raise ErrorResponse(f"certificate request could not be parsed: {exc}") from None
    if not csr.is_signature_valid:
        raise ErrorResponse("request signature invalid")
    return csr


def common_name_of(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def utc(dt: datetime.datetime) -> datetime.datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.UTC)


def not_after(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_after_utc


# -- certificates ----------------------------------------------------------------------
@dataclass
class Template:
    """What a certificate says: the handlers fill it from the request and the role."""

    common_name: str = ""
    dns_names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    subject_extra: dict[str, list[str]] = field(default_factory=dict)
    serial_number_attr: str = ""
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    is_ca: bool = False
    max_path_length: int = -1
    key_usage: list[str] = field(default_factory=list)
    ext_key_usage: list[str] = field(default_factory=list)
    ext_key_usage_oids: list[str] = field(default_factory=list)
    issuing_certificates: list[str] = field(default_factory=list)
    crl_distribution_points: list[str] = field(default_factory=list)
    ocsp_servers: list[str] = field(default_factory=list)
    basic_constraints_for_leaf: bool = False
    policy_identifiers: list[str] = field(default_factory=list)
    # sign-verbatim copies the CSR's extensions after its own, so the SAN comes last.
    sans_last: bool = False
    subject: x509.Name | None = None  # an exact subject (sign-verbatim's, from the CSR)


# In the order Go's pkix.Name writes them (CN and serialNumber follow).
SUBJECT_OIDS = {
    "country": NameOID.COUNTRY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "street_address": NameOID.STREET_ADDRESS,
    "postal_code": NameOID.POSTAL_CODE,
    "organization": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
}


_PRINTABLE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")


def _attr(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[Any]:
    """PrintableString when the value allows it, else UTF8String, as Go's encoder chooses."""
    if _PRINTABLE.match(value) and oid != NameOID.COUNTRY_NAME:
        return x509.NameAttribute(oid, value, _ASN1Type.PrintableString)
    return x509.NameAttribute(oid, value)


def subject_name(t: Template) -> x509.Name:
    if t.subject is not None:
        return t.subject
    attrs: list[x509.NameAttribute[Any]] = []
    for key, oid in SUBJECT_OIDS.items():
        attrs.extend(_attr(oid, v) for v in t.subject_extra.get(key, []))
    if t.common_name:
        attrs.append(_attr(NameOID.COMMON_NAME, t.common_name))
    if t.serial_number_attr:
        attrs.append(_attr(NameOID.SERIAL_NUMBER, t.serial_number_attr))
    return x509.Name(attrs)


def _sans(t: Template) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in t.dns_names]
    names += [x509.RFC822Name(e) for e in t.emails]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in t.ip_addresses]
    names += [x509.UniformResourceIdentifier(u) for u in t.uris]
    return names


def _key_usage(names: list[str], is_ca: bool) -> x509.KeyUsage | None:
    flags = dict.fromkeys(KEY_USAGES.values(), False)
    for name in names:
        attr = KEY_USAGES.get(name.lower())
        if attr:
            flags[attr] = True
    if is_ca:
        flags["key_cert_sign"] = flags["crl_sign"] = True
    if not any(flags.values()):
        return None
    if not flags["key_agreement"]:
        flags["encipher_only"] = flags["decipher_only"] = False
    return x509.KeyUsage(**flags)


def _ext_key_usage(t: Template) -> list[x509.ObjectIdentifier]:
    oids: list[x509.ObjectIdentifier] = []
    for name in t.ext_key_usage:
        oid = EXT_KEY_USAGES.get(name.lower())
        if oid is not None and oid not in oids:
            oids.append(oid)
    oids += [x509.ObjectIdentifier(o) for o in t.ext_key_usage_oids]
    return oids


def signature_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def build_certificate(
    t: Template,
    public_key: PublicKey,
    signer_key: PrivateKey,
    issuer: x509.Certificate | None,
    serial: int | None = None,
) -> x509.Certificate:
    """Sign ``t`` for ``public_key``; ``issuer`` None makes it self-signed."""
    assert t.not_before is not None and t.not_after is not None
    subject = subject_name(t)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(t.not_before)
        .not_valid_after(t.not_after)
    )
    usage = _key_usage(t.key_usage, t.is_ca)
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    eku = _ext_key_usage(t)
    if eku and not t.is_ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if t.is_ca:
        path_len = None if t.max_path_length < 0 else t.max_path_length
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
    elif t.basic_constraints_for_leaf:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    signer_pub = signer_key.public_key()
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_pub),  # type: ignore[arg-type]
        critical=False,
    )
    aia: list[x509.AccessDescription] = [
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
        for u in t.ocsp_servers
    ] + [
        x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in t.issuing_certificates
    ]
    if aia:
        builder = builder.add_extension(x509.AuthorityInformationAccess(aia), critical=False)
    sans = _sans(t)
    if sans and not t.sans_last:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if t.crl_distribution_points:
        points = [
            x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
            for u in t.crl_distribution_points
        ]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    if t.policy_identifiers:
        policies = [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in t.policy_identifiers]
        builder = builder.add_extension(x509.CertificatePolicies(policies), critical=False)
    if sans and t.sans_last:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer_key, signature_hash(signer_key))  # type: ignore[arg-type]


def build_csr(t: Template, key: PrivateKey) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(t))
    sans = _sans(t)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(key, signature_hash(key))  # type: ignore[arg-type]


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode().strip()


def build_crl(
    issuer: x509.Certificate,
    key: PrivateKey,
    revoked: list[tuple[int, datetime.datetime]],
    now: datetime.datetime,
    expiry_seconds: int,
    number: int,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(seconds=expiry_seconds))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(key, signature_hash(key))  # type: ignore[arg-type]


def crl_pem(crl: x509.CertificateRevocationList) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode().strip()


def signature_algorithm_name(cert: x509.Certificate) -> str:
    """Go's x509.SignatureAlgorithm name for the issuer's revocation_signature_algorithm."""
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        return "SHA256WithRSA"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "ECDSAWithSHA256"
    return "PureEd25519"

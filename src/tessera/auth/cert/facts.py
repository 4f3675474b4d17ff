"""What the cert method reads from a certificate, read once per distinct certificate.

cryptography parses a certificate's extensions again on every access, and a login reads a dozen
facts from each certificate of the chain; keyed by the exact DER bytes, each certificate is
parsed once (a client logging in every minute presents the same bytes every time).
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from .entries import parse_pem

_CLIENT_AUTH = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
_STRING_TAGS = {0x0C, 0x12, 0x13, 0x14, 0x16, 0x1A, 0x1B, 0x1C, 0x1E}


@dataclass(frozen=True)
class CertFacts:
    der: bytes
    certificate: x509.Certificate
    common_name: str
    dns_names: tuple[str, ...]
    emails: tuple[str, ...]
    uris: tuple[str, ...]
    organizational_units: tuple[str, ...]
    extensions: tuple[tuple[str, str], ...]  # (dotted OID, value read as an ASN.1 string)
    subject_key_id: bytes
    authority_key_id: bytes
    subject_key_id_hex: str  # as login metadata shows them
    authority_key_id_hex: str
    subject_key_id_b64: str  # as a login's token keeps them (internal data)
    authority_key_id_b64: str
    serial_text: str  # the serial number in decimal, as login metadata shows it
    sha256: str  # what a renewal's certificate must match
    serial_number: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    is_ca: bool
    allows_client_auth: bool  # no extended key usage, or client auth / any among them

    @property
    def extension_map(self) -> dict[str, str]:
        return dict(self.extensions)


@functools.lru_cache(maxsize=4096)
def facts(der: bytes) -> CertFacts:
    return _read(x509.load_der_x509_certificate(der), der)


def facts_of(cert: x509.Certificate) -> CertFacts:
    return facts(cert.public_bytes(Encoding.DER))


@functools.lru_cache(maxsize=256)
def pem_facts(text: str) -> tuple[CertFacts, ...]:
    """The certificates of a trusted entry's PEM text, read once per distinct text."""
    return tuple(facts_of(cert) for cert in parse_pem(text))


def _read(cert: x509.Certificate, der: bytes) -> CertFacts:
    by_oid = {ext.oid: ext.value for ext in cert.extensions}
    san = by_oid.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    constraints = by_oid.get(ExtensionOID.BASIC_CONSTRAINTS)
    usages = by_oid.get(ExtensionOID.EXTENDED_KEY_USAGE)
    skid = by_oid.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    akid = by_oid.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    subject_key_id = bytes(skid.digest) if skid is not None else b""
    authority_key_id = bytes(akid.key_identifier or b"") if akid is not None else b""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ous = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return CertFacts(
        der=der,
        certificate=cert,
        common_name=str(names[-1].value) if names else "",
        dns_names=tuple(san.get_values_for_type(x509.DNSName)) if san else (),
        emails=tuple(san.get_values_for_type(x509.RFC822Name)) if san else (),
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)) if san else (),
        organizational_units=tuple(str(o.value) for o in ous),
        extensions=tuple((ext.oid.dotted_string, der_string(_raw(ext.value))) for ext in cert.extensions),
        subject_key_id=subject_key_id,
        authority_key_id=authority_key_id,
        subject_key_id_hex=hex_colons(subject_key_id),
        authority_key_id_hex=hex_colons(authority_key_id),
        subject_key_id_b64=base64.b64encode(subject_key_id).decode(),
        authority_key_id_b64=base64.b64encode(authority_key_id).decode(),
        serial_text=str(cert.serial_number),
        sha256=hashlib.sha256(der).hexdigest(),
        serial_number=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=bool(constraints.ca) if constraints is not None else False,
        allows_client_auth=usages is None or bool(_CLIENT_AUTH & set(usages)),
    )


def _raw(value: Any) -> bytes:
    if isinstance(value, x509.UnrecognizedExtension):
        return bytes(value.value)
    try:
        return bytes(value.public_bytes())
    except (NotImplementedError, ValueError):
        return b""


def der_string(raw: bytes) -> str:
    """Go's asn1.Unmarshal into a string: a DER string type, else the empty string."""
    if len(raw) < 2 or raw[0] not in _STRING_TAGS:
        return ""
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(raw) < 2 + count:
            return ""
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    body = raw[offset : offset + length]
    if len(body) != length:
        return ""
    if raw[0] == 0x1E:
        return body.decode("utf-16-be", "replace")
    return body.decode("utf-8", "replace")


def hex_colons(data: bytes) -> str:
    """certutil.GetHexFormatted: lower-case hex pairs joined by colons."""
    return ":".join(f"{b:02x}" for b in data)

"""Which trusted entry, if any, a client's certificate chain logs in as (Vault's verifyCredentials).

Chains are built as Go's ``x509.Certificate.Verify`` builds them (issuer names, CA flags,
signatures checked by ``cryptography``, validity periods, the client-auth extended key usage;
cryptography's own RFC 5280 verifier would refuse client certificates without a SAN, which Vault
accepts); pinned non-CA certificates match by their exact bytes,
compared in constant time. Constraint globs follow go-glob: ``*`` matches any run of characters.
"""

from __future__ import annotations

import datetime
import functools
import hmac
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from ...framework import ErrorResponse
from ...storage.base import Storage
from .crls import revoked_serials
from .entries import CERT_PREFIX, CertEntry, is_ca, load_entry

UNTRUSTED = "invalid certificate or no client certificate supplied"
NO_MATCH = "no chain matching all constraints could be found for this login certificate"


@dataclass
class Trusted:
    entry: CertEntry
    certificates: list[x509.Certificate]


def glob(pattern: str, subject: str) -> bool:
    """go-glob's Glob: ``*`` is the only wildcard; a pattern without one must equal the subject."""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == subject
    if not subject.startswith(parts[0]) or not subject.endswith(parts[-1]):
        return False
    pos, end = len(parts[0]), len(subject) - len(parts[-1])
    for middle in parts[1:-1]:
        found = subject.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return pos <= end


def verify_login(
    storage: Storage, chain_der: tuple[bytes, ...], name: str
) -> tuple[Trusted, x509.Certificate]:
    """The entry the presented chain matches, or an ErrorResponse with Vault's words."""
    if not chain_der:
        raise ErrorResponse("client certificate must be supplied")
    certs = [x509.load_der_x509_certificate(der) for der in chain_der]
    client = certs[0]
    cas, pinned = _load_trusted(storage, name)
    revoked = revoked_serials(storage)
    for trusted in pinned:
        pin = trusted.certificates[0].public_bytes(Encoding.DER)
        if (
            hmac.compare_digest(pin, chain_der[0])
            and not _revoked(trusted.certificates, revoked)
            and matches_constraints(client, trusted.entry)
        ):
            return trusted, client
    chain = _verified_chain(cas, certs)
    if not chain:
        raise ErrorResponse(UNTRUSTED)
    if not _revoked(chain, revoked):
        for trusted in cas:
            intersects = any(t == c for t in trusted.certificates for c in chain)
            if intersects and matches_constraints(client, trusted.entry):
                return trusted, client
    raise ErrorResponse(NO_MATCH)


def _revoked(chain: list[x509.Certificate], serials: set[int]) -> bool:
    """checkForChainInCRLs: a chain with any revoked serial matches nothing."""
    return bool(serials) and any(cert.serial_number in serials for cert in chain)


def _load_trusted(storage: Storage, name: str) -> tuple[list[Trusted], list[Trusted]]:
    names = [name] if name else [k for k in storage.list(CERT_PREFIX) if not k.endswith("/")]
    cas: list[Trusted] = []
    pinned: list[Trusted] = []
    for entry_name in sorted(names):
        entry = load_entry(storage, entry_name)
        parsed = entry.parsed() if entry is not None else []
        if entry is None or not parsed:
            continue
        (cas if is_ca(parsed[0]) else pinned).append(Trusted(entry, parsed))
    return cas, pinned


def _verified_chain(cas: list[Trusted], certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """Go's Certificate.Verify with the trusted CAs as roots and the rest of the client's chain as
    intermediates: [] for an unknown authority, an ErrorResponse for any other failure."""
    roots = [c for t in cas for c in t.certificates]
    if not roots:
        return []
    leaf, intermediates = certs[0], certs[1:]
    now = datetime.datetime.now(datetime.UTC)
    for cert in certs:
        _check_validity(cert, now)
    chain = _extend([leaf], intermediates, roots, now)
    if not chain:
        return []
    if not all(_allows_client_auth(cert) for cert in chain[:-1]):
        raise ErrorResponse(
            "failed to verify client's certificate: x509: certificate specifies an incompatible key usage"
        )
    return chain


_MAX_DEPTH = 8


def _extend(
    chain: list[x509.Certificate],
    intermediates: list[x509.Certificate],
    roots: list[x509.Certificate],
    now: datetime.datetime,
) -> list[x509.Certificate] | None:
    """A path from ``chain[-1]`` to a root, through intermediates not used yet (depth-first)."""
    current = chain[-1]
    if any(current == root for root in roots):
        return chain
    for root in roots:
        if _issued_by(current, root) and _valid_at(root, now):
            return [*chain, root]
    if len(chain) >= _MAX_DEPTH:
        return None
    for candidate in intermediates:
        if candidate not in chain and _issued_by(current, candidate):
            found = _extend([*chain, candidate], intermediates, roots, now)
            if found:
                return found
    return None


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    return _issued_by_der(child.public_bytes(Encoding.DER), parent.public_bytes(Encoding.DER))


@functools.lru_cache(maxsize=4096)
def _issued_by_der(child_der: bytes, parent_der: bytes) -> bool:
    """Issuer name, CA flag and signature, remembered per exact (child, parent) bytes: a client
    logging in again costs no second signature check (validity periods are checked every time)."""
    child, parent = x509.load_der_x509_certificate(child_der), x509.load_der_x509_certificate(parent_der)
    if child.issuer != parent.subject or not is_ca(parent):
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_at(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _check_validity(cert: x509.Certificate, now: datetime.datetime) -> None:
    if _valid_at(cert, now):
        return
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if now < cert.not_valid_before_utc:
        detail = f"current time {stamp} is before {cert.not_valid_before_utc.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    else:
        detail = f"current time {stamp} is after {cert.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    raise ErrorResponse(
        f"failed to verify client's certificate: x509: certificate has expired or is not yet valid: {detail}"
    )


def _allows_client_auth(cert: x509.Certificate) -> bool:
    """No extended key usage allows any; otherwise client auth or "any" must be listed."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool({ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(usages))


# -- constraints ---------------------------------------------------------------------------------
def matches_constraints(client: x509.Certificate, entry: CertEntry) -> bool:
    cn = _common_name(client)
    dns, emails, uris = _sans(client)
    ous = [a.value for a in client.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    return (
        _any(entry.allowed_names, [cn, *dns, *emails])
        and _any(entry.allowed_common_names, [cn])
        and _any(entry.allowed_dns_sans, dns)
        and _any(entry.allowed_email_sans, emails)
        and _any(entry.allowed_uri_sans, uris)
        and _any(entry.allowed_organizational_units, [str(o) for o in ous])
        and _has_extensions(client, entry.required_extensions)
    )


def _any(patterns: list[str] | None, values: list[str]) -> bool:
    """No patterns allow everything; otherwise one pattern must match one value."""
    return not patterns or any(glob(p, v) for p in patterns for v in values)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[-1].value) if names else ""


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return [], [], []
    return (
        san.get_values_for_type(x509.DNSName),
        san.get_values_for_type(x509.RFC822Name),
        san.get_values_for_type(x509.UniformResourceIdentifier),
    )


def extension_strings(cert: x509.Certificate) -> dict[str, str]:
    """Each extension's value read as one ASN.1 string ("" when it is not one), by dotted OID."""
    out: dict[str, str] = {}
    for ext in cert.extensions:
        value = ext.value
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else value.public_bytes()
        out[ext.oid.dotted_string] = der_string(raw)
    return out


def _has_extensions(client: x509.Certificate, required: list[str] | None) -> bool:
    if not required:
        return True
    present = extension_strings(client)
    if not present:
        return False
    for item in required:
        oid, _, pattern = item.partition(":")
        if oid not in present or not glob(pattern, present[oid]):
            return False
    return True


_STRING_TAGS = {0x0C, 0x12, 0x13, 0x14, 0x16, 0x1A, 0x1B, 0x1C, 0x1E}


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
    return ":".join(f"{b:02x}" for b in data)

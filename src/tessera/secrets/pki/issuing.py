"""Turning a request into a signed certificate: validity window, subject, names, and the answer.

Shared by ``issue``, ``sign``, ``sign-verbatim``, ``root/generate`` and ``root/sign-intermediate``,
so their TTL caps, warnings and output formats cannot drift apart (Vault's certutil bundle flow).
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...framework import ErrorResponse, FieldData
from ...gocompat.durations import format_go_duration
from ...gocompat.times import rfc3339_datetime
from . import x509util
from .store import Issuer, PKIStore

FORMATS = ("pem", "der", "pem_bundle")
AIA_WARNING = (
    "This mount hasn't configured any authority information access (AIA) fields; this may make it "
    "harder for systems to find missing certificates in the chain or to validate revocation status of "
    "certificates. Consider updating /config/urls or the newly generated issuer with this information."
)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def check_format(data: FieldData) -> str:
    fmt: str = data.get("format") or "pem"
    if fmt not in FORMATS:
        raise ErrorResponse('the "format" path parameter must be "pem", "der", or "pem_bundle"')
    return fmt


@dataclass
class Validity:
    not_before: datetime.datetime
    not_after: datetime.datetime
    warnings: list[str] = field(default_factory=list)


def validity(
    requested_ttl: int,
    role_ttl: int,
    role_max_ttl: int,
    mount_ttls: tuple[int, int],
    backdate: int,
    ca: x509.Certificate | None,
    ca_behavior: str = "err",
    fixed_not_after: datetime.datetime | None = None,
) -> Validity:
    """NotBefore/NotAfter: request TTL, else role TTL, else the mount's; capped by the max; within the CA.

    ``fixed_not_after`` (the request's ``not_after``) replaces the TTL arithmetic."""
    if fixed_not_after is not None:
        now = now_utc()
        return Validity(
            (now - datetime.timedelta(seconds=backdate)).replace(microsecond=0),
            _within_ca(fixed_not_after, ca, ca_behavior).replace(microsecond=0),
        )
    default, maximum = mount_ttls
    ttl = requested_ttl or role_ttl or default
    max_ttl = role_max_ttl or maximum
    warnings: list[str] = []
    if max_ttl and ttl > max_ttl:
        warnings.append(
            f'TTL "{format_go_duration(ttl)}" is longer than permitted maxTTL '
            f'"{format_go_duration(max_ttl)}", so maxTTL is being used'
        )
        ttl = max_ttl
    now = now_utc()
    not_after = _within_ca(now + datetime.timedelta(seconds=ttl), ca, ca_behavior)
    not_before = now - datetime.timedelta(seconds=backdate)
    return Validity(not_before.replace(microsecond=0), not_after.replace(microsecond=0), warnings)


def _within_ca(not_after: datetime.datetime, ca: x509.Certificate | None, behavior: str) -> datetime.datetime:
    """``not_after``, unless it outlives the CA: then an error, the CA's own end, or as is."""
    if ca is None or not_after <= ca.not_valid_after_utc or behavior == "permit":
        return not_after
    if behavior == "truncate":
        return ca.not_valid_after_utc
    raise ErrorResponse(
        f"cannot satisfy request, as TTL would result in notAfter of {rfc3339_datetime(not_after)} that is "
        f"beyond the expiration of the CA certificate at {rfc3339_datetime(ca.not_valid_after_utc)}"
    )


def requested_not_after(data: Any) -> datetime.datetime | None:
    """The request's ``not_after`` (RFC 3339), refused alongside a ``ttl`` as the reference does."""
    text = data.get("not_after")
    if not text:
        return None
    if data.get("ttl"):
        raise ErrorResponse(
            "Either ttl or not_after should be provided. Both should not be provided in the same request."
        )
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text:
        raise ErrorResponse(
            f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse "{text}" as "2006"'
        )
    return parsed.astimezone(datetime.UTC)


def issuer_chain(issuer: Issuer) -> list[str]:
    return issuer.ca_chain or [issuer.certificate]


def aia_template(store: PKIStore, issuer: Issuer | None, t: x509util.Template) -> bool:
    """Fill the AIA and CRL distribution URLs (the issuer's own, else the mount's); True if any."""
    urls = store.urls()
    source: dict[str, Any] = urls
    if issuer is not None and (
        issuer.issuing_certificates or issuer.crl_distribution_points or issuer.ocsp_servers
    ):
        source = {
            "issuing_certificates": issuer.issuing_certificates,
            "crl_distribution_points": issuer.crl_distribution_points,
            "ocsp_servers": issuer.ocsp_servers,
        }
    t.issuing_certificates = list(source["issuing_certificates"])
    t.crl_distribution_points = list(source["crl_distribution_points"])
    t.ocsp_servers = list(source["ocsp_servers"])
    return bool(t.issuing_certificates or t.crl_distribution_points or t.ocsp_servers)


def cert_output(cert: x509.Certificate, fmt: str) -> str:
    if fmt == "der":
        return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return x509util.cert_pem(cert)


def key_output(key: x509util.PrivateKey, fmt: str, key_format: str) -> str:
    if fmt == "der":
        if key_format == "pkcs8" or x509util.key_type_of(key) == "ed25519":
            encoding = serialization.PrivateFormat.PKCS8
        else:
            encoding = serialization.PrivateFormat.TraditionalOpenSSL
        raw = key.private_bytes(serialization.Encoding.DER, encoding, serialization.NoEncryption())
        return base64.b64encode(raw).decode()
    return x509util.private_key_pem(key, key_format)


def chain_output(pems: list[str], fmt: str) -> list[str]:
    return [cert_output(x509util.load_cert(p), fmt) if fmt == "der" else p for p in pems]


def leaf_response(
    cert: x509.Certificate,
    issuer: Issuer,
    fmt: str,
    key: x509util.PrivateKey | None,
    key_format: str,
    remove_roots: bool = False,
) -> dict[str, Any]:
    """The data of an issue/sign answer, in the reference's shape."""
    chain = issuer_chain(issuer)
    if remove_roots:
        chain = [pem for pem in chain if not _self_signed(pem)]
    out: dict[str, Any] = {
        "certificate": cert_output(cert, fmt),
        "issuing_ca": cert_output(issuer.cert, fmt) if fmt == "der" else issuer.certificate,
        "ca_chain": chain_output(chain, fmt),
        "serial_number": x509util.format_serial(cert.serial_number),
        "expiration": int(cert.not_valid_after_utc.timestamp()),
        "not_before": int(cert.not_valid_before_utc.timestamp()),
    }
    if not chain:
        del out["ca_chain"]  # the reference leaves an empty chain out
    if key is not None:
        out["private_key"] = key_output(key, fmt, key_format)
        out["private_key_type"] = x509util.key_type_of(key)
    if fmt == "pem_bundle":
        parts = [out["certificate"]]
        if key is not None:
            parts.insert(0, out["private_key"])
        parts += chain
        out["certificate"] = "\n".join(parts)
    return out


def _self_signed(pem: str) -> bool:
    cert = x509util.load_cert(pem)
    return cert.subject == cert.issuer

"""Revoking certificates and keeping each issuer's CRL current.

A revocation is stored next to the certificate; every revocation (or ``crl/rotate``) rebuilds the
CRL of each issuer that holds a key, so ``crl`` always reads a signed, current list.
"""

from __future__ import annotations

import base64
import datetime
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...framework import ErrorResponse
from ...gocompat.durations import DurationError, parse_duration_second
from ...gocompat.times import rfc3339_datetime
from . import x509util
from .store import Issuer, PKIStore


class ExpiredCertificate(Exception):
    """Revoking an expired certificate: the reference answers with a warning, not an error."""


def _issuer_of(store: PKIStore, cert: x509.Certificate) -> Issuer | None:
    for issuer in store.issuers():
        if issuer.cert.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(issuer.cert)
            except (ValueError, TypeError, x509.InvalidSignature):
                continue
            return issuer
    return None


def revoke(store: PKIStore, serial: str, allow_expired: bool | None = None) -> dict[str, Any]:
    """Revoke a stored certificate (again: the first revocation stands) and rebuild the CRLs."""
    serial = x509util.normalize_serial(serial)
    existing = store.revocation(serial)
    if existing is not None:
        return _revocation_answer(existing)
    pem = store.cert_pem(serial)
    if pem is None:
        raise ErrorResponse(f"certificate with serial {serial} not found.")
    cert = x509util.load_cert(pem)
    for issuer in store.issuers():
        if issuer.serial == serial:
            raise ErrorResponse(f"adding issuer (id: {issuer.id}) to its own CRL is not allowed")
    if allow_expired is None:
        allow_expired = bool(store.crl_config()["allow_expired_cert_revocation"])
    if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC) and not allow_expired:
        raise ExpiredCertificate(
            f"certificate with serial {serial} already expired; refusing to add to CRL. Enable "
            "'AllowExpiredCertRevocation' to allow revoking expired certificates."
        )
    issuer = _issuer_of(store, cert)
    now = time.time()
    info = {
        "serial": serial,
        "revocation_time": int(now),
        "revocation_time_rfc3339": rfc3339_datetime(datetime.datetime.fromtimestamp(now, datetime.UTC)),
        "issuer_id": issuer.id if issuer is not None else "",
    }
    store.put_revocation(serial, info)
    rebuild_crls(store)
    return _revocation_answer(info)


def _revocation_answer(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "revocation_time": info["revocation_time"],
        "revocation_time_rfc3339": info["revocation_time_rfc3339"],
        "state": "revoked",
    }


def crl_expiry(store: PKIStore) -> int:
    try:
        return parse_duration_second(store.crl_config()["expiry"])
    except DurationError:
        return 72 * 3600


def rebuild_crls(store: PKIStore) -> None:
    """Sign a fresh CRL for every issuer with a key (an empty one when nothing is revoked)."""
    revoked: dict[str, list[tuple[int, datetime.datetime]]] = {}
    for serial in store.revoked_serials():
        info = store.revocation(serial)
        if info is None:
            continue
        when = datetime.datetime.fromtimestamp(info["revocation_time"], datetime.UTC)
        revoked.setdefault(info.get("issuer_id", ""), []).append((int(serial.replace(":", ""), 16), when))
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    expiry = crl_expiry(store)
    for issuer in store.issuers():
        key = store.key(issuer.key_id) if issuer.key_id else None
        if key is None:
            continue
        previous = store.s.get_json("crls/" + issuer.id) or {}
        number = int(previous.get("number", 0)) + 1 if previous else 1
        crl = x509util.build_crl(
            issuer.cert,
            x509util.load_private_key(key.private_key),
            revoked.get(issuer.id, []),
            now,
            expiry,
            number,
        )
        der = crl.public_bytes(serialization.Encoding.DER)
        store.s.put_json("crls/" + issuer.id, {"der": base64.b64encode(der).decode(), "number": number})


def crl_der(store: PKIStore, issuer: Issuer) -> bytes:
    """The issuer's current CRL, built on first use."""
    raw = store.s.get_json("crls/" + issuer.id)
    if raw is None:
        rebuild_crls(store)
        raw = store.s.get_json("crls/" + issuer.id)
    if raw is None:
        return b""
    return base64.b64decode(raw["der"])


def crl_pem(der: bytes) -> str:
    if not der:
        return ""
    return x509util.crl_pem(x509.load_der_x509_crl(der))

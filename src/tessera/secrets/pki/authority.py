"""Creating and importing CAs: root generation, intermediate CSRs, signing intermediates, bundles.

Import (``config/ca``, ``intermediate/set-signed``, ``issuers/import/*``) follows Vault's
importIssuers: keys are matched to certificates by public key, known ones are reported as existing,
and every issuer's chain is rebuilt from the issuers the mount holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...framework import ErrorResponse
from . import x509util
from .store import Issuer, PKIStore

_MAX_CHAIN = 10


def import_bundle(store: PKIStore, bundle: str) -> dict[str, Any]:
    """Import every CA certificate and private key in a PEM bundle; the answer lists what changed."""
    if len(bundle.strip()) < 75:
        raise ErrorResponse(
            "provided data for import was too short; perhaps a path was passed to the API rather than "
            "the contents of a PEM file"
        )
    certs: list[x509.Certificate] = []
    keys: list[x509util.PrivateKey] = []
    for kind, der in x509util.split_pem_blocks(bundle):
        try:
            if kind == "CERTIFICATE":
                certs.append(x509.load_der_x509_certificate(der))
            elif kind.endswith("PRIVATE KEY"):
                keys.append(load_der_key(der))
        except ValueError as exc:
            raise ErrorResponse(f"error parsing {kind.lower()}: {exc}") from None
    if not certs and not keys:
        raise ErrorResponse("no data found in PEM bundle")
    imported_keys, existing_keys = [], []
    known_keys = set(store.key_ids())
    for key in keys:
        stored = store.add_key(key)
        (existing_keys if stored.id in known_keys else imported_keys).append(stored.id)
        known_keys.add(stored.id)
    imported_issuers, existing_issuers, mapping = [], [], {}
    for cert in certs:
        if not is_ca(cert):
            raise ErrorResponse("refusing to import non-CA certificate")
        issuer, created = add_issuer(store, cert)
        (imported_issuers if created else existing_issuers).append(issuer.id)
        mapping[issuer.id] = issuer.key_id
    rebuild_chains(store)
    return {
        "existing_issuers": existing_issuers or None,
        "existing_keys": existing_keys or None,
        "imported_issuers": imported_issuers or None,
        "imported_keys": imported_keys or None,
        "mapping": mapping,
    }


def load_der_key(der: bytes) -> x509util.PrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    return x509util.load_private_key(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def add_issuer(store: PKIStore, cert: x509.Certificate, name: str = "") -> tuple[Issuer, bool]:
    """Store ``cert`` as an issuer (or find it stored), linked to its key if the mount has it."""
    pem = x509util.cert_pem(cert)
    key = store.key_for_public(x509util.public_der(cert.public_key()))  # type: ignore[arg-type]
    for existing in store.issuers():
        if existing.certificate == pem:
            if key is not None and not existing.key_id:
                existing.key_id = key.id
                store.put_issuer(existing)
            return existing, False
    issuer = Issuer(
        id=str(uuid.uuid4()),
        name=name,
        key_id=key.id if key is not None else "",
        certificate=pem,
        revocation_signature_algorithm=x509util.signature_algorithm_name(cert) if key is not None else "",
    )
    store.put_issuer(issuer)
    store.store_cert(cert)
    if key is not None and not store.issuers_config()["default"]:
        store.set_default_issuer(issuer.id)
    return issuer, True


def rebuild_chains(store: PKIStore) -> None:
    """Each issuer's ca_chain: itself, then each parent the mount holds, up to a root."""
    issuers = store.issuers()
    certs = {i.id: i.cert for i in issuers}
    for issuer in issuers:
        if issuer.manual_chain:
            continue
        chain, current = [issuer.certificate], certs[issuer.id]
        for _ in range(_MAX_CHAIN):
            if current.issuer == current.subject:
                break
            parent = next(
                (i for i in issuers if i.certificate not in chain and signed_by(current, certs[i.id])),
                None,
            )
            if parent is None:
                break
            chain.append(parent.certificate)
            current = certs[parent.id]
        if chain != issuer.ca_chain:
            issuer.ca_chain = chain
            store.put_issuer(issuer)


def signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, x509.InvalidSignature):
        return False
    return True


def resign(cert: x509.Certificate, issuer: x509.Certificate, key: x509util.PrivateKey) -> x509.Certificate:
    """``cert`` as ``issuer`` signs it: same subject, key, validity and extensions, a new AKI."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer.subject)
        .public_key(cert.public_key())  # type: ignore[arg-type]
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        if isinstance(ext.value, x509.AuthorityKeyIdentifier):
            continue
        builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),  # type: ignore[arg-type]
        critical=False,
    )
    return builder.sign(key, x509util.signature_hash(key))  # type: ignore[arg-type]

"""``crls/:name``: certificate revocation lists checked at every login (Vault's path_crls).

A CRL is stored as the set of serial numbers it revokes; a chain with any revoked serial in it
matches no entry. The CRL's own validity dates are ignored, as Vault ignores them: delete a
CRL that no longer applies. Logins read the union of all CRLs from :class:`RevokedSerials`,
kept in memory until a CRL is written (here, or by another process: the backend's
``invalidate``), so a login lists no storage folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from cryptography import x509

from ...framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    Operation,
    Path,
    Request,
    Response,
    generic_name,
)
from ...storage.base import Storage

PREFIX = "crls/"


def revoked_serials(storage: Storage) -> set[int]:
    """Every serial any stored CRL revokes."""
    serials: set[int] = set()
    for name in storage.list(PREFIX):
        doc = storage.get_json(PREFIX + name) or {}
        serials.update(int(s) for s in (doc.get("serials") or {}))
    return serials


class RevokedSerials:
    """One mount's revoked serials as logins read them, computed again after any CRL change.

    A login that began reading before a change does not keep what it read (the generation
    moved), so once ``forget`` returns no login sees the CRLs as they were before."""

    def __init__(self) -> None:
        self._serials: frozenset[int] | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, storage: Storage) -> frozenset[int]:
        found = self._serials
        if found is not None:
            return found
        generation = self._generation
        serials = frozenset(revoked_serials(storage))
        with self._lock:
            if generation == self._generation:
                self._serials = serials
        return serials

    def forget(self) -> None:
        """A CRL was written or deleted (after the write landed)."""
        with self._lock:
            self._generation += 1
            self._serials = None


def _parse(text: str) -> x509.CertificateRevocationList:
    raw = text.encode("latin-1", "replace")
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_crl(raw)
        return x509.load_der_x509_crl(raw)
    except ValueError as exc:
        raise ErrorResponse(f"failed to parse CRL: {exc}") from None


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


def list_crls(req: Request, data: FieldData) -> Response:
    return Response(data={"keys": sorted(_storage(req).list(PREFIX))})


def read_crl(req: Request, data: FieldData) -> Response:
    name = str(data.get("name")).lower()
    doc = _storage(req).get_json(PREFIX + name)
    if doc is None:
        raise ErrorResponse(f"no such CRL {name}")
    return Response(data={"serials": doc.get("serials") or {}})  # no "cdp": no distribution points yet


def _write_crl(req: Request, data: FieldData) -> None:
    name = str(data.get("name")).lower()
    text, ok = data.get_ok("crl")
    if not ok:
        if data.has("url"):
            raise ErrorResponse("CRL distribution point URLs are not supported by this server; provide 'crl'")
        raise ErrorResponse("one of 'crl' or 'url' must be provided")
    crl = _parse(text)
    serials: dict[str, Any] = {str(revoked.serial_number): {} for revoked in crl}
    _storage(req).put_json(PREFIX + name, {"serials": serials})


def _delete_crl(req: Request, data: FieldData) -> None:
    name = str(data.get("name")).lower()
    storage = _storage(req)
    if storage.get_json(PREFIX + name) is None:
        raise ErrorResponse(f"no such CRL {name}")
    storage.delete(PREFIX + name)


def crl_paths(changed: Callable[[], None]) -> list[Path]:
    """The crls/ paths; ``changed`` is called after every write or deletion of a CRL."""
    synopsis = "Manage Certificate Revocation Lists checked during authentication."

    def write_crl(req: Request, data: FieldData) -> None:
        try:
            _write_crl(req, data)
        finally:
            changed()

    def delete_crl(req: Request, data: FieldData) -> None:
        try:
            _delete_crl(req, data)
        finally:
            changed()

    return [
        Path("crls/?$", fields={}, operations={Operation.LIST: list_crls}, synopsis=synopsis),
        Path(
            "crls/" + generic_name("name") + "$",
            fields={
                "name": Field(FieldType.STRING, "The name of the certificate"),
                "crl": Field(
                    FieldType.STRING, "The public CRL that should be trusted. May be DER or PEM encoded."
                ),
                "url": Field(FieldType.STRING, "The URL of a CRL distribution point."),
            },
            operations={Operation.READ: read_crl, Operation.UPDATE: write_crl, Operation.DELETE: delete_crl},
            synopsis=synopsis,
        ),
    ]

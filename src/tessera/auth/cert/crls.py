"""``crls/:name``: certificate revocation lists checked at every login (Vault's path_crls).

A CRL is stored as the set of serial numbers it revokes; a chain with any revoked serial in it
matches no entry. The CRL's own validity dates are ignored, as Vault ignores them: delete a
CRL that no longer applies.
"""

from __future__ import annotations

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


def write_crl(req: Request, data: FieldData) -> None:
    name = str(data.get("name")).lower()
    text, ok = data.get_ok("crl")
    if not ok:
        if data.has("url"):
            raise ErrorResponse("CRL distribution point URLs are not supported by this server; provide 'crl'")
        raise ErrorResponse("one of 'crl' or 'url' must be provided")
    crl = _parse(text)
    serials: dict[str, Any] = {str(revoked.serial_number): {} for revoked in crl}
    _storage(req).put_json(PREFIX + name, {"serials": serials})


def delete_crl(req: Request, data: FieldData) -> None:
    name = str(data.get("name")).lower()
    storage = _storage(req)
    if storage.get_json(PREFIX + name) is None:
        raise ErrorResponse(f"no such CRL {name}")
    storage.delete(PREFIX + name)


def crl_paths() -> list[Path]:
    synopsis = "Manage Certificate Revocation Lists checked during authentication."
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

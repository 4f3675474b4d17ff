"""Pieces every transit path shares: the key document, batch status codes, URL-only parameters."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from ...framework import ErrorResponse, FieldData, InternalError, Response
from ...gocompat.times import rfc3339_nano_ns
from . import consts as C
from . import ops
from .encoding import b64encode, is_zero_time
from .errors import TransitError
from .policy import Policy, rsa_public_pem

if TYPE_CHECKING:
    from .manager import KeyManager

NAME = r"(?P<name>\w(([\w\-.]+)?\w)?)"


def sget(d: FieldData, name: str) -> str:
    """A validated string field, read without the generic coercion when it already is a string."""
    value = d.raw.get(name)
    return value if type(value) is str else d.get(name)  # type: ignore[no-any-return]


def iget(d: FieldData, name: str) -> int:
    """A validated int field, read without the generic coercion when it already is an int."""
    value = d.raw.get(name)
    return value if type(value) is int else d.get(name)  # type: ignore[no-any-return]


def go_error(exc: TransitError | Exception) -> InternalError:
    """A Go error returned by a handler: 500 with the multierror text."""
    return InternalError(str(exc))


def key_document(p: Policy, context: bytes | None = None) -> dict[str, Any]:
    """formatKeyPolicy: what key reads, creates, rotations and config updates answer with."""
    kt = p.type
    data: dict[str, Any] = {
        "name": p.name,
        "type": C.type_name(kt),
        "derived": p.derived,
        "deletion_allowed": p.deletion_allowed,
        "min_available_version": p.min_available_version,
        "min_decryption_version": p.min_decryption_version,
        "min_encryption_version": p.min_encryption_version,
        "latest_version": p.latest_version,
        "exportable": p.exportable,
        "allow_plaintext_backup": p.allow_plaintext_backup,
        "supports_encryption": kt in C.ENCRYPTION,
        "supports_decryption": kt in C.DECRYPTION,
        "supports_signing": kt in C.SIGNING,
        "supports_derivation": kt in C.DERIVATION,
        "auto_rotate_period": int(p.auto_rotate_period // 1_000_000_000),
        "imported_key": p.imported,
        "soft_deleted": p.soft_deleted,
    }
    if p.key_size:
        data["key_size"] = p.key_size
    if p.imported:
        data["imported_key_allow_rotation"] = p.allow_imported_key_rotation
    if p.backup_info is not None:
        data["backup_info"] = {"time": p.backup_info.get("time"), "version": p.backup_info.get("version")}
    if p.restore_info is not None:
        data["restore_info"] = {"time": p.restore_info.get("time"), "version": p.restore_info.get("version")}
    if p.derived:
        if p.kdf == C.KDF_HMAC_SHA256_COUNTER:
            data["kdf"] = "hmac-sha256-counter"
            data["kdf_mode"] = "hmac-sha256-counter"
        elif p.kdf == C.KDF_HKDF_SHA256:
            data["kdf"] = "hkdf_sha256"
        data["convergent_encryption"] = p.convergent_encryption
        if p.convergent_encryption:
            data["convergent_encryption_version"] = p.convergent_version
    if kt in C.SYMMETRIC:
        data["keys"] = {k: v.creation_time for k, v in p.keys.items()}
    elif kt in C.ECDSA or kt in C.RSA or kt == C.ED25519:
        out: dict[str, Any] = {}
        for k, v in p.keys.items():
            created = v.time
            if is_zero_time(created):
                created = rfc3339_nano_ns(v.creation_time * 1_000_000_000)
            item = {
                "name": "",
                "public_key": v.public_key,
                "certificate_chain": pem_chain(v.certificate_chain),
                "creation_time": created,
            }
            if kt in C.ECDSA:
                item["name"] = C.ECDSA_CURVE_NAMES[kt]
            elif kt == C.ED25519:
                if p.derived:
                    if not context:
                        item["public_key"] = ""
                    else:
                        try:
                            full = ops.get_key(p, context, int(k), 32)
                        except TransitError as exc:
                            raise InternalError(
                                f"failed to derive key to return public component: {exc}"
                            ) from None
                        item["public_key"] = b64encode(full[32:])
                item["name"] = "ed25519"
            else:
                item["name"] = C.type_name(kt)
                try:
                    item["public_key"] = rsa_public_pem(v)
                except TransitError as exc:
                    raise go_error(exc) from None
            out[k] = item
        data["keys"] = out
    elif kt == C.EXTERNAL_KEY:
        data["keys"] = {k: v.external_key_ref for k, v in p.keys.items()}
    return data


def pem_chain(chain: list[str] | None) -> str:
    """A key version's imported certificate chain (base64 DER each) as PEM blocks."""
    if not chain:
        return ""
    blocks = []
    for der_b64 in chain:
        body = "\n".join(textwrap.wrap(der_b64, 64))
        blocks.append(f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----")
    return "\n".join(blocks)


def batch_response(
    d: FieldData, resp: Response, successes: bool, user_errors: bool, internal_errors: bool
) -> Response:
    """batchRequestResponse: 400 (user) or 500 (internal) with the whole envelope when items failed."""
    if not (user_errors or internal_errors):
        return resp
    code = 400 if user_errors else 500
    raw_code, given = d.get_ok("partial_failure_response_code")
    if given and successes:
        if raw_code < 1 or raw_code > 599:
            resp.add_warning(
                f"invalid HTTP response code override from partial_failure_response_code, reverting to {code}"
            )
        else:
            code = raw_code
    resp.status = code
    return resp


def require_policy(manager: KeyManager, req: Any, name: str, missing: str) -> Policy:
    """The named key or a 400 with the reference's not-found text for this endpoint."""
    p = manager.get(req.storage, name)
    if p is None:
        raise ErrorResponse(missing)
    return p

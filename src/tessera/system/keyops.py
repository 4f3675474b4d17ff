"""The authenticated key-ceremony paths of the system backend.

* ``sys/generate-root-token/attempt|update``: OpenBao's ACL-checked twin of the unauthenticated
  ``sys/generate-root/*`` (the ``bao operator generate-root`` CLI talks to these).
* ``sys/decode-token``: XOR an encoded token with its OTP (unauthenticated).
* ``sys/rekey/backup``, ``sys/rekey/recovery-key-backup``: PGP-encrypted shares a rekey kept.

The unauthenticated ``sys/generate-root/*`` and ``sys/rekey/*`` endpoints are raw paths
(``system.ceremonies``); the state machines live in ``core.rootgen`` and ``core.rekey``.
"""

from __future__ import annotations

import base64
import binascii
import string
from typing import TYPE_CHECKING, Any

from ..core import rekey as rekey_mod
from ..core import rootgen
from ..framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    Operation,
    Path,
    Request,
    Response,
)

if TYPE_CHECKING:
    from ..core.core import Core


def root_status(core: Core, otp: str = "") -> dict[str, Any]:
    """generateRootStatus: the logical answer (nonce and fingerprint only once started)."""
    gen = rootgen.generation(core)
    try:
        required = gen.required()
    except rootgen.GenerateRootError as exc:
        raise ErrorResponse(str(exc)) from None
    doc: dict[str, Any] = {
        "started": False,
        "complete": False,
        "progress": gen.progress(),
        "required": required,
        "otp": otp,
        "otp_length": rootgen.OTP_LENGTH,
    }
    attempt = gen.attempt
    if attempt is not None:
        doc["nonce"] = attempt.nonce
        doc["started"] = True
        doc["pgp_fingerprint"] = attempt.pgp_fingerprint
    return doc


def _decode_key(text: str) -> bytes:
    """hex, else standard base64 (the logical path has no length heuristic)."""
    if len(text) % 2 == 0 and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InternalError("'key' must be a valid hex or base64 string") from None


class KeyOpsHandlers:
    """The handlers of the authenticated key ceremonies, over one Core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def attempt_read(self, req: Request, data: FieldData) -> Response:
        return Response(data=root_status(self.core))

    def attempt_init(self, req: Request, data: FieldData) -> Response:
        otp, pgp_key = data.get("otp"), data.get("pgp_key")
        generated = ""
        if not otp and not pgp_key:
            otp = generated = rootgen.generate_otp()
        try:
            rootgen.generation(self.core).init(otp, pgp_key, rootgen.STANDARD)
        except rootgen.GenerateRootError as exc:
            raise ErrorResponse(str(exc)) from None
        return Response(data=root_status(self.core, generated))

    def attempt_cancel(self, req: Request, data: FieldData) -> Response | None:
        rootgen.generation(self.core).cancel()
        return None

    def update(self, req: Request, data: FieldData) -> Response:
        nonce, key = data.get("nonce"), data.get("key")
        if not nonce:
            raise ErrorResponse("nonce is required")
        if not key:
            raise ErrorResponse("key is required")
        share = _decode_key(key.strip())
        try:
            result = rootgen.generation(self.core).update(share, nonce, rootgen.STANDARD)
        except rootgen.GenerateRootError as exc:
            raise InternalError(str(exc)) from None
        return Response(
            data={
                "started": True,
                "complete": result.complete,
                "progress": result.progress,
                "required": result.required,
                "nonce": nonce,
                "encoded_token": result.encoded_token,
                "pgp_fingerprint": result.pgp_fingerprint,
            }
        )

    def decode(self, req: Request, data: FieldData) -> Response:
        encoded, otp = data.get("encoded_token"), data.get("otp")
        if not encoded or not otp:
            raise ErrorResponse("provided 'encoded_token' or 'otp' is empty")
        try:
            token = rootgen.decode_token(encoded, otp, len(otp))
        except rootgen.GenerateRootError as exc:
            raise ErrorResponse(str(exc)) from None
        return Response(data={"token": token})

    def backup_handlers(self, recovery: bool) -> dict[Operation, Any]:
        def read(req: Request, data: FieldData) -> Response:
            try:
                backup = rekey_mod.rekey(self.core).read_backup(recovery)
            except rekey_mod.RekeyError as exc:
                raise InternalError(f"unable to look up backed-up keys: {exc}") from None
            if backup is None:
                raise ErrorResponse("no backed-up keys found")
            keys_b64 = {
                fp: [base64.b64encode(bytes.fromhex(k)).decode() for k in keys]
                for fp, keys in backup["keys"].items()
            }
            return Response(data={"nonce": backup["nonce"], "keys": backup["keys"], "keys_base64": keys_b64})

        def delete(req: Request, data: FieldData) -> Response | None:
            try:
                rekey_mod.rekey(self.core).delete_backup(recovery)
            except rekey_mod.RekeyError as exc:
                raise InternalError(f"error during deletion of backed-up keys: {exc}") from None
            return None

        return {Operation.READ: read, Operation.DELETE: delete}


def keyops_paths(core: Core) -> list[Path]:
    h = KeyOpsHandlers(core)
    return [
        Path(
            "generate-root-token/attempt",
            fields={
                "otp": Field(FieldType.STRING, "One-time password for encoding the root token."),
                "pgp_key": Field(FieldType.STRING, "PGP key for encrypting the root token."),
            },
            operations={
                Operation.READ: h.attempt_read,
                Operation.UPDATE: h.attempt_init,
                Operation.DELETE: h.attempt_cancel,
            },
            synopsis="Reads status, initializes, or cancels a root token generation process.",
        ),
        Path(
            "generate-root-token/update",
            fields={
                "key": Field(FieldType.STRING, "Specifies a single unseal key share."),
                "nonce": Field(FieldType.STRING, "Specifies the nonce of the attempt."),
            },
            operations={Operation.UPDATE: h.update},
            synopsis="Reads status, initializes, or cancels a root token generation process.",
        ),
        Path(
            "decode-token",
            unauthenticated=True,
            fields={
                "encoded_token": Field(
                    FieldType.STRING, "Specifies the encoded token (result from generate-root)."
                ),
                "otp": Field(FieldType.STRING, "Specifies the otp code for decode."),
            },
            operations={Operation.UPDATE: h.decode},
            synopsis=(
                "Decodes encoded root token generated through `sys/generate-root-token` or "
                "unauthenticated `sys/generate-root` endpoint"
            ),
        ),
        Path(
            "rekey/backup",
            operations=h.backup_handlers(False),
            synopsis="Allows fetching or deleting the backup of the rotated unseal keys.",
        ),
        Path(
            "rekey/recovery-key-backup",
            operations=h.backup_handlers(True),
            synopsis="Allows fetching or deleting the backup of the rotated unseal keys.",
        ),
    ]

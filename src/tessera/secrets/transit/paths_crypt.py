"""Data paths: encrypt (with upsert), decrypt, rewrap and datakey, single or ``batch_input``.

This is the hot path of the batch-token workload: one cached policy lookup, no storage access,
and per item only base64 and the AEAD call.
"""

from __future__ import annotations

import os
from typing import Any

from ...framework import (
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
from . import consts as C
from . import ops
from .batch import Item, fast_items, struct_items
from .common import NAME, batch_response, go_error, iget, sget
from .encoding import Base64Error, b64decode, b64encode
from .errors import TransitError, UserError
from .manager import KeyManager, PolicyRequest
from .paths_keys import disable_upsert

S = FieldType.STRING


class CryptHandlers:
    """The data-path handlers of one mount, over its key manager."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def encrypt(self, req: Request, d: FieldData) -> Response | None:
        name = sget(d, "name")
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = fast_items(batch_raw, require_plaintext=True, require_ciphertext=False)
            if not items:
                raise ErrorResponse("missing batch input to process")
        else:
            if "plaintext" not in d.raw:
                raise ErrorResponse("missing plaintext to encrypt")
            items = [
                Item(
                    plaintext=sget(d, "plaintext"),
                    context=sget(d, "context"),
                    key_version=iget(d, "key_version"),
                    associated_data=sget(d, "associated_data"),
                )
            ]
        n = len(items)
        errors = [""] * n
        plaintexts: list[bytes] = [b""] * n
        context_set = bool(items[0].context)
        user_err = internal_err = False
        for i, it in enumerate(items):
            if bool(it.context) != context_set:
                raise ErrorResponse("context should be set either in all the request blocks or in none")
            try:
                plaintexts[i] = b64decode(it.plaintext)
                if it.context:
                    it.decoded_context = b64decode(it.context)
            except Base64Error as exc:
                user_err = True
                errors[i] = str(exc)

        if req.operation == Operation.CREATE:
            convergent = d.get("convergent_encryption")
            if convergent and not context_set:
                raise ErrorResponse(
                    "convergent encryption requires derivation to be enabled, so context is required"
                )
            key_type = d.get("type")
            kt = C.BY_NAME.get(key_type)
            if kt in C.ECDSA:
                raise ErrorResponse(f"key type {key_type} not supported for this operation")
            if kt not in C.SYMMETRIC:
                raise ErrorResponse(f"unknown key type {key_type}")
            preq = PolicyRequest(
                name=name,
                key_type=kt,
                derived=context_set,
                convergent=convergent,
                upsert=not disable_upsert(req),
            )
            try:
                p = self.manager.get_or_create(req.storage, preq)
            except TransitError as exc:
                raise go_error(exc) from None
        else:
            p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse("encryption key not found")

        aead_ok = p.type in C.ASSOCIATED_DATA
        latest = p.latest_version
        successes = False
        results: list[dict[str, Any]] = []
        fast = ops.fast_encryptor(p)
        if fast is not None:
            prefix, aead, size = fast
            nonces = os.urandom(size * n)
        for i, it in enumerate(items):
            out: dict[str, Any] = {}
            results.append(out)
            if errors[i]:
                user_err = True
                out["error"] = errors[i]
                continue
            if fast is not None and not it.key_version and not it.associated_data:
                nonce = nonces[i * size : (i + 1) * size]
                out["ciphertext"] = prefix + b64encode(nonce + aead.encrypt(nonce, plaintexts[i], None))
                out["key_version"] = latest
                successes = True
                continue
            if it.associated_data and not aead_ok:
                errors[i] = out["error"] = (
                    f"'[{i}].associated_data' provided for non-AEAD cipher suite {C.type_name(p.type)}"
                )
                continue
            try:
                ct = ops.encrypt(p, it.key_version, it.decoded_context, plaintexts[i], it.associated_data)
            except TransitError as exc:
                if exc.kind == "internal":
                    internal_err = True
                else:
                    user_err = True
                errors[i] = out["error"] = exc.message
                continue
            successes = True
            out["ciphertext"] = ct
            out["key_version"] = it.key_version or latest

        if batch_raw is not None:
            for it, out in zip(items, results, strict=True):
                out["reference"] = it.reference
            resp = Response(data={"batch_results": results})
        else:
            if errors[0]:
                if internal_err:
                    raise InternalError(errors[0])
                raise ErrorResponse(errors[0])
            resp = Response(
                data={"ciphertext": results[0]["ciphertext"], "key_version": results[0]["key_version"]}
            )
        return batch_response(d, resp, successes, user_err, internal_err)

    def encrypt_exists(self, req: Request, d: FieldData) -> bool:
        return self.manager.get(req.storage, sget(d, "name")) is not None

    def decrypt(self, req: Request, d: FieldData) -> Response | None:
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = fast_items(batch_raw, require_plaintext=False, require_ciphertext=True)
            if not items:
                raise ErrorResponse("missing batch input to process")
        else:
            ciphertext = sget(d, "ciphertext")
            if not ciphertext:
                raise ErrorResponse("missing ciphertext to decrypt")
            items = [
                Item(
                    ciphertext=ciphertext,
                    context=sget(d, "context"),
                    associated_data=sget(d, "associated_data"),
                )
            ]
        n = len(items)
        errors = [""] * n
        context_set = bool(items[0].context)
        user_err = internal_err = False
        for i, it in enumerate(items):
            if bool(it.context) != context_set:
                raise ErrorResponse("context should be set either in all the request blocks or in none")
            if not it.ciphertext:
                user_err = True
                errors[i] = "missing ciphertext to decrypt"
                continue
            if it.context:
                try:
                    it.decoded_context = b64decode(it.context)
                except Base64Error as exc:
                    user_err = True
                    errors[i] = str(exc)
        p = self.manager.get(req.storage, sget(d, "name"))
        if p is None:
            raise ErrorResponse("encryption key not found")
        aead_ok = p.type in C.ASSOCIATED_DATA
        successes = False
        results: list[dict[str, Any]] = []
        fast = ops.fast_decryptor(p)
        for i, it in enumerate(items):
            out: dict[str, Any] = {"plaintext": ""}
            results.append(out)
            if errors[i]:
                out["error"] = errors[i]
                continue
            if fast is not None and not it.associated_data:
                try:
                    out["plaintext"] = b64encode(fast(it.ciphertext))
                except TransitError as exc:
                    if exc.kind == "internal":
                        internal_err = True
                    else:
                        user_err = True
                    errors[i] = out["error"] = exc.message
                    continue
                successes = True
                continue
            if it.associated_data and not aead_ok:
                errors[i] = out["error"] = (
                    f"'[{i}].associated_data' provided for non-AEAD cipher suite {C.type_name(p.type)}"
                )
                continue
            try:
                out["plaintext"] = b64encode(
                    ops.decrypt(p, it.decoded_context, it.ciphertext, it.associated_data)
                )
            except TransitError as exc:
                if exc.kind == "internal":
                    internal_err = True
                else:
                    user_err = True
                errors[i] = out["error"] = exc.message
                continue
            successes = True
        if batch_raw is not None:
            for it, out in zip(items, results, strict=True):
                out["reference"] = it.reference
            resp = Response(data={"batch_results": results})
        else:
            if errors[0]:
                if internal_err:
                    raise InternalError(errors[0])
                raise ErrorResponse(errors[0])
            resp = Response(data={"plaintext": results[0]["plaintext"]})
        return batch_response(d, resp, successes, user_err, internal_err)

    def rewrap(self, req: Request, d: FieldData) -> Response | None:
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = struct_items(batch_raw)
            if not items:
                raise ErrorResponse("missing batch input to process")
        else:
            ciphertext = d.get("ciphertext")
            if not ciphertext:
                raise ErrorResponse("missing ciphertext to decrypt")
            items = [Item(ciphertext=ciphertext, context=d.get("context"), key_version=d.get("key_version"))]
        errors = [""] * len(items)
        context_set = bool(items[0].context)
        for i, it in enumerate(items):
            if bool(it.context) != context_set:
                raise ErrorResponse("context should be set either in all the request blocks or in none")
            if not it.ciphertext:
                errors[i] = "missing ciphertext to decrypt"
                continue
            if it.context:
                try:
                    it.decoded_context = b64decode(it.context)
                except Base64Error as exc:
                    errors[i] = str(exc)
        p = self.manager.get(req.storage, d.get("name"))
        if p is None:
            raise ErrorResponse("encryption key not found")
        results: list[dict[str, Any]] = []
        for i, it in enumerate(items):
            out: dict[str, Any] = {}
            results.append(out)
            if errors[i]:
                out["error"] = errors[i]
                continue
            try:
                plain = ops.decrypt(p, it.decoded_context, it.ciphertext)
                ct = ops.encrypt(p, it.key_version, it.decoded_context, plain)
            except UserError as exc:
                errors[i] = out["error"] = exc.message
                continue
            except TransitError as exc:
                raise go_error(exc) from None
            out["ciphertext"] = ct
            out["key_version"] = it.key_version or p.latest_version
        if batch_raw is not None:
            for it, out in zip(items, results, strict=True):
                out["reference"] = it.reference
            return Response(data={"batch_results": results})
        if errors[0]:
            raise ErrorResponse(errors[0])
        return Response(
            data={"ciphertext": results[0]["ciphertext"], "key_version": results[0]["key_version"]}
        )

    def datakey(self, req: Request, d: FieldData) -> Response | None:
        name = d.get("name")
        ver = d.get("key_version")
        kind = d.get("plaintext")
        if kind not in ("plaintext", "wrapped"):
            raise ErrorResponse("Invalid path, must be 'plaintext' or 'wrapped'")
        context = b""
        raw_context = d.get("context")
        if raw_context:
            try:
                context = b64decode(raw_context)
            except Base64Error:
                raise ErrorResponse("failed to base64-decode context") from None
        p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse("encryption key not found")
        bits = d.get("bits")
        if bits not in (128, 256, 512):
            raise ErrorResponse("invalid bit length")
        new_key = os.urandom(bits // 8)
        aad = d.get("associated_data")
        if aad and p.type not in C.ASSOCIATED_DATA:
            raise ErrorResponse(f"'associated_data' provided for non-AEAD cipher suite {C.type_name(p.type)}")
        try:
            ct = ops.encrypt(p, ver, context, new_key, aad)
        except UserError as exc:
            raise ErrorResponse(exc.message) from None
        except TransitError as exc:
            raise go_error(exc) from None
        data: dict[str, Any] = {"ciphertext": ct, "key_version": ver or p.latest_version}
        if kind == "plaintext":
            data["plaintext"] = b64encode(new_key)
        return Response(data=data)


def build(manager: KeyManager) -> list[Path]:
    """The data paths of one mount."""
    h = CryptHandlers(manager)

    name_field = {"name": Field(S, description="Name of the key")}
    batch = Field(FieldType.SLICE, description="A list of items to process in one request.")
    return [
        Path(
            "encrypt/" + NAME,
            fields={
                **name_field,
                "plaintext": Field(S, description="Base64 encoded plaintext value to be encrypted"),
                "context": Field(S, description="Base64 encoded context for key derivation."),
                "type": Field(S, default="aes256-gcm96"),
                "convergent_encryption": Field(FieldType.BOOL),
                "key_version": Field(FieldType.INT),
                "partial_failure_response_code": Field(FieldType.INT),
                "associated_data": Field(S),
                "batch_input": batch,
            },
            operations={Operation.CREATE: h.encrypt, Operation.UPDATE: h.encrypt},
            existence_check=h.encrypt_exists,
            synopsis="Encrypt a plaintext value or a batch of plaintext blocks using a named key",
        ),
        Path(
            "decrypt/" + NAME,
            fields={
                **name_field,
                "ciphertext": Field(S),
                "context": Field(S),
                "partial_failure_response_code": Field(FieldType.INT),
                "associated_data": Field(S),
                "batch_input": batch,
            },
            operations={Operation.UPDATE: h.decrypt},
            synopsis="Decrypt a ciphertext value using a named key",
        ),
        Path(
            "rewrap/" + NAME,
            fields={
                **name_field,
                "ciphertext": Field(S),
                "context": Field(S),
                "key_version": Field(FieldType.INT),
                "batch_input": batch,
            },
            operations={Operation.UPDATE: h.rewrap},
            synopsis="Rewrap ciphertext",
        ),
        Path(
            r"datakey/(?P<plaintext>\w(([\w\-.]+)?\w)?)/" + NAME,
            fields={
                **name_field,
                "plaintext": Field(S),
                "context": Field(S),
                "bits": Field(FieldType.INT, default=256),
                "key_version": Field(FieldType.INT),
                "associated_data": Field(S),
            },
            operations={Operation.UPDATE: h.datakey},
            synopsis="Generate a data key",
        ),
    ]

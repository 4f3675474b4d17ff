"""Data paths: encrypt (with upsert), decrypt, rewrap and datakey, single or ``batch_input``.

This is the hot path of the batch-token workload: one cached policy lookup, no storage access,
and per item only base64 and the AEAD call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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
from ...runtime.nonces import nonce_bytes
from . import consts as C
from . import ops
from .batch import Item, fast_items, struct_items
from .common import NAME, batch_response, go_error, iget, sget
from .encoding import Base64Error, b64decode, b64encode
from .errors import TransitError, UserError
from .manager import KeyManager, PolicyRequest
from .paths_keys import disable_upsert
from .policy import Policy

S = FieldType.STRING


_MIXED_CONTEXT = "context should be set either in all the request blocks or in none"


class _Outcome:
    """How the items of one request fared: the batch status code and a single answer depend on it."""

    __slots__ = ("errors", "internal_err", "successes", "user_err")

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.successes = False
        self.user_err = any(errors)
        self.internal_err = False

    def failed(self, i: int, out: dict[str, Any], exc: TransitError) -> None:
        """An item's operation failed: a user or an internal error, kept as the item's error."""
        if exc.kind == "internal":
            self.internal_err = True
        else:
            self.user_err = True
        self.errors[i] = out["error"] = exc.message

    def answer(
        self, batch: bool, items: list[Item], results: list[dict[str, Any]], keys: tuple[str, ...]
    ) -> Response:
        """The batch results with their references, or the single item's fields (or its error)."""
        if batch:
            for it, out in zip(items, results, strict=True):
                out["reference"] = it.reference
            return Response(data={"batch_results": results})
        if self.errors[0]:
            if self.internal_err:
                raise InternalError(self.errors[0])
            raise ErrorResponse(self.errors[0])
        return Response(data={k: results[0][k] for k in keys})

    def batch_answer(self, d: FieldData, resp: Response) -> Response:
        return batch_response(d, resp, self.successes, self.user_err, self.internal_err)


def _batch(items: list[Item]) -> list[Item]:
    if not items:
        raise ErrorResponse("missing batch input to process")
    return items


def _context_set(items: list[Item]) -> bool:
    """Whether the items carry a context: the reference wants it in all of them or in none."""
    context_set = bool(items[0].context)
    for it in items:
        if bool(it.context) != context_set:
            raise ErrorResponse(_MIXED_CONTEXT)
    return context_set


def _decode_plaintexts(items: list[Item]) -> tuple[list[bytes], list[str]]:
    """Each item's plaintext (and context) decoded, or the item's base64 error."""
    plaintexts: list[bytes] = [b""] * len(items)
    errors = [""] * len(items)
    for i, it in enumerate(items):
        try:
            plaintexts[i] = b64decode(it.plaintext)
            if it.context:
                it.decoded_context = b64decode(it.context)
        except Base64Error as exc:
            errors[i] = str(exc)
    return plaintexts, errors


def _decode_contexts(items: list[Item]) -> list[str]:
    """Each item's context decoded, or the item's error: no ciphertext or bad base64."""
    errors = [""] * len(items)
    for i, it in enumerate(items):
        if not it.ciphertext:
            errors[i] = "missing ciphertext to decrypt"
            continue
        if it.context:
            try:
                it.decoded_context = b64decode(it.context)
            except Base64Error as exc:
                errors[i] = str(exc)
    return errors


def _non_aead_error(i: int, p: Policy) -> str:
    return f"'[{i}].associated_data' provided for non-AEAD cipher suite {C.type_name(p.type)}"


def _encrypt_items(
    p: Policy, items: list[Item], plaintexts: list[bytes], outcome: _Outcome
) -> list[dict[str, Any]]:
    """Encrypt every item; well-formed ones with the latest key take the one-AEAD-call fast path."""
    errors = outcome.errors
    latest = p.latest_version
    aead_ok = p.type in C.ASSOCIATED_DATA
    results: list[dict[str, Any]] = []
    fast = ops.fast_encryptor(p)
    if fast is not None:
        prefix, aead, size = fast
        nonces = nonce_bytes(size * len(items))
    for i, it in enumerate(items):
        out: dict[str, Any] = {}
        results.append(out)
        if errors[i]:
            out["error"] = errors[i]
            continue
        if fast is not None and not it.key_version and not it.associated_data:
            nonce = nonces[i * size : (i + 1) * size]
            out["ciphertext"] = prefix + b64encode(nonce + aead.encrypt(nonce, plaintexts[i], None))
            out["key_version"] = latest
            outcome.successes = True
            continue
        if it.associated_data and not aead_ok:
            errors[i] = out["error"] = _non_aead_error(i, p)
            continue
        try:
            ct = ops.encrypt(p, it.key_version, it.decoded_context, plaintexts[i], it.associated_data)
        except TransitError as exc:
            outcome.failed(i, out, exc)
            continue
        outcome.successes = True
        out["ciphertext"] = ct
        out["key_version"] = it.key_version or latest
    return results


def _decrypt_one(p: Policy, it: Item, fast: Callable[[str], bytes] | None) -> str:
    """One item's plaintext, base64: by the fast decryptor when it applies."""
    if fast is not None and not it.associated_data:
        return b64encode(fast(it.ciphertext))
    return b64encode(ops.decrypt(p, it.decoded_context, it.ciphertext, it.associated_data))


def _decrypt_items(p: Policy, items: list[Item], outcome: _Outcome) -> list[dict[str, Any]]:
    """Decrypt every item; an item's failure is its error, the others go on."""
    errors = outcome.errors
    aead_ok = p.type in C.ASSOCIATED_DATA
    results: list[dict[str, Any]] = []
    fast = ops.fast_decryptor(p)
    for i, it in enumerate(items):
        out: dict[str, Any] = {"plaintext": ""}
        results.append(out)
        if errors[i]:
            out["error"] = errors[i]
            continue
        if it.associated_data and not aead_ok:
            errors[i] = out["error"] = _non_aead_error(i, p)
            continue
        try:
            out["plaintext"] = _decrypt_one(p, it, fast)
        except TransitError as exc:
            outcome.failed(i, out, exc)
            continue
        outcome.successes = True
    return results


def _rewrap_items(p: Policy, items: list[Item], errors: list[str]) -> list[dict[str, Any]]:
    """Decrypt and encrypt again with the latest (or the asked) version; user errors stay per item."""
    results: list[dict[str, Any]] = []
    for i, it in enumerate(items):
        if errors[i]:
            results.append({"error": errors[i]})
            continue
        try:
            plain = ops.decrypt(p, it.decoded_context, it.ciphertext)
            ct = ops.encrypt(p, it.key_version, it.decoded_context, plain)
        except UserError as exc:
            errors[i] = exc.message
            results.append({"error": exc.message})
            continue
        except TransitError as exc:
            raise go_error(exc) from None
        results.append({"ciphertext": ct, "key_version": it.key_version or p.latest_version})
    return results


def _single_plaintext(d: FieldData) -> Item:
    if "plaintext" not in d.raw:
        raise ErrorResponse("missing plaintext to encrypt")
    return Item(
        plaintext=sget(d, "plaintext"),
        context=sget(d, "context"),
        key_version=iget(d, "key_version"),
        associated_data=sget(d, "associated_data"),
    )


def _single_ciphertext(d: FieldData) -> Item:
    ciphertext = sget(d, "ciphertext")
    if not ciphertext:
        raise ErrorResponse("missing ciphertext to decrypt")
    return Item(ciphertext=ciphertext, context=sget(d, "context"), associated_data=sget(d, "associated_data"))


def _datakey_context(d: FieldData) -> bytes:
    raw_context = d.get("context")
    if not raw_context:
        return b""
    try:
        return b64decode(raw_context)
    except Base64Error:
        raise ErrorResponse("failed to base64-decode context") from None


class CryptHandlers:
    """The data-path handlers of one mount, over its key manager."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def _policy(self, req: Request, name: str) -> Policy:
        p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse("encryption key not found")
        return p

    def _upsert_policy(self, req: Request, d: FieldData, name: str, context_set: bool) -> Policy:
        """encrypt's CREATE: the key, made on the spot (upsert) with the type the request names."""
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
            name=name, key_type=kt, derived=context_set, convergent=convergent, upsert=not disable_upsert(req)
        )
        try:
            p = self.manager.get_or_create(req.storage, preq)
        except TransitError as exc:
            raise go_error(exc) from None
        if p is None:
            raise ErrorResponse("encryption key not found")
        return p

    def encrypt(self, req: Request, d: FieldData) -> Response | None:
        name = sget(d, "name")
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = _batch(fast_items(batch_raw, require_plaintext=True, require_ciphertext=False))
        else:
            items = [_single_plaintext(d)]
        context_set = _context_set(items)
        plaintexts, errors = _decode_plaintexts(items)
        outcome = _Outcome(errors)
        if req.operation == Operation.CREATE:
            p = self._upsert_policy(req, d, name, context_set)
        else:
            p = self._policy(req, name)
        results = _encrypt_items(p, items, plaintexts, outcome)
        resp = outcome.answer(batch_raw is not None, items, results, ("ciphertext", "key_version"))
        return outcome.batch_answer(d, resp)

    def encrypt_exists(self, req: Request, d: FieldData) -> bool:
        return self.manager.get(req.storage, sget(d, "name")) is not None

    def decrypt(self, req: Request, d: FieldData) -> Response | None:
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = _batch(fast_items(batch_raw, require_plaintext=False, require_ciphertext=True))
        else:
            items = [_single_ciphertext(d)]
        _context_set(items)
        outcome = _Outcome(_decode_contexts(items))
        p = self._policy(req, sget(d, "name"))
        results = _decrypt_items(p, items, outcome)
        resp = outcome.answer(batch_raw is not None, items, results, ("plaintext",))
        return outcome.batch_answer(d, resp)

    def rewrap(self, req: Request, d: FieldData) -> Response | None:
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = _batch(struct_items(batch_raw))
        else:
            ciphertext = d.get("ciphertext")
            if not ciphertext:
                raise ErrorResponse("missing ciphertext to decrypt")
            items = [Item(ciphertext=ciphertext, context=d.get("context"), key_version=d.get("key_version"))]
        _context_set(items)
        outcome = _Outcome(_decode_contexts(items))
        p = self._policy(req, d.get("name"))
        results = _rewrap_items(p, items, outcome.errors)
        return outcome.answer(batch_raw is not None, items, results, ("ciphertext", "key_version"))

    def datakey(self, req: Request, d: FieldData) -> Response | None:
        ver = d.get("key_version")
        kind = d.get("plaintext")
        if kind not in ("plaintext", "wrapped"):
            raise ErrorResponse("Invalid path, must be 'plaintext' or 'wrapped'")
        context = _datakey_context(d)
        p = self._policy(req, d.get("name"))
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

"""HMAC, sign and verify (signatures and HMACs), single or ``batch_input``."""

from __future__ import annotations

import hmac as _hmac
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
from .batch import string_map_items
from .common import NAME
from .encoding import Base64Error, atoi, b64decode, b64encode
from .errors import TransitError, UserError
from .manager import KeyManager

S = FieldType.STRING
DEFAULT_HASH = "sha2-256"


class _ItemError(Exception):
    """An item failure: ``message`` is shown, ``invalid`` says whether it maps to 400 or 500."""

    def __init__(self, message: str, invalid: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.invalid = invalid


def _hash_name(d: FieldData) -> str:
    """urlalgorithm from the URL, else ``hash_algorithm``, else the deprecated ``algorithm``."""
    return d.get("urlalgorithm") or d.get("hash_algorithm") or d.get("algorithm") or DEFAULT_HASH


def _salt_length(d: FieldData) -> int:
    raw = d.get("salt_length")
    lower = raw.lower()
    if lower == "auto":
        return C.PSS_SALT_AUTO
    if lower == "hash":
        return C.PSS_SALT_EQUALS_HASH
    try:
        value = atoi(lower)
    except ValueError:
        raise ErrorResponse(f"salt length neither 'auto', 'hash', nor an int: {raw}") from None
    if value < C.PSS_SALT_EQUALS_HASH:
        raise ErrorResponse(f"salt length is invalid: {value}")
    return value


def _single_or_batch(
    batch_raw: Any,
    results: list[dict[str, Any]],
    errs: list[_ItemError | None],
    items: list[dict[str, str]],
    single: dict[str, Any],
) -> Response:
    if batch_raw is not None:
        for item, out in zip(items, results, strict=True):
            out["reference"] = item.get("reference", "")
        return Response(data={"batch_results": results})
    err = errs[0]
    if err is not None:
        if err.invalid or results[0].get("error"):
            raise ErrorResponse(err.message)
        raise InternalError(err.message)
    return Response(data=single)


class SignHandlers:
    """The sign, verify and HMAC handlers of one mount, over its key manager."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def hmac_write(self, req: Request, d: FieldData) -> Response | None:
        name = d.get("name")
        ver = d.get("key_version")
        algorithm = d.get("urlalgorithm") or d.get("algorithm")
        p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse("encryption key not found")
        if ver == 0:
            ver = p.latest_version
        elif ver != p.latest_version and p.min_encryption_version > 0 and ver < p.min_encryption_version:
            raise ErrorResponse("cannot generate HMAC: version is too old (disallowed by policy)")
        try:
            key = ops.hmac_key(p, ver)
        except TransitError as exc:
            raise ErrorResponse(exc.message) from None
        hash_type = C.HASH_TYPES.get(algorithm)
        if hash_type is None:
            raise ErrorResponse("unsupported algorithm '\\x00'")
        if hash_type == C.HASH_NONE:
            raise ErrorResponse("algorithm cannot be none")
        digest = C.HASHLIB_NAMES[hash_type]
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = string_map_items(batch_raw, "transit.batchRequestHMACItem")
            if not items:
                raise ErrorResponse("missing batch input to process")
        else:
            value, given = d.get_ok("input")
            if not given:
                raise ErrorResponse("missing input for HMAC")
            items = [{"input": value}]
        prefix = f"vault:v{ver}:"
        results: list[dict[str, Any]] = []
        errs: list[_ItemError | None] = []
        for item in items:
            out: dict[str, Any] = {}
            results.append(out)
            try:
                if "input" not in item:
                    raise _ItemError("missing input for HMAC")
                try:
                    data = b64decode(item["input"])
                except Base64Error as exc:
                    raise _ItemError(f"unable to decode input as base64: {exc}") from None
                out["hmac"] = prefix + b64encode(_hmac.new(key, data, digest).digest())
                errs.append(None)
            except _ItemError as exc:
                out["error"] = exc.message
                errs.append(exc)
        return _single_or_batch(batch_raw, results, errs, items, {"hmac": results[0].get("hmac")})

    def hmac_verify(
        self, req: Request, d: FieldData, items: list[dict[str, str]], batch_raw: Any
    ) -> Response:
        name = d.get("name")
        algorithm = _hash_name(d)
        hash_type = C.HASH_TYPES.get(algorithm)
        if hash_type is None:
            raise ErrorResponse(f'invalid hash algorithm "{algorithm}"')
        p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse("encryption key not found")
        if hash_type == C.HASH_NONE:
            raise ErrorResponse("algorithm cannot be none")
        digest = C.HASHLIB_NAMES[hash_type]
        results: list[dict[str, Any]] = []
        errs: list[_ItemError | None] = []
        for item in items:
            out: dict[str, Any] = {}
            results.append(out)
            try:
                out["valid"] = self._verify_one_hmac(p, item, digest)
                errs.append(None)
            except _ItemError as exc:
                out["error"] = exc.message
                errs.append(exc)
        for out in results:
            if out.get("valid") is False:
                del out["valid"]  # omitempty
        return _single_or_batch(batch_raw, results, errs, items, {"valid": bool(results[0].get("valid"))})

    def _verify_one_hmac(self, p: Any, item: dict[str, str], digest: str) -> bool:
        if "input" not in item:
            raise _ItemError("missing input")
        try:
            data = b64decode(item["input"])
        except Base64Error as exc:
            raise _ItemError(f"unable to decode input as base64: {exc}") from None
        if "hmac" not in item:
            raise _ItemError("missing hmac")
        value = item["hmac"]
        if not value.startswith("vault:v"):
            raise _ItemError("invalid HMAC to verify: no prefix")
        rest = value[len("vault:v") :]
        if ":" not in rest:
            raise _ItemError("invalid HMAC: wrong number of fields")
        ver_text, payload = rest.split(":", 1)
        try:
            ver = atoi(ver_text)
        except ValueError:
            raise _ItemError("invalid HMAC: version number could not be decoded") from None
        try:
            expected = b64decode(payload)
        except Base64Error as exc:
            raise _ItemError(f"unable to decode verification HMAC as base64: {exc}") from None
        if ver > p.latest_version:
            raise _ItemError("invalid HMAC: version is too new")
        if p.min_decryption_version > 0 and ver < p.min_decryption_version:
            raise _ItemError("cannot verify HMAC: version is too old (disallowed by policy)")
        try:
            key = ops.hmac_key(p, ver)
        except TransitError as exc:
            raise _ItemError(exc.message) from None
        return _hmac.compare_digest(_hmac.new(key, data, digest).digest(), expected)

    def _signature_params(self, d: FieldData) -> tuple[int, bool, str, int]:
        """Marshaling, prehashed, signature algorithm and salt: checked before the key is looked up."""
        marshaling_name = d.get("marshaling_algorithm")
        marshaling = C.MARSHALING_TYPES.get(marshaling_name)
        if marshaling is None:
            raise ErrorResponse(f'invalid marshaling type "{marshaling_name}"')
        return marshaling, d.get("prehashed"), d.get("signature_algorithm"), _salt_length(d)

    def _hash_for(self, d: FieldData, p: Any, prehashed: bool, sig_alg: str) -> int:
        """The hash algorithm, checked once the key is known (``none`` matters only if input is hashed)."""
        algorithm = _hash_name(d)
        hash_type = C.HASH_TYPES.get(algorithm)
        if hash_type is None:
            raise ErrorResponse(f'invalid hash algorithm "{algorithm}"')
        if (
            hash_type == C.HASH_NONE
            and p.type in C.HASH_SIGNATURE_INPUT
            and (not prehashed or sig_alg != "pkcs1v15")
        ):
            raise ErrorResponse(
                "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15"
            )
        return hash_type

    def sign_write(self, req: Request, d: FieldData) -> Response | None:
        name = d.get("name")
        ver = d.get("key_version")
        marshaling, prehashed, sig_alg, salt = self._signature_params(d)
        p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse("signing key not found")
        if p.type not in C.SIGNING:
            raise ErrorResponse(f"key type {C.type_name(p.type)} does not support signing")
        hash_type = self._hash_for(d, p, prehashed, sig_alg)
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = string_map_items(batch_raw, "transit.batchRequestSignItem")
            if not items:
                raise ErrorResponse("missing batch input to process")
        else:
            items = [{"input": d.get("input"), "context": d.get("context")}]
        results: list[dict[str, Any]] = []
        errs: list[_ItemError | None] = []
        for item in items:
            out: dict[str, Any] = {}
            results.append(out)
            try:
                if "input" not in item:
                    raise _ItemError("missing input")
                try:
                    data = b64decode(item["input"])
                except Base64Error as exc:
                    raise _ItemError(f"unable to decode input as base64: {exc}") from None
                if p.type in C.HASH_SIGNATURE_INPUT and not prehashed and hash_type != C.HASH_NONE:
                    data = ops.hash_input(hash_type, data)
                context = b""
                if item.get("context"):
                    try:
                        context = b64decode(item["context"])
                    except Base64Error:
                        raise _ItemError("failed to base64-decode context") from None
                try:
                    sig, pub = ops.sign(p, ver, context, data, hash_type, sig_alg, marshaling, salt)
                except TransitError as exc:
                    if batch_raw is not None:
                        out["error"] = exc.message
                    raise _ItemError(exc.message, invalid=False) from None
                out["signature"] = sig
                if pub:
                    out["publickey"] = b64encode(pub)
                errs.append(None)
            except _ItemError as exc:
                if exc.invalid:
                    out["error"] = exc.message
                errs.append(exc)
            out["key_version"] = (ver or p.latest_version) if "signature" in out else 0
        if batch_raw is None and errs[0] is None:
            single: dict[str, Any] = {
                "signature": results[0]["signature"],
                "key_version": results[0]["key_version"],
            }
            if results[0].get("publickey"):
                single["public_key"] = results[0]["publickey"]
            return Response(data=single)
        return _single_or_batch(batch_raw, results, errs, items, {})

    def verify_write(self, req: Request, d: FieldData) -> Response | None:
        batch_raw = d.raw.get("batch_input")
        if batch_raw is not None:
            items = string_map_items(batch_raw, "transit.batchRequestVerifyItem")
            if not items:
                raise ErrorResponse("missing batch input to process")
        else:
            item = {"input": d.get("input")}
            if d.has("signature"):
                item["signature"] = d.get("signature")
            if d.has("hmac"):
                item["hmac"] = d.get("hmac")
            item["context"] = d.get("context")
            items = [item]
        sig_found = hmac_found = missing = False
        for it in items:
            if "signature" in it:
                sig_found = True
            elif "hmac" in it:
                hmac_found = True
            else:
                missing = True
        if batch_raw is None and sig_found and hmac_found:
            raise ErrorResponse("provide one of 'signature' or 'hmac'")
        if batch_raw is None and not sig_found and not hmac_found:
            raise ErrorResponse("neither a 'signature' nor an 'hmac' were given to verify")
        if sig_found and hmac_found:
            raise ErrorResponse("elements of batch_input must all provide 'signature' or all provide 'hmac'")
        if missing and sig_found:
            raise ErrorResponse("some elements of batch_input are missing 'signature'")
        if missing and hmac_found:
            raise ErrorResponse("some elements of batch_input are missing 'hmac'")
        if missing:
            raise ErrorResponse("no batch_input elements have 'signature' or 'hmac'")
        if hmac_found:
            return self.hmac_verify(req, d, items, batch_raw)

        marshaling, prehashed, sig_alg, salt = self._signature_params(d)
        p = self.manager.get(req.storage, d.get("name"))
        if p is None:
            raise ErrorResponse("signature verification key not found")
        if p.type not in C.SIGNING:
            raise ErrorResponse(f"key type {C.type_name(p.type)} does not support verification")
        hash_type = self._hash_for(d, p, prehashed, sig_alg)
        results: list[dict[str, Any]] = []
        errs: list[_ItemError | None] = []
        for it in items:
            out: dict[str, Any] = {"valid": False}
            results.append(out)
            try:
                if "input" not in it:
                    raise _ItemError("missing input")
                try:
                    data = b64decode(it["input"])
                except Base64Error as exc:
                    raise _ItemError(f"unable to decode input as base64: {exc}") from None
                if "signature" not in it:
                    raise _ItemError("missing signature")
                if p.type in C.HASH_SIGNATURE_INPUT and not prehashed and hash_type != C.HASH_NONE:
                    data = ops.hash_input(hash_type, data)
                context = b""
                if it.get("context"):
                    try:
                        context = b64decode(it["context"])
                    except Base64Error:
                        raise _ItemError("failed to base64-decode context") from None
                try:
                    out["valid"] = ops.verify(
                        p, context, data, it["signature"], hash_type, sig_alg, marshaling, salt
                    )
                except UserError as exc:
                    raise _ItemError(exc.message) from None
                except TransitError as exc:
                    if batch_raw is not None:
                        out["error"] = exc.message
                    raise _ItemError(exc.message, invalid=False) from None
                errs.append(None)
            except _ItemError as exc:
                if exc.invalid:
                    out["error"] = exc.message
                errs.append(exc)
        return _single_or_batch(batch_raw, results, errs, items, {"valid": results[0]["valid"]})


def build(manager: KeyManager) -> list[Path]:
    """HMAC, sign and verify paths."""
    h = SignHandlers(manager)

    name_field = {"name": Field(S, description="The key to use")}
    sign_fields = {
        **name_field,
        "input": Field(S),
        "context": Field(S),
        "hash_algorithm": Field(S, default=DEFAULT_HASH),
        "algorithm": Field(S, default=DEFAULT_HASH),
        "urlalgorithm": Field(S),
        "prehashed": Field(FieldType.BOOL),
        "signature_algorithm": Field(S),
        "marshaling_algorithm": Field(S, default="asn1"),
        "salt_length": Field(S, default="auto"),
        "batch_input": Field(FieldType.SLICE),
    }
    return [
        Path(
            "hmac/" + NAME + r"(/(?P<urlalgorithm>.+))?",
            fields={
                **name_field,
                "input": Field(S),
                "algorithm": Field(S, default=DEFAULT_HASH),
                "urlalgorithm": Field(S),
                "key_version": Field(FieldType.INT),
                "batch_input": Field(FieldType.SLICE),
            },
            operations={Operation.UPDATE: h.hmac_write},
            synopsis="Generate an HMAC for input data using the named key",
        ),
        Path(
            "sign/" + NAME + r"(/(?P<urlalgorithm>.+))?",
            fields={**sign_fields, "key_version": Field(FieldType.INT)},
            operations={Operation.UPDATE: h.sign_write},
            synopsis="Generate a signature for input data using the named key",
        ),
        Path(
            "verify/" + NAME + r"(/(?P<urlalgorithm>.+))?",
            fields={**sign_fields, "signature": Field(S), "hmac": Field(S)},
            operations={Operation.UPDATE: h.verify_write},
            synopsis="Verify a signature or HMAC for input data created using the named key",
        ),
    ]

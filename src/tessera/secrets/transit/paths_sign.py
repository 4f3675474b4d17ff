"""HMAC, sign and verify (signatures and HMACs), single or ``batch_input``."""

from __future__ import annotations

import hmac as _hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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
from .policy import Policy

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
    batch_raw: list[dict[str, str]] | None,
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


ItemFn = Callable[[dict[str, str], dict[str, Any]], None]


def _run_items(
    items: list[dict[str, str]], one: ItemFn, blank: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[_ItemError | None]]:
    """Each item through ``one``; an invalid item's failure shows as its ``error``."""
    results: list[dict[str, Any]] = []
    errs: list[_ItemError | None] = []
    for item in items:
        out: dict[str, Any] = dict(blank)
        results.append(out)
        try:
            one(item, out)
            errs.append(None)
        except _ItemError as exc:
            if exc.invalid:
                out["error"] = exc.message
            errs.append(exc)
    return results, errs


def _batch_items(d: FieldData, go_name: str) -> list[dict[str, str]] | None:
    """The decoded ``batch_input`` (None when the request has none)."""
    batch_raw = d.raw.get("batch_input")
    if batch_raw is None:
        return None
    items = string_map_items(batch_raw, go_name)
    if not items:
        raise ErrorResponse("missing batch input to process")
    return items


def _decode_input(item: dict[str, str], missing: str) -> bytes:
    if "input" not in item:
        raise _ItemError(missing)
    try:
        return b64decode(item["input"])
    except Base64Error as exc:
        raise _ItemError(f"unable to decode input as base64: {exc}") from None


def _decode_context(item: dict[str, str]) -> bytes:
    if not item.get("context"):
        return b""
    try:
        return b64decode(item["context"])
    except Base64Error:
        raise _ItemError("failed to base64-decode context") from None


def _hmac_one(key: bytes, digest: str, prefix: str, item: dict[str, str], out: dict[str, Any]) -> None:
    data = _decode_input(item, "missing input for HMAC")
    out["hmac"] = prefix + b64encode(_hmac.new(key, data, digest).digest())


def _hmac_version(ver_text: str) -> int:
    """The version number an HMAC names."""
    try:
        ver = atoi(ver_text)
    except ValueError:
        raise _ItemError("invalid HMAC: version number could not be decoded") from None
    return ver


def _verify_hmac_one(p: Policy, digest: str, item: dict[str, str], out: dict[str, Any]) -> None:
    data = _decode_input(item, "missing input")
    if "hmac" not in item:
        raise _ItemError("missing hmac")
    value = item["hmac"]
    if not value.startswith("vault:v"):
        raise _ItemError("invalid HMAC to verify: no prefix")
    rest = value[len("vault:v") :]
    if ":" not in rest:
        raise _ItemError("invalid HMAC: wrong number of fields")
    ver_text, payload = rest.split(":", 1)
    ver = _hmac_version(ver_text)
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
    out["valid"] = _hmac.compare_digest(_hmac.new(key, data, digest).digest(), expected)


@dataclass
class _SignJob:
    """What signing or verifying every item of one request shares: the key and the algorithms."""

    p: Policy
    ver: int
    hash_type: int
    sig_alg: str
    marshaling: int
    salt: int
    prehashed: bool
    batch: bool

    def _message(self, item: dict[str, str], data: bytes) -> tuple[bytes, bytes]:
        """(context, the input as signed: hashed here unless it came hashed)."""
        if self.p.type in C.HASH_SIGNATURE_INPUT and not self.prehashed and self.hash_type != C.HASH_NONE:
            data = ops.hash_input(self.hash_type, data)
        return _decode_context(item), data

    def _internal(self, out: dict[str, Any], exc: TransitError) -> _ItemError:
        """A key operation failed: shown on a batch item, a 500 for a single one."""
        if self.batch:
            out["error"] = exc.message
        return _ItemError(exc.message, invalid=False)

    def sign_one(self, item: dict[str, str], out: dict[str, Any]) -> None:
        context, data = self._message(item, _decode_input(item, "missing input"))
        try:
            sig, pub = ops.sign(
                self.p, self.ver, context, data, self.hash_type, self.sig_alg, self.marshaling, self.salt
            )
        except TransitError as exc:
            raise self._internal(out, exc) from None
        out["signature"] = sig
        if pub:
            out["publickey"] = b64encode(pub)

    def verify_one(self, item: dict[str, str], out: dict[str, Any]) -> None:
        data = _decode_input(item, "missing input")
        if "signature" not in item:
            raise _ItemError("missing signature")
        context, data = self._message(item, data)
        try:
            out["valid"] = ops.verify(
                self.p,
                context,
                data,
                item["signature"],
                self.hash_type,
                self.sig_alg,
                self.marshaling,
                self.salt,
            )
        except UserError as exc:
            raise _ItemError(exc.message) from None
        except TransitError as exc:
            raise self._internal(out, exc) from None


def _verify_kind(items: list[dict[str, str]], batch: bool) -> bool:
    """Whether the items verify HMACs (else signatures): all one or all the other, as the reference checks."""
    sig_found = hmac_found = missing = False
    for it in items:
        if "signature" in it:
            sig_found = True
        elif "hmac" in it:
            hmac_found = True
        else:
            missing = True
    if not batch and sig_found and hmac_found:
        raise ErrorResponse("provide one of 'signature' or 'hmac'")
    if not batch and not sig_found and not hmac_found:
        raise ErrorResponse("neither a 'signature' nor an 'hmac' were given to verify")
    if sig_found and hmac_found:
        raise ErrorResponse("elements of batch_input must all provide 'signature' or all provide 'hmac'")
    if missing and sig_found:
        raise ErrorResponse("some elements of batch_input are missing 'signature'")
    if missing and hmac_found:
        raise ErrorResponse("some elements of batch_input are missing 'hmac'")
    if missing:
        raise ErrorResponse("no batch_input elements have 'signature' or 'hmac'")
    return hmac_found


def _single_verify_item(d: FieldData) -> dict[str, str]:
    item = {"input": d.get("input")}
    if d.has("signature"):
        item["signature"] = d.get("signature")
    if d.has("hmac"):
        item["hmac"] = d.get("hmac")
    item["context"] = d.get("context")
    return item


def _signature_params(d: FieldData) -> tuple[int, bool, str, int]:
    """Marshaling, prehashed, signature algorithm and salt: checked before the key is looked up."""
    marshaling_name = d.get("marshaling_algorithm")
    marshaling = C.MARSHALING_TYPES.get(marshaling_name)
    if marshaling is None:
        raise ErrorResponse(f'invalid marshaling type "{marshaling_name}"')
    return marshaling, d.get("prehashed"), d.get("signature_algorithm"), _salt_length(d)


def _hash_for(d: FieldData, p: Policy, prehashed: bool, sig_alg: str) -> int:
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


def _hmac_key(p: Policy, ver: int) -> tuple[int, bytes]:
    """The version an HMAC is made with (0 is the latest) and its key."""
    if ver == 0:
        ver = p.latest_version
    elif ver != p.latest_version and p.min_encryption_version > 0 and ver < p.min_encryption_version:
        raise ErrorResponse("cannot generate HMAC: version is too old (disallowed by policy)")
    try:
        return ver, ops.hmac_key(p, ver)
    except TransitError as exc:
        raise ErrorResponse(exc.message) from None


def _hmac_digest(algorithm: str) -> str:
    hash_type = C.HASH_TYPES.get(algorithm)
    if hash_type is None:
        raise ErrorResponse("unsupported algorithm '\\x00'")
    if hash_type == C.HASH_NONE:
        raise ErrorResponse("algorithm cannot be none")
    return C.HASHLIB_NAMES[hash_type]


class SignHandlers:
    """The sign, verify and HMAC handlers of one mount, over its key manager."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def _policy(self, req: Request, name: str, missing: str) -> Policy:
        p = self.manager.get(req.storage, name)
        if p is None:
            raise ErrorResponse(missing)
        return p

    def hmac_write(self, req: Request, d: FieldData) -> Response | None:
        ver = d.get("key_version")
        algorithm = d.get("urlalgorithm") or d.get("algorithm")
        p = self._policy(req, d.get("name"), "encryption key not found")
        ver, key = _hmac_key(p, ver)
        digest = _hmac_digest(algorithm)
        batch = _batch_items(d, "transit.batchRequestHMACItem")
        if batch is None:
            value, given = d.get_ok("input")
            if not given:
                raise ErrorResponse("missing input for HMAC")
        items = batch if batch is not None else [{"input": value}]
        results, errs = _run_items(items, partial(_hmac_one, key, digest, f"vault:v{ver}:"), {})
        return _single_or_batch(batch, results, errs, items, {"hmac": results[0].get("hmac")})

    def hmac_verify(self, req: Request, d: FieldData, items: list[dict[str, str]], batch: Any) -> Response:
        algorithm = _hash_name(d)
        hash_type = C.HASH_TYPES.get(algorithm)
        if hash_type is None:
            raise ErrorResponse(f'invalid hash algorithm "{algorithm}"')
        p = self._policy(req, d.get("name"), "encryption key not found")
        if hash_type == C.HASH_NONE:
            raise ErrorResponse("algorithm cannot be none")
        one = partial(_verify_hmac_one, p, C.HASHLIB_NAMES[hash_type])
        results, errs = _run_items(items, one, {})
        for out in results:
            if out.get("valid") is False:
                del out["valid"]  # omitempty
        return _single_or_batch(batch, results, errs, items, {"valid": bool(results[0].get("valid"))})

    def _sign_job(
        self, req: Request, d: FieldData, missing: str, verb: str, batch: bool, ver: int = 0
    ) -> _SignJob:
        """The key and algorithms for signing (with ``ver``, 0 for the latest) or verifying."""
        marshaling, prehashed, sig_alg, salt = _signature_params(d)
        p = self._policy(req, d.get("name"), missing)
        if p.type not in C.SIGNING:
            raise ErrorResponse(f"key type {C.type_name(p.type)} does not support {verb}")
        hash_type = _hash_for(d, p, prehashed, sig_alg)
        return _SignJob(p, ver, hash_type, sig_alg, marshaling, salt, prehashed, batch)

    def sign_write(self, req: Request, d: FieldData) -> Response | None:
        batch_given = d.raw.get("batch_input") is not None
        ver = d.get("key_version")
        job = self._sign_job(req, d, "signing key not found", "signing", batch_given, ver)
        batch = _batch_items(d, "transit.batchRequestSignItem")
        items = batch if batch is not None else [{"input": d.get("input"), "context": d.get("context")}]
        results, errs = _run_items(items, job.sign_one, {})
        for out in results:
            out["key_version"] = (job.ver or job.p.latest_version) if "signature" in out else 0
        if batch is None and errs[0] is None:
            single: dict[str, Any] = {
                "signature": results[0]["signature"],
                "key_version": results[0]["key_version"],
            }
            if results[0].get("publickey"):
                single["public_key"] = results[0]["publickey"]
            return Response(data=single)
        return _single_or_batch(batch, results, errs, items, {})

    def verify_write(self, req: Request, d: FieldData) -> Response | None:
        batch = _batch_items(d, "transit.batchRequestVerifyItem")
        items = batch if batch is not None else [_single_verify_item(d)]
        if _verify_kind(items, batch is not None):
            return self.hmac_verify(req, d, items, batch)
        job = self._sign_job(
            req, d, "signature verification key not found", "verification", batch is not None
        )
        results, errs = _run_items(items, job.verify_one, {"valid": False})
        return _single_or_batch(batch, results, errs, items, {"valid": results[0]["valid"]})


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

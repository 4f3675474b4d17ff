"""What the raw sys paths share: the server they run on, Go-struct bodies, and their dispatch.

A raw path (``Path.raw``: sys/health, sys/init, the key ceremonies, ...) is answered by the HTTP
layer before the Core's pipeline, as bare JSON with its own status, and may work while sealed.
Each follows OpenBao's internal/http/sys_*.go, including its status codes and texts.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..core.rekey import KEY_MAX, KEY_MIN
from ..framework import CodedError, ErrorResponse, Path, SealedError
from ..framework.body import check_patch_media_type, list_scan_flags, parse_body
from ..framework.logical import RawRequest, RawResponse
from ..gocompat.types import json_kind

if TYPE_CHECKING:
    from ..core.core import Core

_LOGICAL_METHODS = ("GET", "POST", "PUT", "DELETE", "LIST", "SCAN", "HEAD", "OPTIONS")


class RawHost(Protocol):
    """The server a raw handler runs on (the HTTP app): its Core, its way to run blocking work,
    and the listener settings raw paths read."""

    core: Core
    unauthenticated_metrics_access: bool

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...


def raw_table(paths: list[Path]) -> dict[str, Path]:
    """Raw paths of the system backend by request path ("sys/health"); their patterns are literal."""
    return {"sys/" + p.pattern.removesuffix("$"): p for p in paths if p.raw}


async def answer_raw(host: RawHost, path: Path, req: RawRequest) -> RawResponse | None:
    """Serve a raw path: the logical checks unless it works sealed, then its method's handler."""
    if not path.sealed_ok:
        check_logical_request(host, req)
    handler = path.raw_handler(req.method)
    if handler is None:
        return RawResponse.method_not_allowed()
    response: RawResponse | None = await handler(host, req)
    return response


def check_logical_request(host: RawHost, req: RawRequest) -> None:
    """buildLogicalRequestNoAuth, then the audit step that refuses a sealed server."""
    if req.method == "GET":
        list_scan_flags(req.query)
    elif req.method in ("POST", "PUT"):
        parse_body(req.body, req.headers.get("content-type", ""))
    elif req.method == "PATCH":
        media_type = req.headers.get("content-type", "").split(";", 1)[0].strip()
        check_patch_media_type({"content-type": media_type})
        parse_body(req.body, "application/json")
    elif req.method not in _LOGICAL_METHODS:
        raise CodedError(405, "")
    if host.core.sealed:
        raise SealedError()


def parse_logical_body(req: RawRequest) -> None:
    """Paths that build a logical request first (sys/seal) fail on a malformed body the same way."""
    parse_body(req.body, req.headers.get("content-type", ""))


# -- strict JSON bodies (Go's json.Unmarshal into a struct) -----------------------------------
_GO_TYPES = {int: "int", str: "string", bool: "bool", list: "[]string"}


def _fits(kind: type, value: Any) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, kind)


def decode_struct(raw: bytes, struct: str, fields: dict[str, type]) -> dict[str, Any]:
    """Decode a JSON body like ``json.Unmarshal(&struct)``: Go's texts for bad JSON and bad types.

    Unknown keys are ignored, keys match case-insensitively, null leaves the zero value.
    """
    out: dict[str, Any] = {name: kind() for name, kind in fields.items()}
    if not raw.strip():
        return out
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parse_body(raw, "application/json")  # raises with Go's wording
        raise
    if parsed is None:
        return out
    if not isinstance(parsed, dict):
        raise ErrorResponse(
            f"failed to decode JSON input: json: cannot unmarshal {json_kind(parsed)} into Go value of "
            f"type http.{struct}"
        )
    by_lower = {name.lower(): name for name in fields}
    for key, value in parsed.items():
        name = by_lower.get(key.lower())
        if name is None or value is None:
            continue
        kind = fields[name]
        if not _fits(kind, value):
            shown = json_kind(value)
            if kind is int and isinstance(value, float):
                shown = f"number {value!r}"
            raise ErrorResponse(
                f"failed to decode JSON input: json: cannot unmarshal {shown} into Go struct field "
                f"{struct}.{name} of type {_GO_TYPES[kind]}"
            )
        out[name] = value
    return out


def decode_unseal_key(text: str) -> bytes:
    """Hex if it decodes to a plausible key length, else standard base64 (as Vault tries them)."""
    try:
        key = bytes.fromhex(text)
        if KEY_MIN <= len(key) <= KEY_MAX:
            return key
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ErrorResponse("'key' must be a valid hex or base64 string") from None


def required_key(data: dict[str, Any], name: str = "Key") -> bytes:
    """The key share of a ceremony's update body, which must be there."""
    if not data[name]:
        raise ErrorResponse("'key' must be specified in request body as JSON")
    return decode_unseal_key(data[name])

"""Request body parsing with Vault's rules: JSON or form, complexity limits, exact error texts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .errors import CodedError, ErrorResponse

MAX_REQUEST_SIZE = 33554432
MAX_JSON_STRINGS = 1000
# Vault's limit is encoding/json's 10000 levels; orjson serialises 254 at most, and a stored document
# or a response wraps the body in a few more levels: deeper bodies are refused up front (a 500 before).
MAX_JSON_DEPTH = 240


def parse_body(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """Parse a request body into a dict (None for an empty body or JSON null)."""
    stripped = raw.lstrip()
    if not stripped:
        return None
    if content_type != "application/json" and _is_form(content_type) and stripped[:1] not in (b"{", b"["):
        out: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            out[key] = f"{out[key]},{value}" if key in out else value
        return out
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ErrorResponse(f"failed to decode JSON input: {_go_json_error(raw, exc)}") from None
    if parsed is None:
        return None
    if not isinstance(parsed, dict):
        kind = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}.get(
            type(parsed), "value"
        )
        raise ErrorResponse(
            f"failed to decode JSON input: json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        )
    if len(raw) > _ALWAYS_SIMPLE:
        check_complexity(parsed)
        check_raw_strings(raw)
    return parsed


def _is_form(content_type: str) -> bool:
    """Whether the media type (parameters and case aside) is a form's."""
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


# A JSON text needs at least two bytes per string ("") and per level of nesting ("[" "]"): one
# shorter than this cannot go past either limit, so it skips the walk.
_ALWAYS_SIMPLE = 2 * min(MAX_JSON_STRINGS, MAX_JSON_DEPTH)


def _go_json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    text = raw.rstrip()
    if "depth limit" in str(exc):
        return "exceeded max depth"  # Go's text for nesting beyond its parser's limit
    if exc.pos >= len(text) or "EOF" in str(exc) or "unexpected end" in str(exc).lower():
        return "unexpected EOF"
    ch = chr(text[exc.pos]) if exc.pos < len(text) else ""
    return f"invalid character {ch!r} looking for beginning of value"


def check_complexity(value: Any) -> None:
    """Refuse JSON with too many strings or too deep nesting (Vault's JSON limits)."""
    if _flat_and_small(value):
        return
    strings = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CodedError(400, "refused JSON input due to high complexity: exceeded maximum nesting depth")
        if isinstance(item, dict):
            strings += len(item)
            for v in item.values():
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
                elif isinstance(v, str):
                    strings += 1
        elif isinstance(item, list):
            for v in item:
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
                elif isinstance(v, str):
                    strings += 1
        if strings > MAX_JSON_STRINGS:
            raise CodedError(
                400, "refused JSON input due to high complexity: exceeded maximum number of strings"
            )


def _flat_and_small(value: Any) -> bool:
    """A dict of at most half the string limit whose values hold nothing nested (a login's
    body): one level deep and at most two strings (key and value) an entry, so within both
    limits; checked in a quarter of the walk's steps."""
    if not isinstance(value, dict) or 2 * len(value) > MAX_JSON_STRINGS:
        return False
    for item in value.values():  # noqa: SIM110 (a loop: all() over a generator costs more)
        if isinstance(item, (dict, list)):
            return False
    return True


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def check_raw_strings(raw: bytes) -> None:
    """Count the strings of the text, not of the parsed value: a repeated key is one entry of the
    dict but each copy is a string to Vault's limit (100k copies of one key: refused, not merged)."""
    if len(raw) <= 2 * MAX_JSON_STRINGS or raw.count(b'"') <= 2 * MAX_JSON_STRINGS:
        return  # two quotes per string: cannot be over (nor with fewer bytes than that)
    for count, _ in enumerate(_JSON_STRING.finditer(raw), start=1):
        if count > MAX_JSON_STRINGS:
            raise CodedError(
                400, "refused JSON input due to high complexity: exceeded maximum number of strings"
            )


def parse_query(query_string: bytes) -> dict[str, Any]:
    """Query parameters: one value → string, repeated → list (as Vault's parseQuery)."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True):
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def parse_go_bool(text: str) -> bool | None:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def list_scan_flags(query: dict[str, Any]) -> tuple[bool, bool]:
    """The ``list`` and ``scan`` flags of a GET, as Vault reads them: the first value, "" for unset,
    and a 400 for a value that is no Go bool or for both set."""
    flags: list[bool] = []
    for name in ("list", "scan"):
        value = query.get(name)
        if isinstance(value, list):
            value = value[0] if value else ""
        text = "" if value is None else str(value)
        flag = parse_go_bool(text) if text else False
        if flag is None:
            raise CodedError(400, "")
        flags.append(flag)
    if flags[0] and flags[1]:
        raise CodedError(400, "")
    return flags[0], flags[1]


def check_patch_media_type(headers: dict[str, str]) -> None:
    """A PATCH must say it is a JSON merge patch (Go's mime.ParseMediaType first)."""
    ct = headers.get("content-type", "")
    media_type = ct.split(";", 1)[0].strip()
    if not media_type:
        raise ErrorResponse("mime: no media type")
    if media_type.lower() != "application/merge-patch+json":
        raise CodedError(415, f"PATCH requires Content-Type of application/merge-patch+json, provided {ct}")

"""``key=value`` arguments as go-secure-stdlib's kv-builder reads them.

``k=v``; ``k=@file`` (file contents); ``k=-`` (stdin); ``\\@`` escapes a literal ``@``; a bare ``-``
merges a JSON object from stdin and a bare ``@file.json`` one from a file; repeated keys become lists.
Error texts are Go's (``invalid key/value pair "x": format must be key=value``).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

from . import gojson


class ArgsError(Exception):
    """The arguments could not be turned into data; the message is the CLI's."""


def go_json_error(exc: json.JSONDecodeError, text: str) -> str:
    """A Go encoding/json error text for a Python decode error, for the common cases."""
    if exc.pos >= len(text.rstrip()):
        return "unexpected EOF"
    ch = text[exc.pos]
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character '{ch}' looking for beginning of object key string"
    if exc.msg.startswith("Expecting ',' delimiter") and text.lstrip().startswith("{"):
        return f"invalid character '{ch}' after object key:value pair"
    if exc.msg.startswith("Expecting ',' delimiter"):
        return f"invalid character '{ch}' after array element"
    if exc.msg.startswith("Expecting ':' delimiter"):
        return f"invalid character '{ch}' after object key"
    if exc.msg.startswith("Extra data"):
        return f"invalid character '{ch}' after top-level value"
    return f"invalid character '{ch}' looking for beginning of value"


def _decode_object(text: str) -> dict[str, Any]:
    try:
        value = gojson.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise ArgsError("EOF") from None
        # Go decodes one value and ignores what follows it.
        if exc.msg.startswith("Extra data"):
            value = gojson.loads(text[: exc.pos])
        else:
            raise ArgsError(go_json_error(exc, text)) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
        raise ArgsError(f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    return value


def _os_error(exc: OSError, path: str) -> str:
    reason = (exc.strerror or str(exc)).lower()
    return f"open {path}: {reason}"


def parse_args_data(args: list[str], stdin: TextIO | None = None) -> dict[str, Any]:
    """parseArgsData: the request data the arguments describe."""
    result: dict[str, Any] = {}
    stdin_used = False
    stdin = stdin if stdin is not None else sys.stdin
    for raw in args:
        try:
            if raw == "":
                continue
            key, sep, value = raw.partition("=")
            if not sep:
                if raw == "-":
                    if stdin_used:
                        raise ArgsError("stdin already consumed")
                    stdin_used = True
                    result.update(_decode_object(stdin.read()))
                    continue
                if raw.startswith("@"):
                    try:
                        with open(raw[1:], encoding="utf-8") as fh:
                            text = fh.read()
                    except OSError as exc:
                        raise ArgsError(_os_error(exc, raw[1:])) from None
                    result.update(_decode_object(text))
                    continue
                raise ArgsError("format must be key=value")
            if value.startswith("@"):
                try:
                    with open(value[1:], encoding="utf-8") as fh:
                        value = fh.read()
                except OSError as exc:
                    raise ArgsError(f"error reading file: {_os_error(exc, value[1:])}") from None
            elif value.startswith("\\@"):
                value = value[1:]
            elif value == "-":
                if stdin_used:
                    raise ArgsError("stdin already consumed")
                stdin_used = True
                value = stdin.read()
            if key in result:
                existing = result[key]
                result[key] = [*(existing if isinstance(existing, list) else [existing]), value]
            else:
                result[key] = value
        except ArgsError as exc:
            raise ArgsError(f'invalid key/value pair "{raw}": {exc}') from None
    return result


def weak_string(value: Any) -> str:
    """mapstructure.WeakDecode of one value into a string."""
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, list):
        if len(value) == 1:
            return weak_string(value[0])
        raise ArgsError(
            "failed to convert values to strings: source data must be an array or slice, got list"
        )
    return gojson.fmt_v(value)


def parse_args_data_string(args: list[str], stdin: TextIO | None = None) -> dict[str, str]:
    """parseArgsDataString: every value as a string (login's configuration)."""
    return {k: weak_string(v) for k, v in parse_args_data(args, stdin).items()}


def parse_args_data_string_lists(args: list[str], stdin: TextIO | None = None) -> list[tuple[str, str]]:
    """parseArgsDataStringLists: query parameters for read and delete."""
    out: list[tuple[str, str]] = []
    for k, v in parse_args_data(args, stdin).items():
        for item in v if isinstance(v, list) else [v]:
            out.append((k, gojson.fmt_v(item)))
    return out


def sanitize_path(path: str) -> str:
    """Strip surrounding whitespace and leading/trailing slashes."""
    return path.strip().strip("/").strip() if path.strip() else ""


def ensure_trailing_slash(path: str) -> str:
    s = path.strip()
    return s if not s or s.endswith("/") else s + "/"


def join_path(*parts: str) -> str:
    """Go's path.Join: clean the joined path, dropping empty elements."""
    joined = "/".join(p for p in parts if p)
    if not joined:
        return ""
    rooted = joined.startswith("/")
    out: list[str] = []
    for seg in re.split(r"/+", joined):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(seg)
    text = "/".join(out)
    return ("/" + text) if rooted else (text or ".")

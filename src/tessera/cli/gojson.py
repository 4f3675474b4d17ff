"""Go's encoding/json and fmt ``%v``/``%q`` as the Vault CLI prints values.

The CLI decodes responses with ``UseNumber`` (numbers keep their text) into Go maps (printed with
sorted keys) and structs (printed in field order). ``Struct`` marks an ordered struct-like object;
every plain ``dict`` is a Go map. Go's encoder escapes ``<``, ``>`` and ``&`` as ``\\u003c`` etc.
"""

from __future__ import annotations

import json
from typing import Any


class Struct(dict):  # type: ignore[type-arg]
    """A Go struct: its keys print in insertion order, not sorted."""


class Number:
    """A JSON number that is not an integer, kept as its text (Go's json.Number)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def loads(text: str | bytes) -> Any:
    """Decode JSON keeping non-integer numbers' text."""
    return json.loads(text, parse_float=Number)


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dumps(obj: Any, indent: str = "  ", level: int = 0) -> str:
    """json.MarshalIndent(obj, "", "  ")."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _json_str(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, Number):
        return obj.text
    if isinstance(obj, float):
        return repr(obj) if not obj.is_integer() else str(int(obj))
    pad = indent * (level + 1)
    end = indent * level
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        keys = list(obj) if isinstance(obj, Struct) else sorted(obj)
        items = [f"{pad}{_json_str(str(k))}: {dumps(obj[k], indent, level + 1)}" for k in keys]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        items = [pad + dumps(v, indent, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    return _json_str(str(obj))


def fmt_v(value: Any) -> str:
    """fmt.Sprintf("%v", value) for decoded JSON values."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Number):
        return value.text
    if isinstance(value, dict):
        keys = list(value) if isinstance(value, Struct) else sorted(value)
        return "map[" + " ".join(f"{k}:{fmt_v(value[k])}" for k in keys) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(fmt_v(v) for v in value) + "]"
    return str(value)


def dumps_compact(obj: Any) -> str:
    """json.Marshal(obj): no whitespace, Go's ordering and escaping."""
    if isinstance(obj, dict):
        keys = list(obj) if isinstance(obj, Struct) else sorted(obj)
        return "{" + ",".join(f"{_json_str(str(k))}:{dumps_compact(obj[k])}" for k in keys) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps_compact(v) for v in obj) + "]"
    return dumps(obj)

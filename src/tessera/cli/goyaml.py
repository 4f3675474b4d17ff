"""YAML output as ``sigs.k8s.io/yaml`` (JSON re-encoded by go-yaml v2) prints it.

Keys are sorted, lists sit at their key's indentation, strings that would read back as another type
(``"true"``, ``"2"``, timestamps, ``""``) are double-quoted, strings the plain style cannot carry are
single-quoted, and multi-line strings use the literal block style.
"""

from __future__ import annotations

import re
from typing import Any

from .gojson import Number

_BOOLS = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
    "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
}  # fmt: skip
_NULLS = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")
_FLOAT = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|[-+]?\.(inf|Inf|INF)$|\.(nan|NaN|NAN)$"
)
_TIMESTAMP = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([Tt ]|$)")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


def _resolves_to_non_string(s: str) -> bool:
    return bool(
        s in _BOOLS
        or s in _NULLS
        or _INT.match(s)
        or _FLOAT.match(s)
        or _TIMESTAMP.match(s)
        or _BASE60.match(s)
    )


def _plain_allowed(s: str) -> bool:
    if s[0] in " \t" or s[-1] in " \t":
        return False
    first = s[0]
    if first in _INDICATORS and (first not in "-?:" or len(s) == 1 or s[1] in " \t"):
        return False
    if ": " in s or " #" in s or s.endswith(":"):
        return False
    return all(ch.isprintable() for ch in s)


def _double_quoted(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02X}" if ord(ch) < 0x100 else f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _scalar(value: Any, indent: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Number):
        return value.text
    if isinstance(value, (int, float)):
        return str(value)
    s = str(value)
    if "\n" in s:
        chomp = "-" if not s.endswith("\n") else ("+" if s.endswith("\n\n") else "")
        body = s[:-1] if s.endswith("\n") and chomp == "" else s
        pad = " " * (indent + 2)
        lines = (
            body.split("\n")
            if chomp != "+"
            else s.rstrip("\n").split("\n") + [""] * (len(s) - len(s.rstrip("\n")) - 1)
        )
        return f"|{chomp}\n" + "\n".join(pad + ln if ln else "" for ln in lines)
    if _resolves_to_non_string(s):
        return _double_quoted(s)
    if _plain_allowed(s):
        return s
    return "'" + s.replace("'", "''") + "'"


def _emit(value: Any, indent: int, lines: list[str], prefix: str) -> None:
    """Append the lines for ``value`` whose first line starts with ``prefix`` (already indented)."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        first = True
        for key in sorted(value, key=str):
            head = prefix if first else pad
            first = False
            k = _scalar(str(key), indent)
            item = value[key]
            if isinstance(item, dict) and item:
                lines.append(f"{head}{k}:")
                _emit(item, indent + 2, lines, " " * (indent + 2))
            elif isinstance(item, list) and item:
                lines.append(f"{head}{k}:")
                _emit(item, indent, lines, pad)
            else:
                lines.append(f"{head}{k}: {_leaf(item, indent)}")
        return
    if isinstance(value, list) and value:
        first = True
        for item in value:
            head = prefix if first else pad
            first = False
            if (isinstance(item, (dict, list))) and item:
                _emit(item, indent + 2, lines, head + "- ")
            else:
                lines.append(f"{head}- {_leaf(item, indent)}")
        return
    lines.append(prefix + _leaf(value, indent))


def _leaf(value: Any, indent: int) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value, indent)


def dumps(value: Any) -> str:
    """The YAML document for ``value``, trimmed as the CLI prints it."""
    lines: list[str] = []
    _emit(value, 0, lines, "")
    return "\n".join(lines).strip()

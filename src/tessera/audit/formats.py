"""Serialising an audit entry: ``json`` (one line, Go's encoder) or ``jsonx`` (IBM JSONx XML).

Go's ``json.Encoder`` escapes ``<``, ``>``, ``&``, U+2028 and U+2029 and ends each entry with a
newline; ``jsonx`` is jefferai/jsonx's EncodeJSONBytes of the same JSON (sorted members, no root
element and no newline), which Vault writes as is. A device's ``prefix`` goes before either.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..gocompat.json import go_json

FORMATS = ("json", "jsonx")


def encode(entry: dict[str, Any], fmt: str, prefix: str = "") -> bytes:
    """The bytes a device writes for one entry."""
    head = prefix.encode()
    if fmt == "jsonx":
        return head + jsonx(entry).encode()
    return head + go_json(entry) + b"\n"


_XML_ESCAPES = {
    '"': "&#34;",
    "'": "&#39;",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\t": "&#x9;",
    "\n": "&#xA;",
    "\r": "&#xD;",
}


def xml_escape(text: str) -> str:
    """encoding/xml.EscapeText."""
    return "".join(_XML_ESCAPES.get(c, c) for c in text)


def jsonx(entry: dict[str, Any]) -> str:
    """jsonx.EncodeJSONBytes: the members of the top object as JSONx elements, sorted by name."""
    parts: list[str] = []
    for name in sorted(entry):
        _element(parts, name, entry[name])
    return "".join(parts)


def _element(parts: list[str], name: str | None, value: Any) -> None:
    attr = f' name="{xml_escape(name)}"' if name else ""
    if value is None:
        parts.append(f"<json:null{attr} />")
    elif isinstance(value, bool):
        parts.append(f"<json:boolean{attr}>{'true' if value else 'false'}</json:boolean>")
    elif isinstance(value, (int, float)):
        parts.append(f"<json:number{attr}>{orjson.dumps(value).decode()}</json:number>")
    elif isinstance(value, str):
        # jsonx prints string values unescaped (%v), only names go through xml.EscapeText.
        parts.append(f"<json:string{attr}>{value}</json:string>")
    elif isinstance(value, list):
        parts.append(f"<json:array{attr}>")
        for item in value:
            _element(parts, None, item)
        parts.append("</json:array>")
    elif isinstance(value, dict):
        parts.append(f"<json:object{attr}>")
        for key in sorted(value):
            _element(parts, key, value[key])
        parts.append("</json:object>")

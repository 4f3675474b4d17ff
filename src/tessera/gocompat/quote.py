"""Go's ``strconv.Quote`` (what ``%q`` prints) and ``%q`` of a ``[]string``."""

from __future__ import annotations

from collections.abc import Iterable

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """strconv.Quote: printable runes kept (Go's IsPrint matches str.isprintable), the rest escaped."""
    out = ['"']
    for ch in text:
        escaped = _ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ch.isprintable():
            out.append(ch)
        elif (code := ord(ch)) < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_quote_list(items: Iterable[str] | None) -> str:
    """``fmt.Sprintf("%q", []string{...})``: ``["a" "b"]`` (nil prints as ``[]``)."""
    return "[" + " ".join(go_quote(item) for item in items or ()) + "]"

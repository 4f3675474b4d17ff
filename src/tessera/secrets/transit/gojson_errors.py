"""encoding/json's error texts for a malformed backup (what ``restore`` answers with).

The reference decodes backups with a json.Decoder: the first JSON value is read (trailing data is
ignored), syntax errors name the offending character, truncation is ``unexpected EOF``.
"""

from __future__ import annotations

_NAMED = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
_WS = b" \t\r\n"


def _quote_char(c: int) -> str:
    """json's quoteChar: strconv.Quote of the byte read as a rune, in single quotes."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    if c in _NAMED:
        return f"'{_NAMED[c]}'"
    if c < 0x20 or c == 0x7F:
        return f"'\\x{c:02x}'"
    if 0x80 <= c < 0xA0:
        return f"'\\u{c:04x}'"
    return f"'{chr(c)}'"


class _Syntax(Exception):
    pass


class _EOF(Exception):
    pass


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.d = data
        self.i = 0

    def peek(self) -> int:
        if self.i >= len(self.d):
            raise _EOF()
        return self.d[self.i]

    def next(self) -> int:
        c = self.peek()
        self.i += 1
        return c

    def skip(self) -> int:
        while self.peek() in _WS:
            self.i += 1
        return self.peek()

    def err(self, c: int, context: str) -> _Syntax:
        if c >= 0x80:
            # The whole UTF-8 character is reported, not its first byte.
            start = self.i - 1 if self.i > 0 and self.d[self.i - 1] == c else self.i
            text = self.d[start : start + 4].decode("utf-8", "ignore")[:1] or chr(c)
            return _Syntax(f"invalid character '{text}' {context}")
        return _Syntax(f"invalid character {_quote_char(c)} {context}")

    def value(self) -> str:
        c = self.skip()
        self.i += 1
        if c == 0x7B:
            self.obj()
            return "object"
        if c == 0x5B:
            self.arr()
            return "array"
        if c == 0x22:
            self.string()
            return "string"
        if c == 0x2D or 0x30 <= c <= 0x39:
            self.number(c)
            return "number"
        for word, kind in ((b"true", "bool"), (b"false", "bool"), (b"null", "null")):
            if c == word[0]:
                for expected in word[1:]:
                    got = self.next()
                    if got != expected:
                        raise self.err(got, f"in literal {word.decode()} (expecting {_quote_char(expected)})")
                return kind
        raise self.err(c, "looking for beginning of value")

    def obj(self) -> None:
        c = self.skip()
        if c == 0x7D:
            self.i += 1
            return
        while True:
            c = self.skip()
            self.i += 1
            if c != 0x22:
                raise self.err(c, "looking for beginning of object key string")
            self.string()
            c = self.skip()
            self.i += 1
            if c != 0x3A:
                raise self.err(c, "after object key")
            self.value()
            c = self.skip()
            self.i += 1
            if c == 0x7D:
                return
            if c != 0x2C:
                raise self.err(c, "after object key:value pair")

    def arr(self) -> None:
        c = self.skip()
        if c == 0x5D:
            self.i += 1
            return
        while True:
            self.value()
            c = self.skip()
            self.i += 1
            if c == 0x5D:
                return
            if c != 0x2C:
                raise self.err(c, "after array element")

    def string(self) -> None:
        while True:
            c = self.next()
            if c == 0x22:
                return
            if c == 0x5C:
                e = self.next()
                if e == 0x75:
                    start = self.i - 2
                    for _ in range(4):
                        h = self.next()
                        if chr(h) not in "0123456789abcdefABCDEF":
                            seq = self.d[start : start + 6].decode("utf-8", "replace")
                            raise _Syntax(f"invalid escape sequence `{seq}` in string")
                elif e not in b'"\\/bfnrt':
                    raise _Syntax(f"invalid escape sequence `\\{chr(e)}` in string")
            elif c < 0x20:
                raise self.err(c, "in string")

    def _digits(self) -> None:
        while self.i < len(self.d) and 0x30 <= self.d[self.i] <= 0x39:
            self.i += 1

    def number(self, first: int) -> None:
        if first == 0x2D:
            c = self.next()
            if not 0x30 <= c <= 0x39:
                raise self.err(c, "in numeric literal")
            first = c
        if first != 0x30:
            self._digits()
        if self.i < len(self.d) and self.d[self.i] == 0x2E:
            self.i += 1
            c = self.next()
            if not 0x30 <= c <= 0x39:
                raise self.err(c, "in numeric literal")
            self._digits()
        if self.i < len(self.d) and self.d[self.i] in b"eE":
            self.i += 1
            c = self.next()
            if c in b"+-":
                c = self.next()
            if not 0x30 <= c <= 0x39:
                raise self.err(c, "in numeric literal")
            self._digits()


def decode_error(data: bytes) -> str | None:
    """The error json.Decoder.Decode(&KeyData{}) returns for ``data``, or None if it decodes."""
    scanner = _Scanner(data)
    try:
        if not data.strip(_WS):
            return "EOF"
        kind = scanner.value()
    except _EOF:
        return "unexpected EOF"
    except _Syntax as exc:
        return str(exc)
    if kind not in ("object", "null"):
        return f"json: cannot unmarshal {kind} into Go value of type keysutil.KeyData"
    return None

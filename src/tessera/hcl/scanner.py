"""The HCL v1 / JSON scanner of the HCL reader: runes in, Go's tokens (and errors) out.

Split from :mod:`tessera.hcl.parser` so each half stays readable; positions, token names and
error texts follow hashicorp/hcl's scanners because Vault's messages quote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EOF_CH = ""

# Token types, named as Go prints them in error messages.
ILLEGAL, EOF, COMMENT, IDENT, NUMBER, FLOAT, BOOL, STRING, HEREDOC = (
    "ILLEGAL",
    "EOF",
    "COMMENT",
    "IDENT",
    "NUMBER",
    "FLOAT",
    "BOOL",
    "STRING",
    "HEREDOC",
)
LBRACK, LBRACE, COMMA, PERIOD, RBRACK, RBRACE, ASSIGN, ADD, SUB, COLON, NULL = (
    "LBRACK",
    "LBRACE",
    "COMMA",
    "PERIOD",
    "RBRACK",
    "RBRACE",
    "ASSIGN",
    "ADD",
    "SUB",
    "COLON",
    "NULL",
)
_PUNCT = {"[": LBRACK, "]": RBRACK, "{": LBRACE, "}": RBRACE, ",": COMMA}


class HCLError(ValueError):
    """A syntax error, worded like hashicorp/hcl (``At L:C: ...`` or ``L:C: ...`` for JSON)."""


@dataclass(frozen=True, slots=True)
class Pos:
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.line}:{self.col}" if self.line > 0 else "-"


NOPOS = Pos()


@dataclass(slots=True)
class Token:
    type: str
    text: str
    pos: Pos
    json: bool = False

    def value(self) -> Any:
        """The Go value of a literal token (strings unquoted, heredocs unindented)."""
        if self.type == NUMBER:
            return go_parse_int(self.text)
        if self.type == FLOAT:
            return float(self.text)
        if self.type == BOOL:
            return self.text == "true"
        if self.type == HEREDOC:
            return _unindent_heredoc(self.text)
        if self.type == STRING:
            return unquote(self.text) if self.text else ""
        if self.type == NULL:
            return None
        return self.text


def go_parse_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): base prefixes, Go's leading-zero octal."""
    sign = 1
    body = text
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    try:
        low = body.lower()
        if low.startswith(("0x", "0o", "0b")):
            value = int(body.replace("_", ""), 0)
        elif len(body) > 1 and body.startswith("0"):
            value = int(body, 8)
        elif body.isascii() and body.isdigit():
            value = int(body, 10)
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
    value *= sign
    if not -(2**63) <= value < 2**63:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


# -- scanning -----------------------------------------------------------------------------


def _is_letter(ch: str) -> bool:
    return ch != "" and ("a" <= ch <= "z" or "A" <= ch <= "Z" or ch == "_" or (ch >= "\x80" and ch.isalpha()))


def _is_digit(ch: str) -> bool:
    return ch != "" and ("0" <= ch <= "9" or (ch >= "\x80" and ch.isdigit()))


def _is_decimal(ch: str) -> bool:
    return ch != "" and "0" <= ch <= "9"


def _digit_val(ch: str) -> int:
    if "0" <= ch <= "9" and ch:
        return ord(ch) - 48
    if "a" <= ch <= "f" and ch:
        return ord(ch) - 87
    if "A" <= ch <= "F" and ch:
        return ord(ch) - 55
    return 16


class Scanner:
    """hcl/scanner (or hcl/json/scanner with ``json=True``): runes in, tokens out.

    Positions count runes, 1-based; reading past the end still advances the column, which is
    why Go reports ``At 1:3`` for the end of the one-character document ``x``.
    """

    def __init__(self, src: str, *, json: bool = False) -> None:
        self.src = src
        self.json = json
        self.i = 0
        self.line = 1
        self.col = 0
        self.last_line_len = 0
        self.prev = (0, 1, 0)
        self.errors: list[tuple[Pos, str]] = []

    def next(self) -> str:
        if self.i >= len(self.src):
            self.col += 1
            return EOF_CH
        ch = self.src[self.i]
        self.prev = (self.i, self.line, self.col)
        self.i += 1
        self.col += 1
        if ch == "\n":
            self.line += 1
            self.last_line_len = self.col
            self.col = 0
        if ch == "\x00":
            self.err("unexpected null character (0x00)")
            return EOF_CH
        return ch

    def unread(self) -> None:
        self.i, self.line, self.col = self.prev

    def peek(self) -> str:
        return self.src[self.i] if self.i < len(self.src) else EOF_CH

    def recent(self) -> Pos:
        if self.col > 0:
            return Pos(self.line, self.col)
        if self.last_line_len > 0:
            return Pos(self.line - 1, self.last_line_len)
        return Pos(1, 1)

    def err(self, msg: str) -> None:
        self.errors.append((self.recent(), msg))

    def scan(self) -> Token:
        ch = self.next()
        while ch in (" ", "\t", "\n", "\r"):
            ch = self.next()
        start = self.i - (1 if ch != EOF_CH else 0)
        pos = Pos(self.line, self.col) if self.col > 0 else Pos(self.line - 1, self.last_line_len)
        tok = ILLEGAL
        if _is_letter(ch):
            tok = IDENT
            lit = self._identifier(start)
            if lit in ("true", "false"):
                tok = BOOL
            elif self.json:
                if lit == "null":
                    tok = NULL
                else:
                    tok = ILLEGAL
                    self.err("illegal char")
        elif _is_decimal(ch):
            tok = self._number(ch)
        elif ch == EOF_CH:
            tok = EOF
        elif ch == '"':
            tok = STRING
            self._string()
        elif ch in "[]{},":
            tok = _PUNCT[ch]
        elif ch == ".":
            tok = PERIOD
            nxt = self.peek()
            if _is_decimal(nxt):
                tok = FLOAT
                nxt = self._mantissa(nxt)
                self._exponent(nxt)
        elif ch == "-":
            if _is_decimal(self.peek()):
                tok = self._number(self.next())
            elif self.json:
                self.err("illegal char")
            else:
                tok = SUB
        elif self.json:
            if ch == ":":
                tok = COLON
            else:
                self.err("illegal char: " + ch)
        elif ch in "#/":
            tok = COMMENT
            self._comment(ch)
        elif ch == "<":
            tok = HEREDOC
            self._heredoc()
        elif ch == "=":
            tok = ASSIGN
        elif ch == "+":
            tok = ADD
        else:
            self.err("illegal char")
        return Token(tok, self.src[start : self.i] if ch != EOF_CH else "", pos, self.json)

    def _identifier(self, start: int) -> str:
        ch = self.next()
        while _is_letter(ch) or _is_digit(ch) or ch in ("-", "."):
            ch = self.next()
        if ch != EOF_CH:
            self.unread()
        return self.src[start : self.i]

    def _comment(self, ch: str) -> None:
        if ch == "#" or (ch == "/" and self.peek() != "*"):
            if ch == "/" and self.peek() != "/":
                self.err("expected '/' for comment")
                return
            ch = self.next()
            while ch not in ("\n", EOF_CH):
                ch = self.next()
            if ch != EOF_CH:
                self.unread()
            return
        if ch == "/":
            self.next()
            ch = self.next()
        while True:
            if ch == EOF_CH:
                self.err("comment not terminated")
                break
            ch0 = ch
            ch = self.next()
            if ch0 == "*" and ch == "/":
                break

    def _number(self, ch: str) -> str:
        if ch == "0":
            ch = self.next()
            if ch in ("x", "X"):
                ch = self.next()
                found = False
                while ch != EOF_CH and ch in "0123456789abcdefABCDEF":
                    ch = self.next()
                    found = True
                if not found:
                    self.err("illegal hexadecimal number")
                if ch != EOF_CH:
                    self.unread()
                return NUMBER
            illegal_octal = False
            while _is_decimal(ch):
                ch = self.next()
                if ch in ("8", "9"):
                    illegal_octal = True
            if self._float_tail(ch):
                return FLOAT
            if illegal_octal:
                self.err("illegal octal number")
            if ch != EOF_CH:
                self.unread()
            return NUMBER
        self._mantissa(ch)
        ch = self.next()
        if self._float_tail(ch):
            return FLOAT
        if ch != EOF_CH:
            self.unread()
        return NUMBER

    def _float_tail(self, ch: str) -> bool:
        """Scan an exponent or a fraction (and its exponent) after the digits; True if there was one."""
        if ch in ("e", "E"):
            self._exponent(ch)
            return True
        if ch == ".":
            ch = self._fraction(ch)
            if ch in ("e", "E"):
                ch = self.next()
                self._exponent(ch)
            return True
        return False

    def _mantissa(self, ch: str) -> str:
        scanned = False
        while _is_decimal(ch):
            ch = self.next()
            scanned = True
        if scanned and ch != EOF_CH:
            self.unread()
        return ch

    def _fraction(self, ch: str) -> str:
        if ch == ".":
            ch = self._mantissa(self.peek())
        return ch

    def _exponent(self, ch: str) -> str:
        if ch in ("e", "E"):
            ch = self.next()
            if ch in ("-", "+"):
                ch = self.next()
            ch = self._mantissa(ch)
        return ch

    def _heredoc(self) -> None:
        if self.next() != "<":
            self.err("heredoc expected second '<', didn't see it")
            return
        offs = self.i
        ch = self.next()
        if ch == "-":
            ch = self.next()
        while _is_letter(ch) or _is_digit(ch):
            ch = self.next()
        if ch == EOF_CH:
            self.err("heredoc not terminated")
            return
        if ch == "\r" and self.peek() == "\n":
            ch = self.next()
        if ch != "\n":
            self.err("invalid characters in heredoc anchor")
            return
        ident = self.src[offs : self.i - 1]
        if not ident:
            self.err("zero-length heredoc anchor")
            return
        anchor = ident[1:] if ident.startswith("-") else ident
        line_start = self.i
        while True:
            ch = self.next()
            if ch == "\n":
                line = self.src[line_start : self.i - 1]
                if len(line) >= len(ident) and line.lstrip(" \t\n\v\f\r").rstrip("\r") == anchor:
                    break
                line_start = self.i
            if ch == EOF_CH:
                self.err("heredoc not terminated")
                return

    def _string(self) -> None:
        braces = 0
        while True:
            ch = self.next()
            if (ch == "\n" and (braces == 0 or self.json)) or ch == EOF_CH:
                self.err("literal not terminated")
                return
            if ch == '"' and (braces == 0 or self.json):
                break
            if braces == 0 and ch == "$" and self.peek() == "{":
                braces += 1
                self.next()
            elif braces > 0 and ch == "{":
                braces += 1
            if braces > 0 and ch == "}":
                braces -= 1
            if ch == "\\":
                self._escape()

    def _escape(self) -> None:
        ch = self.next()
        if ch != EOF_CH and ch in 'abfnrtv\\"':
            return
        if ch != EOF_CH and ch in "01234567":
            self._digits(ch, 8, 3)
        elif ch == "x":
            self._digits(self.next(), 16, 2)
        elif ch == "u":
            self._digits(self.next(), 16, 4)
        elif ch == "U":
            self._digits(self.next(), 16, 8)
        else:
            self.err("illegal char escape")

    def _digits(self, ch: str, base: int, n: int) -> None:
        start = n
        while n > 0 and _digit_val(ch) < base:
            ch = self.next()
            if ch == EOF_CH:
                break
            n -= 1
        if n > 0:
            self.err("illegal char escape")
        if n != start and ch != EOF_CH:
            self.unread()


# -- values -------------------------------------------------------------------------------

_SIMPLE_ESC = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def unquote(text: str) -> str:
    """Go-style unquoting of a scanned string literal; ``${...}`` interpolations stay raw."""
    body = text[1:-1] if len(text) >= 2 and text[0] == '"' and text[-1] == '"' else text.strip('"')
    out: list[str] = []
    i = 0
    braces = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if braces == 0 and ch == "$" and body[i + 1 : i + 2] == "{":
            braces = 1
            out.append("${")
            i += 2
            continue
        if braces > 0:
            if ch == "{":
                braces += 1
            elif ch == "}":
                braces -= 1
            out.append(ch)
            i += 1
            continue
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1]
        if esc in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[esc])
            i += 2
        elif esc in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8) & 0xFF))
            i += 4
        else:
            width = {"x": 2, "u": 4, "U": 8}.get(esc, 0)
            digits = body[i + 2 : i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                out.append("\ufffd")
            i += 2 + width
    return "".join(out)


def _unindent_heredoc(text: str) -> str:
    idx = text.find("\n")
    if idx < 0:
        return text
    if text[2:3] != "-":
        return text[idx + 1 : len(text) - idx + 1]
    lines = text[idx + 1 : len(text) - idx + 2].split("\n")
    prefix = lines[-1]
    if not all(line.startswith(prefix) for line in lines):
        return text[idx + 1 : len(text) - idx + 1].rstrip(" \t")
    return "\n".join([line[len(prefix) :] for line in lines[:-1]] + [""])

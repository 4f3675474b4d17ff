"""HTTP/1.1 on the wire: requests read off a byte stream (head and body, strictly), and the
header lines of an answer, checked.

Why not a library: llhttp (httptools) refuses methods outside its fixed list, and Vault's clients
send ``LIST`` (``SCAN`` and ``HELP`` too); h11 accepts them but costs more than the rest of the
listener per request. What is read here is only what a server needs (no responses, no
upgrades), and anything ambiguous is refused with Go's answer rather than guessed at: a header
name with white space before its colon, control characters in a value, a ``Content-Length``
that is not digits or disagrees with itself, a transfer coding other than ``chunked``. When
both ``Transfer-Encoding: chunked`` and ``Content-Length`` are sent, the chunking wins (RFC 9112
6.3), as in Go's server.
"""

from __future__ import annotations

import http
import re
from dataclasses import dataclass

# Go's http.DefaultMaxHeaderBytes (1 MiB) plus the 4 KiB bufio slack its server allows.
MAX_HEAD = (1 << 20) + 4096
_MAX_CHUNK_LINE = 4096  # a chunk-size line with extensions; Go's limit is the same order
_MAX_TRAILERS = 64

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)")
_NAME = re.compile(_TOKEN)
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but TAB
_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")


class BadRequest(Exception):
    """A request this server will not read; ``status`` is Go's answer to it, and ``told`` the
    reason Go gives the client after its status text (most reasons it keeps to itself)."""

    def __init__(self, status: int, reason: str, *, told: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.told = reason if told else ""


@dataclass(slots=True)
class Head:
    method: str
    target: str
    headers: dict[str, str]  # by lower-case name; a repeated name's values joined by ", "
    length: int  # the body's length; CHUNKED for a chunked body
    keep_alive: bool
    expect_continue: bool
    http10: bool = False  # an HTTP/1.0 client kept alive is told so in the answer


CHUNKED = -1


def parse_head(block: bytes) -> Head:
    """The request line and headers (``block`` ends before the blank line)."""
    head = common_head(block)
    return head if head is not None else checked_head(block)


def checked_head(block: bytes) -> Head:
    """``parse_head`` with every check a regular expression, line by line: the reader of a head
    ``common_head`` leaves (what it refuses, and why, is this function's)."""
    lines = block.split(b"\r\n")
    matched = _REQUEST_LINE.fullmatch(lines[0])
    if matched is None:
        raise BadRequest(400, "malformed request line")
    method, target, major, minor = matched.groups()
    if major != b"1":
        raise BadRequest(505, "unsupported protocol version")
    return _head(method.decode("ascii"), target.decode("latin-1"), minor == b"0", _headers(lines))


def _head(method: str, target: str, http10: bool, headers: dict[str, str]) -> Head:
    if not http10 and "host" not in headers:
        raise BadRequest(400, "missing required Host header", told=True)
    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if http10 else "close" not in connection
    # _body_length's answer without the call when there is no body (most requests).
    bodiless = "content-length" not in headers and "transfer-encoding" not in headers
    length = 0 if bodiless else _body_length(headers)
    return Head(
        method,
        target,
        headers,
        length,
        keep_alive,
        not http10 and headers.get("expect", "").lower() == "100-continue",
        http10,
    )


# ``common_head``'s checks, in C loops over the bytes where ``re`` costs ~50-100 instructions a
# byte (a batch token's header is hundreds of bytes): control characters mapped to 0 and counted
# (those of a well-formed head are its line breaks), and names and methods, which clients repeat,
# checked once and remembered (a bounded number: names are the client's to choose).
_CONTROL_MAP = bytes(0 if (b < 0x20 and b != 0x09) or b == 0x7F else 1 for b in range(256))
_VERSIONS = {"HTTP/1.1": False, "HTTP/1.0": True}  # whether HTTP/1.0
_NAME_TEXT = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_KNOWN_NAMES: dict[str, str] = {}  # a checked header name -> its lower-case form
_KNOWN_METHODS: set[str] = set()
_KNOWN_MAX = 256


def common_head(block: bytes) -> Head | None:
    """``checked_head`` for a head with nothing it would refuse but a repeated Host (refused here
    as there) and an HTTP/1.1 or 1.0 request line: read from its text, split at its line breaks
    and separators, with no regular expression but for a name or method not seen before. None for
    anything else (a control character but the line breaks, a request line or header line off the
    common shape, another version): ``checked_head`` reads it, and refuses what it refuses."""
    text = block.decode("latin-1")
    lines = text.split("\r\n")
    if block.translate(_CONTROL_MAP).count(0) != 2 * len(lines) - 2:
        return None  # a control character (NUL, a bare CR or LF, DEL, ...) somewhere
    method, _, rest = lines[0].partition(" ")
    target, _, version = rest.partition(" ")
    http10 = _VERSIONS.get(version)
    if http10 is None or not target or "\t" in target:
        return None
    if method not in _KNOWN_METHODS and not _known_method(method):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        key = _KNOWN_NAMES.get(name) or _known_name(name)
        if key is None:
            return None
        value = value.strip(" \t")
        seen = headers.get(key)
        if seen is None:
            headers[key] = value
        elif key == "host":
            raise BadRequest(400, "too many Host headers")
        else:
            headers[key] = f"{seen}, {value}"
    return _head(method, target, http10, headers)


def _known_method(method: str) -> bool:
    if _NAME_TEXT.fullmatch(method) is None:
        return False
    if len(_KNOWN_METHODS) < _KNOWN_MAX:
        _KNOWN_METHODS.add(method)
    return True


def _known_name(name: str) -> str | None:
    if _NAME_TEXT.fullmatch(name) is None:
        return None
    key = name.lower()
    if len(_KNOWN_NAMES) < _KNOWN_MAX:
        _KNOWN_NAMES[name] = key
    return key


def _headers(lines: list[bytes]) -> dict[str, str]:
    """Each header line after ``lines[0]`` (the request line), checked one by one."""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or _NAME.fullmatch(name) is None:
            raise BadRequest(400, "malformed header line")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value) is not None:
            raise BadRequest(400, "invalid header value")
        key, text = name.decode("ascii").lower(), value.decode("latin-1")
        seen = headers.get(key)
        if seen is not None and key == "host":
            raise BadRequest(400, "too many Host headers")
        headers[key] = text if seen is None else f"{seen}, {text}"
    return headers


def _body_length(headers: dict[str, str]) -> int:
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower() != "chunked":
            raise BadRequest(501, "unsupported transfer encoding")
        return CHUNKED
    announced = headers.get("content-length")
    if announced is None:
        return 0
    if announced.isdigit() and announced.isascii() and len(announced) <= 18:
        return int(announced)  # one plain number: what the checks below come to, without them
    values = {v.strip() for v in announced.split(",")}
    if len(values) != 1:
        raise BadRequest(400, "conflicting Content-Length")
    value = values.pop()
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise BadRequest(400, "bad Content-Length")
    return int(value)


class ChunkedBody:
    """A chunked body, de-chunked as its bytes arrive; past ``limit`` bytes it is dropped."""

    __slots__ = ("_need", "_state", "_trailers", "limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit
        self._need = 0
        self._state = "size"
        self._trailers = 0

    @property
    def too_large(self) -> bool:
        return self.size > self.limit

    def feed(self, buf: bytes | bytearray, pos: int) -> tuple[int, bool]:
        """Read from ``buf[pos:]``; returns where reading stopped and whether the body is complete."""
        while True:
            state = self._state
            if state == "data":
                take = min(self._need, len(buf) - pos)
                if take == 0:
                    return pos, False
                self._keep(bytes(buf[pos : pos + take]))
                self._need -= take
                pos += take
                if self._need == 0:
                    self._state = "crlf"
                continue
            if state == "crlf":
                if len(buf) - pos < 2:
                    return pos, False
                if buf[pos : pos + 2] != b"\r\n":
                    raise BadRequest(400, "malformed chunk")
                pos += 2
                self._state = "size"
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if len(buf) - pos > _MAX_CHUNK_LINE:
                    raise BadRequest(400, "chunk line too long")
                return pos, False
            line, pos = bytes(buf[pos:end]), end + 2
            if state == "size":
                self._size_line(line)
            elif not line:  # the blank line after the trailers: done
                return pos, True
            else:
                self._trailers += 1
                if self._trailers > _MAX_TRAILERS:
                    raise BadRequest(400, "too many trailers")

    def _size_line(self, line: bytes) -> None:
        digits = line.partition(b";")[0].strip(b" \t")
        if _HEX.fullmatch(digits) is None:
            raise BadRequest(400, "malformed chunk size")
        self._need = int(digits, 16)
        self._state = "data" if self._need else "trailers"

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.parts.clear()  # memory stays bounded; the request gets its 413
        else:
            self.parts.append(data)

    def body(self) -> bytes | None:
        return None if self.too_large else b"".join(self.parts)


REASONS = {int(s): s.phrase.encode() for s in http.HTTPStatus}
# Header lines as h11 validates each: a token, then a field value (no NUL, CR, LF, and no white
# space at either end); the whole block is matched at once.
_HEADER_LINES = re.compile(rb"(?:[-!#$%&'*+.^_`|~0-9a-zA-Z]+: (?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?\r\n)*")


def header_block(headers: list[tuple[str, str]], closing: bool) -> bytes:
    """An answer's own header lines (its ``content-length`` left to the writer, and its
    ``connection`` too when the connection closes); ValueError for a line that could split the
    answer: not ASCII, a name that is not a token, a line break inside a value."""
    lines = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-length" or (closing and lowered == "connection"):
            continue
        lines.append(f"{name}: {value}\r\n")
    try:
        block = "".join(lines).encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("Illegal header: not ASCII") from None
    # A line break inside a value would make two valid-looking lines: count them too.
    if block.count(b"\n") != len(lines) or not _HEADER_LINES.fullmatch(block):
        raise ValueError("Illegal header name or value")
    return block

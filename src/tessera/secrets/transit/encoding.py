"""Go's encodings as transit exposes them: base64 errors, Atoi, RFC 3339 times and JSON.

Clients see Go's exact error texts (``illegal base64 data at input byte 3``) and backups carry Go's
JSON (times with nanoseconds, big integers as bare numbers), so these are reproduced here.
"""

from __future__ import annotations

import binascii
import calendar
import json
import re
import time
from typing import Any

from ...gocompat.times import parse_rfc3339, rfc3339_nano_ns

_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _decode_map(alphabet: bytes) -> list[int]:
    table = [0xFF] * 256
    for i, c in enumerate(alphabet):
        table[c] = i
    return table


_STD_MAP = _decode_map(_STD)
_URL_MAP = _decode_map(_URL)


class Base64Error(ValueError):
    """Go's base64.CorruptInputError."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def b64decode(text: str | bytes) -> bytes:
    """base64.StdEncoding.DecodeString: strict padding, CR/LF ignored, Go's error offsets."""
    data = text.encode() if isinstance(text, str) else text
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        return _go_decode(data)


def b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


def b64url_raw(data: bytes) -> str:
    """base64.RawURLEncoding (JWS signatures)."""
    return binascii.b2a_base64(data, newline=False).decode().rstrip("=").replace("+", "-").replace("/", "_")


def b64url_raw_decode(text: str) -> bytes:
    """base64.RawURLEncoding.DecodeString: URL alphabet, no padding."""
    return _go_decode(text.encode(), _URL_MAP, padded=False)


def _go_decode(src: bytes, table: list[int] = _STD_MAP, padded: bool = True) -> bytes:
    """Go's decodeQuantum loop (encoding/base64), used when the fast path refuses the input."""
    out = bytearray()
    si = 0
    n = len(src)
    while True:
        dbuf = [0, 0, 0, 0]
        dlen = 4
        j = 0
        err: int | None = None
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                if j == 1 or padded:
                    raise Base64Error(si - j)
                dlen = j
                break
            ch = src[si]
            si += 1
            v = table[ch]
            if v != 0xFF:
                dbuf[j] = v
                j += 1
                continue
            if ch in (0x0A, 0x0D):
                continue
            if ch != 0x3D or not padded:
                raise Base64Error(si - 1)
            # padding
            if j in (0, 1):
                raise Base64Error(si - 1)
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    raise Base64Error(n)
                if src[si] != 0x3D:
                    raise Base64Error(si - 1)
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            if si < n:
                err = si
            dlen = j
            break
        val = dbuf[0] << 18 | dbuf[1] << 12 | dbuf[2] << 6 | dbuf[3]
        chunk = bytes(((val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF))
        out += chunk[: dlen - 1]
        if err is not None:
            raise Base64Error(err)
        if dlen < 4:
            return bytes(out)


_ATOI = re.compile(r"[+-]?[0-9]+\Z")


def atoi(text: str) -> int:
    """strconv.Atoi: optional sign and ASCII digits only, 64-bit range."""
    if not _ATOI.match(text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


# -- time.Time as JSON (RFC 3339 with nanoseconds) ---------------------------------------
ZERO_TIME = "0001-01-01T00:00:00Z"


def now_time() -> tuple[str, int]:
    """The current time as Go's JSON text, and as unix seconds."""
    ns = time.time_ns()
    return rfc3339_nano_ns(ns), ns // 1_000_000_000


def is_zero_time(text: str) -> bool:
    try:
        return parse_rfc3339(text) == calendar.timegm((1, 1, 1, 0, 0, 0, 0, 0, 0))
    except ValueError:
        return False


def load_json(raw: bytes | str) -> Any:
    """Decode stored or backed-up JSON (exact big integers)."""
    return json.loads(raw)

"""Go's ``encoding/base64`` decoding: its alphabet rules, CR/LF skipping and error offsets.

Python's strict decoder refuses what Go accepts (line breaks) and names no offset, and Vault's
errors quote Go's ``illegal base64 data at input byte N``. The fast path is binascii; Go's
decodeQuantum loop runs only on input binascii refuses, to accept or to find the offset.
"""

from __future__ import annotations

import binascii

_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CRLF = (0x0A, 0x0D)
_PAD = 0x3D


def _decode_map(alphabet: bytes) -> list[int]:
    table = [0xFF] * 256
    for i, c in enumerate(alphabet):
        table[c] = i
    return table


STD_MAP = _decode_map(_STD)
URL_MAP = _decode_map(_URL)


class Base64Error(ValueError):
    """Go's base64.CorruptInputError."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def go_b64decode(text: str | bytes, *, padded: bool = True) -> bytes:
    """StdEncoding (``padded``) or RawStdEncoding ``DecodeString``."""
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    if padded and _plainly_padded(data):
        try:
            return binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error:
            pass
    return go_decode(data, STD_MAP, padded=padded)


def _plainly_padded(data: bytes) -> bool:
    """Whole quanta with ``=`` only in the last two places: binascii's strict mode is Go's there.

    (It also accepts ``QUJD==``, padding after a complete quantum, which Go refuses.)
    """
    return len(data) % 4 == 0 and data.find(b"=") in (-1, len(data) - 1, len(data) - 2)


def go_decode(src: bytes, table: list[int] = STD_MAP, padded: bool = True) -> bytes:
    """Go's decodeQuantum loop over the whole input."""
    out = bytearray()
    si = 0
    while True:
        quantum, si, done = _quantum(src, si, table, padded)
        out += quantum
        if done:
            return bytes(out)


def _quantum(src: bytes, si: int, table: list[int], padded: bool) -> tuple[bytes, int, bool]:
    """Up to four symbols from ``si``: (their bytes, the next offset, whether the input ended)."""
    n = len(src)
    dbuf = [0, 0, 0, 0]
    j = 0
    while j < 4:
        if si == n:
            if j == 0:
                return b"", si, True
            if j == 1 or padded:
                raise Base64Error(si - j)
            return _bytes_of(dbuf, j), si, True
        ch = src[si]
        si += 1
        v = table[ch]
        if v != 0xFF:
            dbuf[j] = v
            j += 1
        elif ch in _CRLF:
            continue
        elif ch != _PAD or not padded or j in (0, 1):
            raise Base64Error(si - 1)
        else:
            _check_padding(src, si, j)
            return _bytes_of(dbuf, j), si, True
    return _bytes_of(dbuf, 4), si, False


def _check_padding(src: bytes, si: int, j: int) -> None:
    """After the first ``=`` (at ``si - 1``): a second one if two symbols came, then only CR/LF."""
    n = len(src)
    if j == 2:
        si = _skip_crlf(src, si)
        if si == n:
            raise Base64Error(n)
        if src[si] != _PAD:
            raise Base64Error(si - 1)
        si += 1
    si = _skip_crlf(src, si)
    if si < n:
        raise Base64Error(si)


def _skip_crlf(src: bytes, si: int) -> int:
    while si < len(src) and src[si] in _CRLF:
        si += 1
    return si


def _bytes_of(dbuf: list[int], symbols: int) -> bytes:
    val = dbuf[0] << 18 | dbuf[1] << 12 | dbuf[2] << 6 | dbuf[3]
    return bytes(((val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF))[: symbols - 1]

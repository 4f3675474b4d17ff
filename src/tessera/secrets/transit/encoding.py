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

from ...gocompat.base64 import URL_MAP, go_b64decode, go_decode
from ...gocompat.base64 import Base64Error as Base64Error  # transit's modules catch it from here
from ...gocompat.times import parse_rfc3339, rfc3339_nano_ns


def b64decode(text: str | bytes) -> bytes:
    """base64.StdEncoding.DecodeString: strict padding, CR/LF ignored, Go's error offsets."""
    return go_b64decode(text)


def b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


def b64url_raw(data: bytes) -> str:
    """base64.RawURLEncoding (JWS signatures)."""
    return binascii.b2a_base64(data, newline=False).decode().rstrip("=").replace("+", "-").replace("/", "_")


def b64url_raw_decode(text: str) -> bytes:
    """base64.RawURLEncoding.DecodeString: URL alphabet, no padding."""
    return go_decode(text.encode(), URL_MAP, padded=False)


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

"""Random bytes as Vault's shared HandleRandomAPI answers them (sys/tools/random and transit/random).

Both endpoints parse ``random[/source][/bytes]`` the same way, so that ACLs may name the source and
the byte count in the URL; one implementation keeps their texts and limits identical.
"""

from __future__ import annotations

import base64
import os
import re

from .errors import ErrorResponse
from .fields import FieldData
from .logical import Response

MAX_RANDOM_BYTES = 128 * 1024
SOURCES = ("", "platform", "seal", "all")
_ATOI = re.compile(r"[+-]?[0-9]+\Z")


def _url_count(text: str) -> int:
    """strconv.Atoi of a byte count taken from the URL, with Go's error text."""
    if not _ATOI.match(text):
        raise ErrorResponse(
            f'error parsing url-set byte count: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ErrorResponse(
            f'error parsing url-set byte count: strconv.Atoi: parsing "{text}": value out of range'
        )
    return value


def _source_and_count(data: FieldData) -> tuple[str, int]:
    """The entropy source and byte count, from the URL segments when given, else from the body."""
    url_source = str(data.raw.get("source") or "")
    url_bytes = str(data.raw.get("urlbytes") or "")
    if not url_source:
        return "platform", data.get("bytes")
    if not url_bytes and url_source in SOURCES:
        return url_source, data.get("bytes")
    if not url_bytes:
        return "platform", _url_count(url_source)
    return url_source, _url_count(url_bytes)


def random_response(data: FieldData) -> Response:
    """``random_bytes`` in hex or base64; ``seal`` is served from the platform source, with a warning."""
    source, count = _source_and_count(data)
    fmt = data.get("format")
    if count < 1:
        raise ErrorResponse("'bytes' cannot be less than 1")
    if count > MAX_RANDOM_BYTES:
        raise ErrorResponse(f"'bytes' should be less than {MAX_RANDOM_BYTES}")
    if fmt not in ("hex", "base64"):
        raise ErrorResponse(f'unsupported encoding format "{fmt}"; must be "hex" or "base64"')
    if source not in SOURCES:
        raise ErrorResponse(f'unsupported entropy source "{source}"; must be "platform" or "seal", or "all"')
    raw = os.urandom(count)
    resp = Response(data={"random_bytes": raw.hex() if fmt == "hex" else base64.b64encode(raw).decode()})
    if source == "seal":
        resp.add_warning("no seal/entropy augmentation available, using platform entropy source")
    return resp

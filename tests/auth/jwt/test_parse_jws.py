"""``keys.parse_jws`` reads a compact JWS as go-jose does, in one translation of the token and three
strict base64 decodes. Checked here against the plain reading it replaced (a regex over the URL
alphabet, then each part padded and decoded alone): the same parts or the same error for any text.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth.jwt import keys

_COMPACT = re.compile(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def plain_reading(token: str) -> tuple[Any, ...] | str:
    """The reading before: (header, claims, signing input, signature), or the error's text."""
    parts = token.split(".")
    if len(parts) != 3:
        return keys.THREE_PARTS
    if not _COMPACT.fullmatch(token):
        return keys.ILLEGAL_BASE64
    decoded = []
    for part in parts:
        if len(part) % 4 == 1:
            return keys.ILLEGAL_BASE64
        decoded.append(
            binascii.a2b_base64(
                part.encode().translate(bytes.maketrans(b"-_", b"+/")) + b"=" * (-len(part) % 4)
            )
        )
    try:
        header, claims = orjson.loads(decoded[0]), orjson.loads(decoded[1])
    except orjson.JSONDecodeError:
        return "go-jose/go-jose: invalid JSON in JWS"
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "go-jose/go-jose: invalid JSON in JWS"
    return header, claims, (parts[0] + "." + parts[1]).encode(), decoded[2]


def reading(token: str) -> tuple[Any, ...] | str:
    try:
        jws = keys.parse_jws(token)
    except keys.SignatureError as exc:
        return str(exc)
    return jws.header, jws.claims, jws.signing_input, jws.signature


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


HEADER = b64(b'{"alg":"RS256","kid":"k"}')
CLAIMS = b64(b'{"sub":"job","n":1}')
SIG = b64(bytes(range(7)))


@pytest.mark.parametrize(
    "token",
    [
        f"{HEADER}.{CLAIMS}.{SIG}",
        f"{HEADER}.{CLAIMS}.",  # no signature: parsed, and then no key verifies it
        f"{HEADER}.{CLAIMS}",
        f"{HEADER}.{CLAIMS}.{SIG}.x",
        "",
        "..",
        f"{HEADER}.{CLAIMS}.{SIG}=",  # padding is not base64url
        f"{HEADER}==.{CLAIMS}.{SIG}",
        f"{HEADER}.{CLAIMS}.{SIG[:-1]}+",  # the standard alphabet is not the URL one
        f"{HEADER}.{CLAIMS}.{SIG[:-1]}/",
        f"{HEADER}.{CLAIMS} .{SIG}",
        f"{HEADER}.{CLAIMS}\n.{SIG}",
        f"{HEADER}.{CLAIMS}.{SIG}é",  # not ASCII
        f"{HEADER}.{CLAIMS}.\ud800",  # not even UTF-8
        "é.é",
        f"{HEADER}.{CLAIMS}.A",  # a length of 1 % 4
        f"{HEADER}.{CLAIMS}.AAAAA",
        f"A.{CLAIMS}.{SIG}",
        f"{HEADER}.{b64(b'[1]')}.{SIG}",  # JSON, but not an object
        f"{HEADER}.{b64(b'{')}.{SIG}",
        f"{b64(b'null')}.{CLAIMS}.{SIG}",
        f"{HEADER}.{CLAIMS}.QR",  # stray low bits: ignored, as go-jose's RawURLEncoding does
    ],
)
def test_the_same_reading_as_before(token: str) -> None:
    keys._HEADERS.clear()
    assert reading(token) == plain_reading(token)
    assert reading(token) == plain_reading(token)  # its header remembered, when it was an object


def test_remembered_headers_are_objects_only_and_bounded() -> None:
    keys._HEADERS.clear()
    reading(f"{b64(b'[1]')}.{CLAIMS}.{SIG}")
    reading(f"{HEADER}.{b64(b'{')}.{SIG}")  # refused before its header is parsed
    assert not keys._HEADERS
    reading(f"{HEADER}.{CLAIMS}.{SIG}")
    assert list(keys._HEADERS) == [HEADER.encode()]
    assert reading(f"{HEADER}.{CLAIMS}.{SIG}=") == keys.ILLEGAL_BASE64  # a remembered header
    assert reading(f"{HEADER}.{b64(b'[1]')}.{SIG}") == "go-jose/go-jose: invalid JSON in JWS"
    for n in range(keys._HEADERS_KEPT + 5):
        reading(f"{b64(orjson.dumps({'alg': 'RS256', 'n': n}))}.{CLAIMS}.{SIG}")
        assert len(keys._HEADERS) <= keys._HEADERS_KEPT


_PART = st.one_of(
    st.binary(max_size=40).map(b64),
    st.dictionaries(st.text(max_size=5), st.integers(-(2**53), 2**53) | st.text(max_size=5), max_size=3).map(
        lambda d: b64(orjson.dumps(d))
    ),
)
_NOISE = st.text(alphabet="AZaz09-_.+/= \n\té\x00", max_size=4)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PART, min_size=1, max_size=4), _NOISE, st.integers(min_value=0, max_value=200))
def test_any_text_reads_as_before(parts: list[str], noise: str, at: int) -> None:
    token = ".".join(parts)
    at = at % (len(token) + 1)
    mutated = token[:at] + noise + token[at:]
    assert reading(token) == plain_reading(token)
    assert reading(mutated) == plain_reading(mutated)

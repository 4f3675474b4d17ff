"""Go encodings transit depends on: base64 errors, Atoi, RFC 3339 times, JSON and its errors.

Expected texts were read from the reference (``transit/hash`` reports base64 errors with offsets,
``transit/restore`` reports JSON errors).
"""

from __future__ import annotations

import base64
import os

import pytest

from tessera.gocompat.json import go_json_exact
from tessera.gocompat.times import parse_rfc3339, rfc3339_nano_ns
from tessera.secrets.transit.encoding import (
    Base64Error,
    atoi,
    b64decode,
    b64url_raw,
    b64url_raw_decode,
    is_zero_time,
)
from tessera.secrets.transit.gojson_errors import decode_error


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("aGk", 0),
        ("aG=k", 2),
        ("a", 0),
        ("aGk==", 4),
        ("====", 0),
        ("aGk=aGk=", 4),
        ("é", 0),
        ("ab c", 2),
        ("aGk=x", 4),
    ],
)
def test_base64_error_offsets_match_go(text: str, offset: int) -> None:
    with pytest.raises(Base64Error) as err:
        b64decode(text)
    assert str(err.value) == f"illegal base64 data at input byte {offset}"


@pytest.mark.parametrize("text", ["aGk=", "", "aGk=\n", "aG\nk=", "aGl=", "aG\r\nk="])
def test_base64_accepts_what_go_accepts(text: str) -> None:
    # "aGl=" has non-zero trailing bits: Go's StdEncoding (not Strict) accepts it.
    assert b64decode(text) == b"hi" or text == ""


def test_base64_round_trip_random() -> None:
    for n in range(0, 70):
        data = os.urandom(n)
        assert b64decode(base64.b64encode(data).decode()) == data


def test_raw_url_base64() -> None:
    data = bytes(range(256))
    text = b64url_raw(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_raw_decode(text) == data
    with pytest.raises(Base64Error):
        b64url_raw_decode(text + "=")
    with pytest.raises(Base64Error):
        b64url_raw_decode("A")


def test_atoi_is_strconv() -> None:
    assert atoi("12") == 12
    assert atoi("+3") == 3
    assert atoi("-1") == -1
    assert atoi("007") == 7
    for bad in ("", " 1", "1_0", "1.0", "x", "٣", "99999999999999999999"):
        with pytest.raises(ValueError):
            atoi(bad)


def test_times() -> None:
    assert rfc3339_nano_ns(1_795_424_243_781_205_147) == "2026-11-23T08:57:23.781205147Z"
    assert rfc3339_nano_ns(1_795_424_243_000_000_000) == "2026-11-23T08:57:23Z"
    assert rfc3339_nano_ns(1_795_424_243_100_000_000) == "2026-11-23T08:57:23.1Z"
    assert parse_rfc3339("2026-11-23T08:57:23.781205147Z") == pytest.approx(1_795_424_243.781205147)
    assert parse_rfc3339("2026-11-23T09:57:23+01:00") == parse_rfc3339("2026-11-23T08:57:23Z")
    assert is_zero_time("0001-01-01T00:00:00Z")
    assert not is_zero_time("2026-11-23T08:57:23Z")
    with pytest.raises(ValueError):
        parse_rfc3339("yesterday")


def test_go_json_escapes_like_encoding_json() -> None:
    assert go_json_exact({"a": "<&>", "n": 2**300}) == (
        b'{"a":"\\u003c\\u0026\\u003e","n":' + str(2**300).encode() + b"}"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json", "invalid character 'o' in literal null (expecting 'u')"),
        ("[1]", "json: cannot unmarshal array into Go value of type keysutil.KeyData"),
        ('"x"', "json: cannot unmarshal string into Go value of type keysutil.KeyData"),
        ("5", "json: cannot unmarshal number into Go value of type keysutil.KeyData"),
        ('{"a":', "unexpected EOF"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ('{"a":1 x', "invalid character 'x' after object key:value pair"),
        ("[1 2]", "invalid character '2' after array element"),
        ("{1:2}", "invalid character '1' looking for beginning of object key string"),
        ('"\\q"', "invalid escape sequence `\\q` in string"),
        ('"\\u12x4"', "invalid escape sequence `\\u12x4` in string"),
        ("1.x", "invalid character 'x' in numeric literal"),
        ("-x", "invalid character 'x' in numeric literal"),
        (" ", "EOF"),
        ('{"policy":"\x01"}', "invalid character '\\x01' in string"),
        ("\u00e9", "invalid character '\u00e9' looking for beginning of value"),
        ('{"a":1} trailing', None),
    ],
)
def test_json_decode_errors_match_the_reference(text: str, error: str | None) -> None:
    assert decode_error(text.encode()) == error

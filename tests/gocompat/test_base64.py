"""encoding/base64 decoding with Go's acceptance rules and error offsets."""

from __future__ import annotations

import base64

import pytest

from tessera.gocompat.base64 import URL_MAP, Base64Error, go_b64decode, go_decode


@pytest.mark.parametrize("text", ["QUJD", "QUI=", "QQ==", "QUJDRA==\n", "QUJD\r\nRA==", ""])
def test_go_base64_accepts_what_go_accepts(text: str) -> None:
    assert go_b64decode(text) == base64.b64decode(text)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("QUJ", 0),  # a short last quantum: the offset of its start
        ("QUJDR", 4),
        ("QU!D", 2),
        ("Q===", 1),
        ("QQ=", 3),
        ("QQ=A", 2),
        ("QUI=x", 4),
        ("QUI=\nx", 5),
        ("QUJD==", 4),  # padding after a complete quantum: binascii's strict mode takes it, Go does not
        ("QUJD====", 4),
    ],
)
def test_go_base64_offsets(text: str, offset: int) -> None:
    with pytest.raises(Base64Error) as info:
        go_b64decode(text)
    assert info.value.offset == offset
    assert str(info.value) == f"illegal base64 data at input byte {offset}"


def test_raw_encodings() -> None:
    assert go_b64decode("QUJDRA", padded=False) == b"ABCD"
    assert go_decode(b"-_8", URL_MAP, padded=False) == b"\xfb\xff"
    with pytest.raises(Base64Error) as info:
        go_b64decode("QUJDR", padded=False)
    assert info.value.offset == 4
    with pytest.raises(Base64Error):
        go_b64decode("QUI=", padded=False)

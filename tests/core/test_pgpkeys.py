"""core.pgpkeys: key decoding with OpenBao's error texts, fingerprints, encryption round trips."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tessera.core import pgpkeys
from tests.helpers.pgp import make_key, sign_only_key

KEY = make_key()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not base64!", "error decoding given PGP key: illegal base64 data at input byte 3"),
        ("abc", "error decoding given PGP key: illegal base64 data at input byte 0"),
        ("abcde", "error decoding given PGP key: illegal base64 data at input byte 4"),
        ("ab\ncd==", "error decoding given PGP key: illegal base64 data at input byte 5"),
        ("", "error parsing given PGP key: EOF"),
        (
            "bm90IGEga2V5",
            "error parsing given PGP key: openpgp: invalid data: tag byte does not have MSB set",
        ),
        (
            base64.b64encode(b"\xcb\x06b\x00\x00\x00\x00\x00").decode(),
            "error parsing given PGP key: openpgp: invalid data: first packet was not a public/private key",
        ),
        (
            base64.b64encode(base64.b64decode(KEY.pub)[:40]).decode(),
            "error parsing given PGP key: unexpected EOF",
        ),
    ],
    ids=["bad-char", "short", "short-quantum", "newline-padding", "empty", "ascii", "literal", "truncated"],
)
def test_bad_keys_get_openbaos_texts(key: str, message: str) -> None:
    with pytest.raises(pgpkeys.PGPKeyError) as info:
        pgpkeys.decode_key(key)
    assert str(info.value) == message


def test_fingerprint_is_the_lowercase_primary_fingerprint() -> None:
    assert pgpkeys.fingerprints([KEY.pub, KEY.pub + "\n"]) == [KEY.fingerprint] * 2
    assert len(KEY.fingerprint) == 40 and KEY.fingerprint == KEY.fingerprint.lower()


def test_shares_are_encrypted_as_hex_text() -> None:
    other = make_key("other")
    shares = [bytes(range(33)), b"\xff" * 33]
    fps, encrypted = pgpkeys.encrypt_shares(shares, [KEY.pub, other.pub])
    assert fps == [KEY.fingerprint, other.fingerprint]
    assert KEY.decrypt(base64.b64encode(encrypted[0]).decode()) == shares[0].hex()
    assert other.decrypt(base64.b64encode(encrypted[1]).decode()) == shares[1].hex()


def test_token_round_trip() -> None:
    assert KEY.decrypt(pgpkeys.encrypt_token("hvs.token", KEY.pub)) == "hvs.token"


def test_key_without_encryption_subkey() -> None:
    key = sign_only_key()
    key_id = int(pgpkeys.fingerprints([key])[0][-16:], 16)
    with pytest.raises(pgpkeys.PGPKeyError) as info:
        pgpkeys.encrypt(b"x", key)
    assert str(info.value) == (
        "error setting up encryption for PGP message: openpgp: invalid argument: cannot encrypt a message "
        f"to key id {key_id:x} because it has no valid encryption keys"
    )


def test_check_keys_counts_first() -> None:
    with pytest.raises(pgpkeys.PGPKeyError, match=r"^count mismatch between number of provided PGP keys"):
        pgpkeys.check_keys(["###"], 2)
    pgpkeys.check_keys([KEY.pub, KEY.pub], 2)


def test_key_files_binary_base64_and_armored(tmp_path: Path) -> None:
    binary, b64, armored = tmp_path / "k.gpg", tmp_path / "k.b64", tmp_path / "k.asc"
    binary.write_bytes(bytes(KEY.cert))
    b64.write_text(KEY.pub + "\n")
    armored.write_text(str(KEY.cert))
    keys = pgpkeys.parse_key_files(f"{binary}, {b64},@{armored}")
    assert keys[0] == KEY.pub and keys[1] == KEY.pub + "\n"
    assert pgpkeys.fingerprints(keys) == [KEY.fingerprint] * 3


def test_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(pgpkeys.PGPKeyError, match=f"^open {tmp_path}/nope: no such file or directory$"):
        pgpkeys.parse_key_files(f"{tmp_path}/nope")
    two = tmp_path / "two.asc"
    two.write_text(str(KEY.cert) + str(make_key("b").cert))
    with pytest.raises(pgpkeys.PGPKeyError, match=r"^more than one key found in file"):
        pgpkeys.parse_key_files(str(two))
    with pytest.raises(pgpkeys.PGPKeyError, match=r"keybase\.io needs network access"):
        pgpkeys.parse_key_files("keybase:someone")

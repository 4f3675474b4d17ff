"""The prepared HMAC must be byte for byte RFC 2104 HMAC-SHA256: stored token keys depend on it."""

from __future__ import annotations

import hmac
import os

import pytest

from tessera.barrier.keyed_hash import KeyedSha256, keyed_sha256


@pytest.mark.parametrize("key_len", [0, 1, 16, 32, 63, 64, 65, 128, 300])
@pytest.mark.parametrize("msg_len", [0, 1, 28, 64, 1000])
def test_matches_hmac_digest(key_len: int, msg_len: int) -> None:
    key, msg = os.urandom(key_len), os.urandom(msg_len)
    prepared = KeyedSha256(key)
    assert prepared.digest(msg) == hmac.digest(key, msg, "sha256")
    # Reusable: the prepared states are copied, never consumed.
    assert prepared.hexdigest(msg) == hmac.digest(key, msg, "sha256").hex()


def test_rfc4231_case_2() -> None:
    mac = KeyedSha256(b"Jefe").hexdigest(b"what do ya want for nothing?")
    assert mac == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_keyed_cache_gives_the_same_object_and_stays_bounded() -> None:
    assert keyed_sha256(b"k1") is keyed_sha256(b"k1")
    for i in range(1100):
        keyed_sha256(i.to_bytes(4, "big"))
    assert keyed_sha256(b"k2").digest(b"x") == hmac.digest(b"k2", b"x", "sha256")


def test_the_builtin_sha256_is_sha256() -> None:
    """The prepared states come from CPython's own SHA-256 where it has one: the same digests."""
    import hashlib

    from tessera.barrier import keyed_hash

    for msg in (b"", b"abc", os.urandom(200)):
        assert keyed_hash._builtin_sha256()(msg).digest() == hashlib.sha256(msg).digest()
        state = keyed_hash._sha256(b"prefix")
        copy = state.copy()
        copy.update(msg)
        assert copy.digest() == hashlib.sha256(b"prefix" + msg).digest()

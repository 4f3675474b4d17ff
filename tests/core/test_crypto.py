"""Shamir sharing and the barrier: what keeps everything at rest unreadable without the keys."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.barrier.aes_gcm import Barrier, BarrierError
from tessera.core import shamir
from tessera.framework import SealedError
from tessera.storage.inmem import InmemPhysical


@settings(max_examples=40, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), parts=st.integers(2, 8), data=st.data())
def test_any_threshold_subset_recovers(secret: bytes, parts: int, data: st.DataObject) -> None:
    threshold = data.draw(st.integers(2, parts))
    shares = shamir.split(secret, parts, threshold)
    assert len({s[-1] for s in shares}) == parts
    for subset in itertools.islice(itertools.combinations(shares, threshold), 10):
        assert shamir.combine(list(subset)) == secret


def test_fewer_shares_do_not_recover() -> None:
    secret = os.urandom(32)
    shares = shamir.split(secret, 5, 3)
    assert shamir.combine(shares[:2]) != secret
    with pytest.raises(shamir.ShamirError):
        shamir.combine(shares[:1])
    with pytest.raises(shamir.ShamirError):
        shamir.combine([shares[0], shares[0]])


def _barrier() -> tuple[Barrier, InmemPhysical, bytes]:
    physical = InmemPhysical()
    barrier = Barrier(physical)
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    return barrier, physical, key


def test_barrier_encrypts_and_binds_path() -> None:
    barrier, physical, _ = _barrier()
    barrier.put("secret/a", b"plaintext-value")
    raw = physical.get("secret/a")
    assert raw is not None and b"plaintext-value" not in raw
    assert raw[:5] == b"\x00\x00\x00\x01\x02"  # term 1, version 2
    assert barrier.get("secret/a") == b"plaintext-value"
    physical.put("secret/b", raw)  # moved ciphertext must not decrypt under another path
    with pytest.raises(BarrierError):
        barrier.get("secret/b")


def test_rotation_keeps_old_terms_readable() -> None:
    barrier, physical, key = _barrier()
    barrier.put("old", b"v1")
    new_key = barrier.rotate()
    assert new_key.term == 2
    barrier.put("new", b"v2")
    assert physical.get("new")[:4] == b"\x00\x00\x00\x02"  # type: ignore[index]
    assert barrier.get("old") == b"v1"
    barrier.seal()
    with pytest.raises(SealedError):
        barrier.get("old")
    barrier.unseal(key)
    assert (barrier.get("old"), barrier.get("new")) == (b"v1", b"v2")


def test_wrong_unseal_key_fails() -> None:
    barrier, _, _ = _barrier()
    barrier.seal()
    with pytest.raises(BarrierError, match="message authentication failed"):
        barrier.unseal(os.urandom(32))

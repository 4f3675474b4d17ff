"""``Barrier.encrypt``: the active term's AESGCM object and header, made once per keyring."""

from __future__ import annotations

import os
import struct

import pytest

from tessera.barrier.aes_gcm import VERSION, Barrier, BarrierError
from tessera.framework import SealedError
from tessera.storage.inmem import InmemPhysical


def _unsealed() -> tuple[Barrier, bytes]:
    barrier = Barrier(InmemPhysical())
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    return barrier, key


def test_blobs_name_the_active_term_and_open_after_rotations() -> None:
    barrier, _ = _unsealed()
    first = barrier.encrypt("p", b"one")
    assert first[:5] == struct.pack(">IB", 1, VERSION)
    barrier.rotate()
    second = barrier.encrypt("p", b"two")
    assert second[:5] == struct.pack(">IB", 2, VERSION)
    assert barrier.decrypt("p", first) == b"one" and barrier.decrypt("p", second) == b"two"
    with pytest.raises(BarrierError):
        barrier.decrypt("other path", second)  # the path is still the additional data
    assert barrier.decrypt("", barrier.encrypt("", b"")) == b""


def test_every_blob_takes_a_fresh_nonce() -> None:
    barrier, _ = _unsealed()
    nonces = {barrier.encrypt("", b"x")[5:17] for _ in range(2000)}  # past a pool refill
    assert len(nonces) == 2000


def test_a_sealed_barrier_refuses_to_encrypt() -> None:
    barrier, key = _unsealed()
    barrier.seal()
    with pytest.raises(SealedError):
        barrier.encrypt("p", b"x")
    barrier.unseal(key)
    assert barrier.decrypt("p", barrier.encrypt("p", b"x")) == b"x"

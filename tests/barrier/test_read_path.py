"""The barrier's read path (barrier/aes_gcm.py ``Barrier.get``, ``ReadCache.peek``) and a storage
view's JSON read: cached values, cached absences, misses and a sealed barrier."""

from __future__ import annotations

import os

import pytest

from tessera.barrier.aes_gcm import NOT_CACHED, Barrier, ReadCache
from tessera.framework import SealedError
from tessera.storage.base import StorageView
from tessera.storage.inmem import InmemPhysical


def _unsealed(physical: InmemPhysical) -> Barrier:
    barrier = Barrier(physical)
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    return barrier


def test_peek_agrees_with_lookup() -> None:
    cache = ReadCache(entries=10, max_bytes=1 << 20)
    cache.fill("present", b"v", cache.generation())
    cache.fill("absent", None, cache.generation())
    for key in ("present", "absent", "never"):
        found, value = cache.lookup(key)
        assert cache.peek(key) == (value if found else NOT_CACHED)


def test_reads_answer_from_the_cache_and_from_storage_alike() -> None:
    physical = InmemPhysical()
    barrier = _unsealed(physical)
    assert barrier.cache is not None
    barrier.put("k", b'{"a": 1}')
    assert barrier.get("k") == b'{"a": 1}'  # filled on the first read, answered from the cache after
    assert barrier.get("k") == b'{"a": 1}'
    assert barrier.get("missing") is None and barrier.get("missing") is None
    view = StorageView(barrier, "mount/")
    view.put("doc", b'{"b": [2]}')
    assert view.get_json("doc") == {"b": [2]} and view.get_json("nothing") is None
    with pytest.raises(ValueError, match="parent references"):
        view.get_json("../escape")
    barrier.cache = None  # the uncached path reads storage every time
    assert barrier.get("k") == b'{"a": 1}' and barrier.get("missing") is None


def test_a_sealed_barrier_refuses_reads_it_has_cached() -> None:
    barrier = _unsealed(InmemPhysical())
    barrier.put("k", b"v")
    assert barrier.get("k") == b"v"
    barrier.seal()
    with pytest.raises(SealedError):
        barrier.get("k")

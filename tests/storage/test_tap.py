"""The replication tap wraps every physical backend: it must not change what the barrier learns
about the backend (a PostgreSQL node with HA lost its read cache once, and read every KV secret
from the database on every request)."""

from __future__ import annotations

from tessera.barrier.aes_gcm import Barrier
from tessera.storage.inmem import InmemPhysical
from tessera.storage.tap import TappedPhysical


class _SharedButCacheable(InmemPhysical):
    """Stands for PostgreSQL with HA: not a local backend by name, cacheable by its own say."""

    name = "postgresql"
    cacheable = True


class _Shared(InmemPhysical):
    name = "postgresql"


def test_the_tap_keeps_the_backends_cacheable_flag() -> None:
    assert TappedPhysical(_SharedButCacheable()).cacheable
    assert Barrier(TappedPhysical(_SharedButCacheable())).cache is not None
    assert Barrier(TappedPhysical(_Shared())).cache is None
    assert Barrier(TappedPhysical(InmemPhysical())).cache is not None

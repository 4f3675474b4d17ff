"""Fixtures for the policy tests: a real Storage over the in-memory physical backend."""

from __future__ import annotations

import pytest

from tessera.storage.base import Storage, StorageView, TxnOp
from tessera.storage.inmem import InmemPhysical


class PlainStorage(Storage):
    """Storage without the barrier's encryption: the policy store only needs the interface."""

    def __init__(self, physical: InmemPhysical | None = None) -> None:
        self.physical = physical or InmemPhysical()

    def get(self, key: str) -> bytes | None:
        return self.physical.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.physical.put(key, value)

    def delete(self, key: str) -> None:
        self.physical.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.physical.list(prefix)

    def transaction(self, ops: list[TxnOp]) -> None:
        self.physical.transaction(ops)


@pytest.fixture
def storage() -> StorageView:
    """The view the core gives the policy store (``sys/``), over fresh in-memory storage."""
    return StorageView(PlainStorage(), "sys/")

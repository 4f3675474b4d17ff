"""sys/leases/tidy's work at scale: the owner index read a page at a time, dangling entries dropped."""

from __future__ import annotations

import time

import pytest

from tessera.core.core import Core
from tessera.leases import manager as manager_module
from tessera.leases.manager import Lease
from tessera.storage.base import TxnOp
from tessera.storage.inmem import InmemPhysical
from tessera.tokens.entry import TokenEntry


def test_tidy_drops_dangling_index_entries_and_orphaned_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_module, "LOAD_PAGE", 3)  # several pages
    core = Core(InmemPhysical())
    core.unseal(core.initialize(1, 1)["keys"][0])
    try:
        manager = core.lease_manager
        owner = core.tokens.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create"))
        now = time.time()

        def lease(lease_id: str, owner_id: str) -> list[TxnOp]:
            doc = Lease(
                lease_id=lease_id,
                path="gone/creds/r",
                mount_prefix="gone/",
                owner=owner_id,
                issue_time=now,
                expire_time=now + 3600,
                ttl=3600,
            )
            return [
                TxnOp("id/" + lease_id, doc.to_json()),
                TxnOp(manager._index_key(owner_id, lease_id), lease_id.encode()),
            ]

        ops: list[TxnOp] = []
        for i in range(4):
            ops += lease(f"gone/creds/r/kept{i}", owner.salted_id)
        ops += lease("gone/creds/r/orphan", "hgone")
        ops.append(
            TxnOp(manager._index_key(owner.salted_id, "gone/creds/r/missing"), b"gone/creds/r/missing")
        )
        manager.storage.transaction(ops)

        assert manager.tidy() == 2
        assert manager.get("gone/creds/r/orphan") is None
        assert [manager.get(f"gone/creds/r/kept{i}") is not None for i in range(4)] == [True] * 4
        index = manager.storage.list_all("token/")
        assert len(index) == 4 and all(key.startswith(f"token/{owner.salted_id}/") for key in index)
    finally:
        core.seal()

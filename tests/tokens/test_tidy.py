"""auth/token/tidy at scale: the index checks against one scan of the entries, pages of deletes,
and nothing live lost to a token written after the scan went past it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tessera.storage.inmem import InmemPhysical
from tessera.tokens import tidy as tidy_module
from tessera.tokens.entry import TokenEntry
from tessera.tokens.tidy import tidy
from tests.tokens.conftest import CoreHarness, RecordingPhysical


def _token(harness: CoreHarness, **kw: object) -> TokenEntry:
    return harness.store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create", **kw))


def test_dangling_entries_go_a_page_at_a_time_and_live_ones_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tidy_module, "SCAN_PAGE", 3)
    physical = RecordingPhysical()
    harness = CoreHarness(physical)
    store, storage = harness.store, harness.store.storage
    parent = _token(harness)
    children = [_token(harness, parent=parent.salted_id) for _ in range(7)]
    for i in range(5):
        storage.put(f"parent/{parent.salted_id}/hgone{i}", b"")
        storage.put_json(
            "accessor/" + store.salted(f"ghost{i}"), {"accessor": f"ghost{i}", "salted_id": f"hgone{i}"}
        )
    physical.writes.clear()
    report = tidy(harness.core)
    commits = [n for kind, n in physical.writes if kind == "transaction"]  # as they reach storage
    assert (report.parent_entries_removed, report.accessors_removed) == (5, 5)
    assert max(commits) == 3 and sum(commits) == 10  # pages of deletes, not one commit each
    assert sorted(storage.list(f"parent/{parent.salted_id}/")) == sorted(c.salted_id for c in children)
    assert all(store.accessor_target(c.accessor) for c in children)


class _WritesBeforeTheParentScan(InmemPhysical):
    """Storage that runs ``before`` once, when tidy first pages through the parent index: after
    its scan of the token entries went past, as a token created meanwhile would land."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Callable[[], object] = lambda: None

    def scan(self, prefix: str, after: str, limit: int) -> tuple[list[tuple[str, bytes]], str | None]:
        if "token/parent/" in prefix:
            before, self.before = self.before, lambda: None
            before()
        return super().scan(prefix, after, limit)


def test_a_token_written_after_the_scan_keeps_its_indexes() -> None:
    physical = _WritesBeforeTheParentScan()
    harness = CoreHarness(physical)
    try:
        parent = _token(harness)
        late: list[TokenEntry] = []
        physical.before = lambda: late.append(_token(harness, parent=parent.salted_id))
        report = tidy(harness.core)
        assert len(late) == 1
        assert (report.parent_entries_removed, report.accessors_removed) == (0, 0)
        assert harness.store.storage.list(f"parent/{parent.salted_id}/") == [late[0].salted_id]
        assert harness.store.accessor_target(late[0].accessor) == late[0].salted_id
    finally:
        harness.close()

"""auth/token/tidy at scale: the index checks against one scan of the entries, pages of deletes,
and nothing live lost to a token written after the scan went past it."""

from __future__ import annotations

import pytest

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


def test_a_token_written_after_the_scan_keeps_its_indexes(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = _token(harness)
    scan = tidy_module._scan_entries
    late: list[TokenEntry] = []

    def scan_then_create(*args: object) -> object:
        found = scan(*args)  # type: ignore[arg-type]
        late.append(_token(harness, parent=parent.salted_id))
        return found

    monkeypatch.setattr(tidy_module, "_scan_entries", scan_then_create)
    report = tidy(harness.core)
    assert (report.parent_entries_removed, report.accessors_removed) == (0, 0)
    assert harness.store.storage.list(f"parent/{parent.salted_id}/") == [late[0].salted_id]
    assert harness.store.accessor_target(late[0].accessor) == late[0].salted_id

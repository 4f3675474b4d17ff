"""The change feed worker processes follow (storage/changefeed.py, storage/sqlite_reader.py,
cluster/shared_state.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.cluster.shared_state import SharedState
from tessera.storage import changefeed
from tessera.storage.base import TxnOp
from tessera.storage.sqlite import SQLitePhysical
from tessera.storage.sqlite_reader import SQLiteReader, StandbyWrite


def test_shared_state_is_seen_by_another_mapping(tmp_path: Path) -> None:
    writer = SharedState(str(tmp_path / "s"), create=True)
    reader = SharedState(str(tmp_path / "s"), create=False)
    assert reader.read() == (0, 0)
    writer.publish_sequence(41)
    writer.publish_epoch(3)
    assert reader.read() == (41, 3)
    writer.publish_epoch(0)
    assert reader.read() == (41, 0)


def test_commits_log_their_keys_once_published(tmp_path: Path) -> None:
    physical = SQLitePhysical(str(tmp_path / "t.db"))
    try:
        physical.put("before", b"x")  # committed before the feed: not logged
        shared = SharedState(str(tmp_path / "s"), create=True)
        start = physical.enable_change_feed(shared)
        reader = SQLiteReader(str(tmp_path / "t.db"))
        assert reader.changes_since(start) == []
        physical.transaction([TxnOp("a", b"1"), TxnOp("b", b"2")])
        physical.delete("a")
        seq, _ = shared.read()
        rows = reader.changes_since(start)
        assert [key for _, key in rows] == ["a", "b", "a"]
        assert rows[-1][0] == seq  # published: the newest logged sequence
        assert [s for s, _ in rows] == list(range(start + 1, seq + 1))
        assert reader.get("b") == b"2" and reader.get("a") is None
        assert reader.list("") == ["b", "before"]
    finally:
        physical.close()


def test_the_reader_refuses_every_write(tmp_path: Path) -> None:
    SQLitePhysical(str(tmp_path / "t.db")).close()
    reader = SQLiteReader(str(tmp_path / "t.db"))
    for write in (
        lambda: reader.put("k", b"v"),
        lambda: reader.delete("k"),
        lambda: reader.transaction([TxnOp("k", b"v")]),
    ):
        with pytest.raises(StandbyWrite):
            write()
    assert not isinstance(StandbyWrite("k"), Exception)  # no handler's `except Exception` eats it


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(str(tmp_path / "c.db"), isolation_level=None)
    conn.execute(changefeed.CREATE_CHANGES)
    last = changefeed.record(conn, [f"k{i}" for i in range(200)], step=64)
    assert last == 200
    changefeed.prune(conn, last + changefeed.KEEP - 150, [])  # keep the rows after seq 50
    rows = changefeed.since(conn, 0)
    assert rows[0] == (51, "k50") and len(rows) == 150


def test_prune_drops_what_every_reader_has_seen(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(str(tmp_path / "c.db"), isolation_level=None)
    conn.execute(changefeed.CREATE_CHANGES)
    last = changefeed.record(conn, [f"k{i}" for i in range(200)], step=64)
    shared = SharedState(str(tmp_path / "s"), create=True)
    worker = SharedState(str(tmp_path / "s"), create=False)
    worker.publish_seen(0, 120)
    worker.publish_seen(3, 90)  # the slowest reader decides
    assert sorted(shared.readers_seen()) == [90, 120]
    changefeed.prune(conn, last, shared.readers_seen())
    assert changefeed.since(conn, 0)[0] == (91, "k90")
    worker.publish_seen(3, 200)
    changefeed.prune(conn, last, shared.readers_seen())
    assert changefeed.since(conn, 0) == [(121, f"k{i}") for i in range(120, 121)] + changefeed.since(
        conn, 121
    )
    assert changefeed.since(conn, 0)[0][0] == 121


def test_the_reader_scans_pages_as_the_writer_does(tmp_path: Path) -> None:
    physical = SQLitePhysical(str(tmp_path / "t.db"))
    try:
        physical.transaction([TxnOp(f"p/{i:02d}", str(i).encode()) for i in range(7)] + [TxnOp("q", b"x")])
        reader = SQLiteReader(str(tmp_path / "t.db"))
        assert reader.scan("p/", "", 3) == physical.scan("p/", "", 3)
        page, following = reader.scan("p/", "p/02", 10)
        assert [k for k, _ in page] == [f"p/{i:02d}" for i in range(3, 7)] and following is None
    finally:
        physical.close()

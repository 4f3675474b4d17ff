"""How a commit applies its batch: each key's last write, in a few multi-row statements.

A real SQLite file throughout; the committer is held at its gate while the batch piles up, so
the transactions below really do land in one commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tessera.storage.base import TxnOp, deferred_acknowledgement
from tessera.storage.sqlite import _ROWS_PER_STATEMENT, SQLitePhysical, _apply_batch

from .test_sqlite_durability import GatedCommit


def _table(path: Path, without_rowid: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    suffix = " WITHOUT ROWID" if without_rowid else ""
    conn.execute(f"CREATE TABLE entries (key TEXT PRIMARY KEY, value BLOB NOT NULL){suffix}")
    return conn


def _contents(conn: sqlite3.Connection) -> dict[str, bytes]:
    return {k: bytes(v) for k, v in conn.execute("SELECT key, value FROM entries ORDER BY key")}


@pytest.mark.parametrize("without_rowid", [False, True])
def test_only_each_keys_last_write_counts(tmp_path: Path, without_rowid: bool) -> None:
    conn = _table(tmp_path / "t.db", without_rowid)
    conn.execute("INSERT INTO entries VALUES ('old', x'00'), ('gone', x'01'), ('back', x'02')")
    batch = [
        (1, [TxnOp("a", b"1"), TxnOp("gone", None), TxnOp("back", None)]),
        (2, [TxnOp("a", b"2"), TxnOp("b", b"x"), TxnOp("back", b"again")]),
        (3, [TxnOp("b", None), TxnOp("old", b"new"), TxnOp("never", None)]),
    ]
    conn.execute("BEGIN IMMEDIATE")
    _apply_batch(conn, batch)
    conn.execute("COMMIT")
    assert _contents(conn) == {"a": b"2", "back": b"again", "old": b"new"}


def test_large_batches_are_split_into_statements_sqlite_accepts(tmp_path: Path) -> None:
    conn = _table(tmp_path / "t.db", False)
    count = _ROWS_PER_STATEMENT * 3 + 7
    puts = [(i, [TxnOp(f"k{i:04}", str(i).encode())]) for i in range(count)]
    conn.execute("BEGIN IMMEDIATE")
    _apply_batch(conn, puts)
    conn.execute("COMMIT")
    assert len(_contents(conn)) == count
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    deletes = [(count + i, [TxnOp(f"k{i:04}", None)]) for i in range(0, count, 2)]
    conn.execute("BEGIN IMMEDIATE")
    _apply_batch(conn, deletes)
    conn.execute("COMMIT")
    left = _contents(conn)
    assert sorted(left) == [f"k{i:04}" for i in range(1, count, 2)]
    assert left["k0001"] == b"1"
    deleting = [s for s in statements if s.startswith("DELETE")]
    assert len(deleting) == -(-len(deletes) // _ROWS_PER_STATEMENT)  # not one per key


def test_writers_sharing_one_commit_leave_their_last_values_on_disk(tmp_path: Path) -> None:
    commit = GatedCommit()
    path = tmp_path / "t.db"
    physical = SQLitePhysical(str(path), before_commit=commit)
    try:
        with deferred_acknowledgement():
            physical.put("first", b"0")
            assert commit.entered.acquire(timeout=10)  # the committer holds a batch of one
            # These pile up behind it and become the next commit, together.
            physical.transaction([TxnOp("a", b"1"), TxnOp("b", b"1")])
            physical.transaction([TxnOp("a", b"2"), TxnOp("first", None)])
            physical.transaction([TxnOp("b", None), TxnOp("c", b"3")])
            physical.transaction([TxnOp("b", b"4")])
        assert physical.get("a") == b"2" and physical.get("first") is None  # the overlay, meanwhile
        commit.release()
        physical.put("sync", b"")  # a plain write returns once everything before it is on disk
        assert commit.calls in (2, 3)  # the four transactions above shared one commit (sync may too)
    finally:
        commit.release()
        physical.close()
    on_disk = _contents(sqlite3.connect(path))
    assert on_disk == {"a": b"2", "b": b"4", "c": b"3", "sync": b""}

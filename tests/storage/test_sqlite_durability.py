"""SQLite's committer: when a write counts as acknowledged, who waits for its commit, and what
readers see meanwhile.

The committer waits at a gate the test opens before each commit, so that "not yet durable" lasts
as long as the test needs; everything else is a real SQLite file.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tessera.storage.base import TxnOp, deferred_acknowledgement
from tessera.storage.sqlite import SQLitePhysical


class GatedCommit:
    """Runs before each commit: waits for ``release`` (and counts commits), or fails when told to."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)
        self.calls = 0
        self.fail = False

    def __call__(self) -> None:
        self.calls += 1
        self.entered.release()
        assert self.open.wait(30)
        if self.fail:
            raise OSError(5, "Input/output error")

    def release(self) -> None:
        self.open.set()


@pytest.fixture
def gated(tmp_path: Path) -> tuple[SQLitePhysical, GatedCommit]:
    commit = GatedCommit()
    physical = SQLitePhysical(str(tmp_path / "t.db"), before_commit=commit)
    yield physical, commit
    commit.release()
    physical.close()


def _in_thread(fn: object) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())  # type: ignore[operator]
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_plain_write_returns_only_once_its_commit_is_done(
    gated: tuple[SQLitePhysical, GatedCommit],
) -> None:
    physical, commit = gated
    thread, out = _in_thread(lambda: physical.put("k", b"v"))
    assert commit.entered.acquire(timeout=10)  # the committer is committing our write
    thread.join(0.2)
    assert thread.is_alive()  # and the writer is still waiting for it
    commit.release()
    thread.join(10)
    assert out == [None]
    assert physical.get("k") == b"v"


def test_a_deferred_write_returns_at_once_and_its_answer_waits(
    gated: tuple[SQLitePhysical, GatedCommit],
) -> None:
    physical, commit = gated
    with deferred_acknowledgement():
        physical.put("k", b"v")  # does not wait
    answered = threading.Event()
    errors: list[BaseException | None] = []
    assert physical.after_durable(lambda err: (errors.append(err), answered.set()))
    assert commit.entered.acquire(timeout=10)
    assert not answered.wait(0.2)  # held while the commit is not done
    commit.release()
    assert answered.wait(10)
    assert errors == [None]
    assert physical.after_durable(lambda err: None) is False  # nothing pending: answer at once


def test_answers_that_only_read_wait_for_earlier_writes_too(
    gated: tuple[SQLitePhysical, GatedCommit],
) -> None:
    """A reader may have seen a commit a crash could still take back: its answer waits."""
    physical, commit = gated
    with deferred_acknowledgement():
        physical.put("k", b"v")
    assert physical.get("k") == b"v"  # visible to readers before it is durable...
    answered = threading.Event()
    assert physical.after_durable(lambda err: answered.set())  # ...so the reader's answer is held
    assert commit.entered.acquire(timeout=10)
    assert not answered.wait(0.2)
    commit.release()
    assert answered.wait(10)


def test_concurrent_writers_share_one_commit(gated: tuple[SQLitePhysical, GatedCommit]) -> None:
    physical, commit = gated
    first, _ = _in_thread(lambda: physical.put("first", b"1"))
    assert commit.entered.acquire(timeout=10)  # the first commit is under way and held
    writers = [_in_thread(lambda i=i: physical.put(f"k{i}", b"v")) for i in range(12)]
    while len(physical._queue) < 12:
        threading.Event().wait(0.01)
    commit.release()
    for thread, out in writers:
        thread.join(10)
        assert out == [None]
    first.join(10)
    assert commit.calls == 2  # the held one, then one for the twelve that queued meanwhile
    assert physical.commits == 2 and physical.transactions == 13


def test_a_failed_commit_fails_every_waiting_answer_and_later_writes(
    gated: tuple[SQLitePhysical, GatedCommit],
) -> None:
    physical, commit = gated
    commit.fail = True
    with deferred_acknowledgement():
        physical.put("k", b"v")
    held: list[BaseException | None] = []
    done = threading.Event()
    physical.after_durable(lambda err: (held.append(err), done.set()))
    writer, out = _in_thread(lambda: physical.put("k2", b"v"))
    commit.release()
    assert done.wait(10)
    writer.join(10)
    assert isinstance(held[0], OSError)
    assert isinstance(out[0], OSError) and "storage commit failed" in str(out[0])
    with pytest.raises(OSError, match="storage commit failed"):
        physical.put("k3", b"v")  # nothing is acknowledged after a failed commit
    assert physical.get("k") is None  # and reads show what is on disk
    late: list[BaseException | None] = []
    assert physical.after_durable(late.append)
    assert isinstance(late[0], OSError)


def test_writes_survive_reopening_and_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    physical = SQLitePhysical(path)
    physical.transaction([TxnOp("a", b"1"), TxnOp("b", b"2")])
    physical.delete("a")
    with pytest.raises(TypeError):
        physical.transaction([TxnOp("c", b"3"), TxnOp("d", None), TxnOp("e", object())])  # type: ignore[arg-type]
    physical.close()
    again = SQLitePhysical(path)
    try:
        assert again.list("") == ["b"]
        assert again.get("b") == b"2"
    finally:
        again.close()


def test_readers_see_pending_writes_before_they_are_committed(
    gated: tuple[SQLitePhysical, GatedCommit],
) -> None:
    """Read-your-writes through the overlay: gets and lists, puts and deletes."""
    physical, commit = gated
    commit.release()
    physical.transaction([TxnOp("dir/a", b"1"), TxnOp("dir/b", b"2"), TxnOp("gone", b"x")])
    commit.open.clear()  # hold the next commit
    with deferred_acknowledgement():
        physical.transaction([TxnOp("dir/c", b"3"), TxnOp("dir/a", None), TxnOp("gone", None)])
        physical.put("dir/sub/d", b"4")
    assert commit.entered.acquire(timeout=10)
    assert physical.get("dir/c") == b"3" and physical.get("dir/a") is None and physical.get("gone") is None
    assert physical.list("dir/") == ["b", "c", "sub/"]
    assert physical.list_all("dir/") == ["dir/b", "dir/c", "dir/sub/d"]
    commit.release()
    physical.wait_durable()
    assert physical._overlay == {}  # committed: the table alone answers now
    assert physical.list_all("dir/") == ["dir/b", "dir/c", "dir/sub/d"]
    assert physical.get("dir/c") == b"3" and physical.get("gone") is None


def test_a_newer_pending_write_outlives_the_commit_of_an_older_one(
    gated: tuple[SQLitePhysical, GatedCommit],
) -> None:
    physical, commit = gated
    with deferred_acknowledgement():
        physical.put("k", b"old")
        assert commit.entered.acquire(timeout=10)  # the committer took "old" and waits
        physical.delete("k")  # queued behind it
        commit.open.set()
        commit.open.clear()
    assert commit.entered.acquire(timeout=10)  # "old" is on disk, the delete is held
    assert physical.get("k") is None  # the overlay still answers with the newer delete
    commit.release()
    physical.wait_durable()
    assert physical.get("k") is None


def test_checkpoints_run_off_the_commit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's automatic checkpoint (inside a commit, two fsyncs and a WAL copy while every
    answer waits) is off; a thread of its own checkpoints instead."""
    monkeypatch.setattr("tessera.storage.sqlite.CHECKPOINT_EVERY", 20)
    path = tmp_path / "t.db"
    physical = SQLitePhysical(str(path))
    try:
        assert physical._writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        for i in range(100):
            physical.put(f"k{i}", b"x" * 1000)
        deadline = threading.Event()
        for _ in range(100):
            if physical.checkpoints >= 2:
                break
            deadline.wait(0.05)
        assert physical.checkpoints >= 2
    finally:
        physical.close()
    conn = sqlite3.connect(str(path))
    assert conn.execute("SELECT count(*) FROM entries").fetchone() == (100,)
    conn.close()


def test_scan_sees_writes_not_yet_committed(gated: tuple[SQLitePhysical, GatedCommit]) -> None:
    physical, commit = gated
    commit.release()
    physical.transaction([TxnOp(f"k/{i}", b"old") for i in range(6)])
    commit.open.clear()
    thread, _ = _in_thread(
        lambda: physical.transaction([TxnOp("k/1", None), TxnOp("k/3", b"new"), TxnOp("k/9", b"added")])
    )
    assert commit.entered.acquire(timeout=10)
    assert commit.entered.acquire(timeout=10)  # the second commit (this one) is held
    page, following = physical.scan("k/", "", 100)
    assert following is None
    assert page == [
        ("k/0", b"old"),
        ("k/2", b"old"),
        ("k/3", b"new"),
        ("k/4", b"old"),
        ("k/5", b"old"),
        ("k/9", b"added"),
    ]
    commit.release()
    thread.join(10)

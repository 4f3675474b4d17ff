"""SQLite's WAL syncer: when a write counts as acknowledged, and who waits for its fsync.

The fsync is the real ``os.fsync`` behind a gate the test opens, so that "not yet durable" lasts
as long as the test needs; everything else is a real SQLite file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from tessera.storage.base import TxnOp, deferred_acknowledgement
from tessera.storage.sqlite import SQLitePhysical


class GatedFsync:
    """``os.fsync`` that waits for ``release`` (and counts calls), or fails when told to."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)
        self.calls = 0
        self.fail = False

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.release()
        assert self.open.wait(30)
        if self.fail:
            raise OSError(5, "Input/output error")
        os.fsync(fd)

    def release(self) -> None:
        self.open.set()


@pytest.fixture
def gated(tmp_path: Path) -> tuple[SQLitePhysical, GatedFsync]:
    fsync = GatedFsync()
    physical = SQLitePhysical(str(tmp_path / "t.db"), fsync=fsync)
    yield physical, fsync
    fsync.release()
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


def test_a_plain_write_returns_only_once_its_fsync_is_done(gated: tuple[SQLitePhysical, GatedFsync]) -> None:
    physical, fsync = gated
    thread, out = _in_thread(lambda: physical.put("k", b"v"))
    assert fsync.entered.acquire(timeout=10)  # the syncer is flushing our commit
    thread.join(0.2)
    assert thread.is_alive()  # and the writer is still waiting for it
    fsync.release()
    thread.join(10)
    assert out == [None]
    assert physical.get("k") == b"v"


def test_a_deferred_write_returns_at_once_and_its_answer_waits(
    gated: tuple[SQLitePhysical, GatedFsync],
) -> None:
    physical, fsync = gated
    with deferred_acknowledgement():
        physical.put("k", b"v")  # does not wait
    answered = threading.Event()
    errors: list[BaseException | None] = []
    assert physical.after_durable(lambda err: (errors.append(err), answered.set()))
    assert fsync.entered.acquire(timeout=10)
    assert not answered.wait(0.2)  # held while the fsync is not done
    fsync.release()
    assert answered.wait(10)
    assert errors == [None]
    assert physical.after_durable(lambda err: None) is False  # nothing pending: answer at once


def test_answers_that_only_read_wait_for_earlier_writes_too(
    gated: tuple[SQLitePhysical, GatedFsync],
) -> None:
    """A reader may have seen a commit a crash could still take back: its answer waits."""
    physical, fsync = gated
    with deferred_acknowledgement():
        physical.put("k", b"v")
    assert physical.get("k") == b"v"  # visible to readers before it is durable...
    answered = threading.Event()
    assert physical.after_durable(lambda err: answered.set())  # ...so the reader's answer is held
    assert fsync.entered.acquire(timeout=10)
    assert not answered.wait(0.2)
    fsync.release()
    assert answered.wait(10)


def test_concurrent_writers_share_one_fsync(gated: tuple[SQLitePhysical, GatedFsync]) -> None:
    physical, fsync = gated
    first, _ = _in_thread(lambda: physical.put("first", b"1"))
    assert fsync.entered.acquire(timeout=10)  # the first fsync is under way and held
    writers = [_in_thread(lambda i=i: physical.put(f"k{i}", b"v")) for i in range(12)]
    while physical.transactions < 13:
        threading.Event().wait(0.01)
    fsync.release()
    for thread, out in writers:
        thread.join(10)
        assert out == [None]
    first.join(10)
    assert fsync.calls == 2  # the held one, then one for the twelve that committed meanwhile


def test_a_failed_fsync_fails_every_waiting_answer_and_later_writes(
    gated: tuple[SQLitePhysical, GatedFsync],
) -> None:
    physical, fsync = gated
    fsync.fail = True
    with deferred_acknowledgement():
        physical.put("k", b"v")
    held: list[BaseException | None] = []
    done = threading.Event()
    physical.after_durable(lambda err: (held.append(err), done.set()))
    writer, out = _in_thread(lambda: physical.put("k2", b"v"))
    fsync.release()
    assert done.wait(10)
    writer.join(10)
    assert isinstance(held[0], OSError)
    assert isinstance(out[0], OSError) and "storage sync failed" in str(out[0])
    with pytest.raises(OSError, match="storage sync failed"):
        physical.put("k3", b"v")  # nothing is acknowledged after a failed fsync
    late: list[BaseException | None] = []
    assert physical.after_durable(late.append)
    assert isinstance(late[0], OSError)


def test_writes_survive_reopening_and_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    physical = SQLitePhysical(path)
    physical.transaction([TxnOp("a", b"1"), TxnOp("b", b"2")])
    physical.delete("a")
    with pytest.raises(sqlite3.Error):
        physical.transaction([TxnOp("c", b"3"), TxnOp("d", None), TxnOp("e", object())])  # type: ignore[arg-type]
    physical.close()
    again = SQLitePhysical(path)
    try:
        assert again.list("") == ["b"]
        assert again.get("b") == b"2"
    finally:
        again.close()


def test_the_syncer_checkpoints_the_wal(tmp_path: Path) -> None:
    physical = SQLitePhysical(str(tmp_path / "t.db"), checkpoint_every=20)
    try:
        for i in range(100):
            physical.put(f"k{i}", b"x" * 1000)
        assert physical.checkpoints >= 2
    finally:
        physical.close()
    conn = sqlite3.connect(str(tmp_path / "t.db"))
    assert conn.execute("SELECT count(*) FROM entries").fetchone() == (100,)
    conn.close()

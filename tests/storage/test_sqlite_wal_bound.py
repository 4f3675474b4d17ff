"""The SQLite WAL stays bounded under continuous writes and reads (issue 30).

Before, PASSIVE checkpoints never let the WAL start over while readers and writers kept going, and
the file grew to gigabytes; the committer now truncates it once it passes ``wal_limit``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tessera.storage.base import TxnOp
from tessera.storage.opening import open_physical
from tessera.storage.sqlite import SQLitePhysical

LIMIT = 1024 * 1024


def _load(physical: SQLitePhysical, writers: int, per_writer: int) -> int:
    """Writers and one reader at once; returns the largest WAL size seen after any write."""
    biggest = 0
    lock = threading.Lock()
    stop = threading.Event()

    def write(n: int) -> None:
        nonlocal biggest
        for i in range(per_writer):
            physical.transaction([TxnOp(f"w{n}/{i}", os.urandom(2048)), TxnOp(f"idx/{n}/{i}", b"x")])
            size = physical._wal_size()
            with lock:
                biggest = max(biggest, size)

    def read() -> None:
        i = 0
        while not stop.is_set():
            physical.get(f"w0/{i % per_writer}")
            physical.list("idx/0/")
            i += 1

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    return biggest


def test_wal_never_grows_far_past_its_limit(tmp_path: Path) -> None:
    physical = SQLitePhysical(str(tmp_path / "t.db"), wal_limit=LIMIT)
    try:
        biggest = _load(physical, writers=4, per_writer=600)  # ~5 MB of values: 5 limits' worth
        stats = physical.wal_stats()
        assert stats["wal_restarts"] >= 2
        # One batch of commits may land past the limit before the committer truncates.
        assert biggest < 2 * LIMIT, stats
        assert stats["wal_pause_max_ms"] > 0
        for n in range(4):
            for i in range(0, 600, 37):
                assert physical.get(f"w{n}/{i}") is not None
        assert len(physical.list("idx/3/")) == 600
    finally:
        physical.close()
    reopened = SQLitePhysical(str(tmp_path / "t.db"))
    try:
        assert len(reopened.list_all("w")) == 2400  # nothing lost to the truncations
    finally:
        reopened.close()


def test_wal_limit_is_configurable(tmp_path: Path) -> None:
    physical = open_physical("sqlite", {"path": str(tmp_path / "t.db"), "wal_limit_mb": "3"})
    try:
        assert isinstance(physical, SQLitePhysical)
        assert physical.wal_limit == 3 * 1024 * 1024
    finally:
        physical.close()


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_bad_wal_limit_is_refused_clearly(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="wal_limit_mb"):
        open_physical("sqlite", {"path": str(tmp_path / "t.db"), "wal_limit_mb": value})

"""What the active process tells its worker processes: which keys changed, and the seal state.

Worker processes (``server/workers.py``) serve requests from the same SQLite file with caches of
their own (decrypted values, token entries, compiled ACLs, the mount table). They stay exact
through two things the active process keeps up:

- the **change log**, a table in the database itself: every commit appends the keys it wrote,
  in the same SQLite transaction, so a key is in the log exactly when its new value is on disk;
- a small **shared file** mapped into every process: the newest log sequence number, published
  after the commit and before any answer that commit held is sent, the *unseal epoch* (0
  while sealed, a new number at every unseal), and one slot per worker where it writes the
  newest sequence it has applied, so the active process trims the log once every worker has
  seen it (a worker that does not say, or falls ``KEEP`` rows behind, reloads instead).

A worker compares both words with what it last saw before each request: reading them is one
``struct.unpack_from`` on the mapping. So once a client has an answer, any request it sends
next, to any process, is served from state that includes that answer's writes.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import struct
from collections.abc import Iterable

CHANGES_TABLE = "tessera_changes"
CREATE_CHANGES = (
    f"CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)"
)
# Rows kept behind the newest at most: a worker further behind than this reloads everything.
KEEP = 200_000
PRUNE_EVERY = 256  # commits between prunes

_LAYOUT = struct.Struct("<QQ")  # sequence, unseal epoch
READER_SLOTS = 64  # workers that report what they have seen (slot = worker number)
_SLOTS = struct.Struct(f"<{READER_SLOTS}Q")
_SIZE = _LAYOUT.size + _SLOTS.size


class SharedState:
    """The mapped file: two 64-bit words, each written by one thread of the active process.

    Aligned 8-byte stores and loads are single instructions on the machines Tessera runs on,
    so a reader never sees half a number.
    """

    def __init__(self, path: str, *, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        if create:
            _LAYOUT.pack_into(self._map, 0, 0, 0)

    def read(self) -> tuple[int, int]:
        """(newest committed change sequence, unseal epoch or 0 while sealed)."""
        return _LAYOUT.unpack_from(self._map, 0)

    def publish_sequence(self, seq: int) -> None:
        struct.pack_into("<Q", self._map, 0, seq)

    def publish_epoch(self, epoch: int) -> None:
        struct.pack_into("<Q", self._map, 8, epoch)

    def publish_seen(self, slot: int, seq: int) -> None:
        """A worker's word: every change up to ``seq`` is applied to its state."""
        if 0 <= slot < READER_SLOTS:
            struct.pack_into("<Q", self._map, _LAYOUT.size + 8 * slot, seq)

    def readers_seen(self) -> list[int]:
        """What each worker that reported has seen (0: not reported)."""
        return [seq for seq in _SLOTS.unpack_from(self._map, _LAYOUT.size) if seq]

    def close(self) -> None:
        try:
            self._map.close()
        except (BufferError, ValueError):
            pass


def record(conn: sqlite3.Connection, keys: Iterable[str], step: int = 64) -> int:
    """Append ``keys`` to the log inside the caller's transaction; the newest sequence number."""
    keys = list(keys)
    last = 0
    for i in range(0, len(keys), step):
        part = keys[i : i + step]
        cur = conn.execute(f"INSERT INTO {CHANGES_TABLE}(key) VALUES " + ",".join(["(?)"] * len(part)), part)
        last = cur.lastrowid or last
    return last


def prune(conn: sqlite3.Connection, newest: int, seen: list[int]) -> None:
    """Drop what every reporting worker has seen, and in any case all but the last ``KEEP``."""
    floor = max(min(seen, default=0), newest - KEEP)
    conn.execute(f"DELETE FROM {CHANGES_TABLE} WHERE seq <= ?", (floor,))


def newest(conn: sqlite3.Connection) -> int:
    row = conn.execute(f"SELECT max(seq) FROM {CHANGES_TABLE}").fetchone()
    return int(row[0] or 0)


def since(conn: sqlite3.Connection, seq: int) -> list[tuple[int, str]]:
    """The log after ``seq``, oldest first."""
    return [
        (int(s), str(k))
        for s, k in conn.execute(f"SELECT seq, key FROM {CHANGES_TABLE} WHERE seq > ? ORDER BY seq", (seq,))
    ]

"""The SQLite change log: which keys each commit of the active process wrote.

Worker processes (``cluster/``) serve requests from the same SQLite file with caches of their
own (decrypted values, token entries, compiled ACLs, the mount table). They stay exact through
two things the active process keeps up:

- the **change log**, this table in the database itself: every commit appends the keys it
  wrote, in the same SQLite transaction, so a key is in the log exactly when its new value is
  on disk;
- a **publisher** (``cluster/shared_state.py``, a small file mapped into every process): the
  newest log sequence number, published after the commit and before any answer that commit held
  is sent, and what each worker has applied, so the log is trimmed once every worker has seen
  it (a worker that does not say, or falls ``KEEP`` rows behind, reloads instead).

So once a client has an answer, any request it sends next, to any process, is served from
state that includes that answer's writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

CHANGES_TABLE = "tessera_changes"
CREATE_CHANGES = (
    f"CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)"
)
# Rows kept behind the newest at most: a worker further behind than this reloads everything.
KEEP = 200_000
PRUNE_EVERY = 256  # commits between prunes


class Publisher(Protocol):
    """Where the active process publishes its newest sequence and learns what workers have seen
    (``cluster/shared_state.py``)."""

    def publish_sequence(self, seq: int) -> None: ...

    def readers_seen(self) -> list[int]: ...


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

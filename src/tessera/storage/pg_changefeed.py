"""PostgreSQL's change feed: which keys each commit of the active HA node wrote.

Performance standbys (``cluster/ha/``) and worker processes (``workers = N``, with or without HA)
serve reads from caches of their own and stay exact by following this table, ``<table>_changes``:
every fenced write transaction (without HA, once worker processes run, every write) inserts the
keys it writes, in the same transaction (so a key is in the feed exactly when its new value is
committed), and ``pg_notify('<table>_changes')``, which PostgreSQL delivers at commit.

Ordering: a bigserial is taken when the row is inserted, not when its transaction commits, so a
reader that only asks for ``seq > last seen`` would skip a row whose transaction committed after
a later-numbered one. The rows carry their transaction ID instead, and a reader remembers, from
the snapshot of its last read (:class:`Position`), the transactions that had not ended then: its
``xmax`` (every later ID) and its in-progress list. Every row it has not seen belongs to one of
those (a transaction that ended before the snapshot was visible to it, and was read then), so the
next read asks for exactly them: nothing missed, nothing twice, and a commit is seen at once
whatever long transaction elsewhere on the server holds ``xmin`` back. ``xid8`` never wraps.

The active node prunes rows some ``KEEP_SECONDS`` after it saw them: a standby that has not read
for half that long rebuilds its state instead of trusting the feed (``cluster/ha/feed.py``).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, NamedTuple

import psycopg

KEEP_SECONDS = 120.0


def changes_table(table: str) -> str:
    """The feed's table (and its notification channel) beside the data table ``table``."""
    return table + "_changes"


def create_changes_table(conn: psycopg.Connection[Any], changes: str, lock_key: int) -> None:
    """The feed table and its index on ``xid``, made once however many nodes start at once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {changes} (seq BIGSERIAL PRIMARY KEY, "
            "xid XID8 NOT NULL DEFAULT pg_current_xact_id(), key TEXT NOT NULL)"
        )
        conn.execute(f"CREATE INDEX IF NOT EXISTS {changes}_xid ON {changes} (xid)")


def feed_proof(fence: str, changes: str, fenced_by: str) -> tuple[tuple[str, ...], str]:
    """A fenced write's proof (``pg_fencing.Proof``) with the feed folded in: the insert of the
    keys the write touches and the notification, both only under ``fenced_by``, so the feed costs
    no round trip of its own and a fenced node's statement records nothing. The answer's third
    column is the write's transaction ID: where the feed stands once it has seen this commit
    (``X-Vault-Index``, ``cluster/ha/index_state.py``)."""
    feed = f"feed AS (INSERT INTO {changes}(key) SELECT unnest(%(touched)s::text[]) FROM fence WHERE {fenced_by})"
    answer = (
        f"SELECT epoch, CASE WHEN {fenced_by} THEN pg_notify('{changes}', '') END, "
        "pg_current_xact_id()::text::bigint FROM fence"
    )
    return (fence, feed), answer


def unfenced_feed_proof(changes: str) -> tuple[tuple[str, ...], str]:
    """The feed of a node without HA whose worker processes follow it (``cluster/pool.py``): the
    same record and notification as ``feed_proof``, with no epoch to prove (one writer)."""
    feed = f"feed AS (INSERT INTO {changes}(key) SELECT unnest(%(touched)s::text[]))"
    return (feed,), f"SELECT NULL, pg_notify('{changes}', ''), pg_current_xact_id()::text::bigint"


class Position(NamedTuple):
    """Where a reader stands: the transactions its last snapshot had not seen end."""

    xmax: int  # every transaction from this ID on
    running: list[int]  # and these, below it

    def saw(self, xid: int) -> bool:
        """Whether the snapshot this position came from saw transaction ``xid`` end."""
        return xid < self.xmax and xid not in self.running


_SNAPSHOT = (
    "SELECT pg_snapshot_xmax(s.snap)::text::bigint, "
    "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s.snap) AS x) FROM (SELECT pg_current_snapshot() AS snap) s"
)


def read_changes(conn: psycopg.Connection[Any], changes: str, after: Position) -> tuple[Position, list[str]]:
    """(the new position, the keys committed since ``after``, in insertion order). One statement:
    the position and the rows come from the same snapshot."""
    rows = conn.execute(
        "SELECT s.hi, s.running, c.key FROM (" + _SNAPSHOT + ") AS s(hi, running) "
        f"LEFT JOIN {changes} c ON c.xid >= %s::text::xid8 OR c.xid = ANY(%s::text[]::xid8[]) ORDER BY c.seq",
        (str(after.xmax), [str(x) for x in after.running]),
    ).fetchall()
    position = Position(int(rows[0][0]), [int(x) for x in rows[0][1]])
    return position, [key for _, _, key in rows if key is not None]


def current_position(conn: psycopg.Connection[Any]) -> Position:
    """Where a reader starts: what the current snapshot has not seen end."""
    row = conn.execute(_SNAPSHOT).fetchone()
    assert row is not None
    return Position(int(row[0]), [int(x) for x in row[1]])


class Pruner:
    """The active node's pruning: rows of transactions that started ``KEEP_SECONDS`` ago go
    (standbys read committed rows at once; one that could not read for so long rebuilds)."""

    def __init__(self, changes: str, keep: float = KEEP_SECONDS) -> None:
        self.changes = changes
        self.keep = keep
        self._marks: deque[tuple[float, int]] = deque()  # (when, xmax then), oldest first

    def prune(self, conn: psycopg.Connection[Any]) -> int:
        """Drop what is old enough; the number of rows dropped."""
        now = time.monotonic()
        row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
        assert row is not None
        self._marks.append((now, int(row[0])))  # every transaction started before now
        floor = None
        while self._marks and self._marks[0][0] <= now - self.keep:
            floor = self._marks.popleft()[1]
        if floor is None:
            return 0
        cur = conn.execute(f"DELETE FROM {self.changes} WHERE xid < %s::text::xid8", (str(floor),))
        return cur.rowcount

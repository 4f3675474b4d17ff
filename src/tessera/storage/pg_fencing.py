"""Fencing the writes of HA nodes on PostgreSQL: the epoch row every write proves it holds.

The HA table has one row (``id = 1``): the leader's epoch, node ID, addresses and since when it
is active; ``cluster/ha/election.py`` bumps the epoch when a node takes over. Its ``_nodes``
table holds each node's last echo (``sys/ha-status``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from .pg_changefeed import feed_proof
from .sqlite_reader import StandbyWrite

# In each write a fenced statement makes: rows to write exist only when the epoch the ``fence``
# CTE share-locked is this node's (joined to ``fence``, with the statement's ``%(epoch)s``).
FENCED_BY = "fence.epoch = %(epoch)s::bigint"


@dataclass(frozen=True)
class Proof:
    """How a fenced statement proves the epoch: its leading CTEs (the first, ``fence``, locks the
    epoch row; any others write only under ``FENCED_BY``) and its answer, whose first column is
    the epoch it locked (no row: the HA table has none)."""

    ctes: tuple[str, ...]
    answer: str = "SELECT epoch FROM fence"
    # False for the change feed alone (worker processes without HA, ``pg_changefeed.py``): the
    # statement's writes are not joined to a ``fence``, and its answer's first column is NULL.
    fenced: bool = True


class Fenced(StandbyWrite):
    """This node's HA epoch is no longer the table's: another node took over, nothing is written.

    A :class:`StandbyWrite` (a BaseException): the request that tried is handed to the node that is
    active now, as a standby's write is, and no handler's ``except Exception`` answers it instead.
    """


class Fencing:
    """What a write of an HA node proves: the HA table still holds this node's epoch.

    ``SELECT ... FOR SHARE`` on the epoch row, in the write's own statement (``proof``): a new
    leader's ``UPDATE ... SET epoch = epoch + 1`` waits for every such transaction in flight, and
    every later one sees the new epoch and writes nothing. So no write of an old leader commits
    after a takeover, however long that leader was paused. ``epoch`` is None on a standby: it
    writes nothing.
    """

    def __init__(self, ha_table: str, changes: str = "") -> None:
        self.ha_table = ha_table
        self.epoch: int | None = None
        self.on_fenced: list[Callable[[], None]] = []  # told when a write found another epoch
        fence = f"fence AS MATERIALIZED (SELECT epoch FROM {ha_table} WHERE id = 1 FOR SHARE)"
        # With a change feed (``pg_changefeed.py``): the statement records the written keys too.
        self._proof = Proof(*feed_proof(fence, changes, FENCED_BY)) if changes else Proof((fence,))

    def proof(self) -> Proof:
        """The epoch row, share-locked by the statement before it writes anything (and, with a
        change feed, the feed's record of the keys written)."""
        return self._proof

    def check(self, expected: int | None, seen: int | None) -> None:
        """After a fenced statement: ``seen`` is the epoch it locked (None: no row). The statement
        wrote nothing unless it matched ``expected``; say so, and tell the ``on_fenced`` hooks."""
        if expected is None or seen is None or seen != expected:
            for hook in self.on_fenced:
                hook()
            raise Fenced(f"this node's HA epoch {expected} is not the cluster's {seen}")


def schema_lock_key(ha_table: str) -> int:
    """The advisory lock that serializes creating the HA tables (distinct from the leader's)."""
    return zlib.crc32(f"tessera-schema:{ha_table}".encode())


def create_ha_tables(conn: psycopg.Connection[Any], ha_table: str) -> None:
    """The epoch row and the nodes table, made once however many nodes start at once (a bare
    CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL's catalog)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema_lock_key(ha_table),))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {ha_table} (id INT PRIMARY KEY CHECK (id = 1), "
            "epoch BIGINT NOT NULL, node_id TEXT NOT NULL, api_addr TEXT NOT NULL, "
            "cluster_addr TEXT NOT NULL, active_since TIMESTAMPTZ)"
        )
        conn.execute(
            f"INSERT INTO {ha_table} (id, epoch, node_id, api_addr, cluster_addr) "
            "VALUES (1, 0, '', '', '') ON CONFLICT (id) DO NOTHING"
        )
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {ha_table}_nodes (node_id TEXT PRIMARY KEY, hostname TEXT NOT NULL, "
            "api_addr TEXT NOT NULL, cluster_addr TEXT NOT NULL, version TEXT NOT NULL, "
            "last_echo TIMESTAMPTZ NOT NULL)"
        )

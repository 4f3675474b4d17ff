"""Fencing the writes of HA nodes on PostgreSQL: the epoch row every write proves it holds.

The HA table has one row (``id = 1``): the leader's epoch, node ID, addresses and since when it
is active; ``cluster/ha/election.py`` bumps the epoch when a node takes over. Its ``_nodes``
table holds each node's last echo (``sys/ha-status``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import psycopg

from .pg_changefeed import proof_sql


class Fenced(Exception):
    """This node's HA epoch is no longer the table's: another node took over, nothing is written."""


class Fencing:
    """What a write of an HA node proves first: the HA table still holds this node's epoch.

    ``SELECT ... FOR SHARE`` on the epoch row, inside the write's transaction: a new leader's
    ``UPDATE ... SET epoch = epoch + 1`` waits for every such transaction in flight, and every
    later one sees the new epoch and aborts. So no write of an old leader commits after a takeover,
    however long that leader was paused. ``epoch`` is None on a standby: it writes nothing.
    """

    def __init__(self, ha_table: str, changes: str = "") -> None:
        self.ha_table = ha_table
        self.epoch: int | None = None
        self.on_fenced: list[Callable[[], None]] = []  # told when a write found another epoch
        # With a change feed (``pg_changefeed.py``): the proof records the written keys too.
        self._proof = proof_sql(changes, ha_table) if changes else ""

    def prove(self, cur: psycopg.Cursor[Any], keys: list[str]) -> None:
        """Hold the epoch row shared for the transaction (and record ``keys`` in the feed)."""
        epoch = self.epoch
        if self._proof:
            row = cur.execute(self._proof, (keys,)).fetchone()
        else:
            row = cur.execute(f"SELECT epoch FROM {self.ha_table} WHERE id = 1 FOR SHARE").fetchone()
        if epoch is None or row is None or row[0] != epoch:
            for hook in self.on_fenced:
                hook()
            raise Fenced(f"this node's HA epoch {epoch} is not the cluster's {row[0] if row else None}")


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

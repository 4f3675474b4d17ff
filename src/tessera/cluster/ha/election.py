"""Leader election on PostgreSQL: a session advisory lock, and an epoch per leader.

One thread per node, with a connection of its own. A standby tries ``pg_try_advisory_lock``
every ``interval``; the node that gets it bumps the epoch in the HA table (its ``UPDATE`` waits
for the fenced writes still in flight, see ``storage/pg_fencing.py``) and is active. The active
node checks every ``interval`` that its connection lives and the epoch is still its own; the
moment either fails it is standby again. PostgreSQL frees the lock when the session ends: a
killed node's at once, a paused one's when its connection is ended (``pg_terminate_backend``,
TCP keepalives). Every node echoes its address to the ``_nodes`` table (``sys/ha-status``).
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from ...core.ha import LeaderInfo
from ...storage.pg_connections import cause, unavailable

log = logging.getLogger("tessera.ha")

INTERVAL = 1.0  # seconds between lock attempts (standby) and liveness checks (active)
STEP_DOWN_PAUSE = 10.0  # as Vault's manualStepDownSleepPeriod: no new attempt that soon
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 1, "keepalives_count": 3}


@dataclass(frozen=True)
class NodeInfo:
    """How this node is known to the others."""

    node_id: str
    hostname: str
    api_addr: str
    cluster_addr: str
    version: str


def leader_lock_key(ha_table: str) -> int:
    """The advisory lock the active node holds (one per HA table, so per cluster)."""
    return zlib.crc32(f"tessera-leader:{ha_table}".encode())


class Election:
    """The election loop; ``became_active(epoch)`` and ``lost()`` run on its thread."""

    def __init__(
        self,
        dsn: str,
        ha_table: str,
        node: NodeInfo,
        became_active: Callable[[int], bool],
        lost: Callable[[], None],
        interval: float = INTERVAL,
        may_lead: Callable[[], bool] = lambda: True,
    ) -> None:
        self.dsn = dsn
        self.table = ha_table
        self.node = node
        self.key = leader_lock_key(ha_table)
        self.became_active = became_active
        self.lost = lost
        self.interval = interval
        self.may_lead = may_lead  # False: this standby does not try the lock this round
        self.active = False
        self.epoch = 0
        self.current: LeaderInfo | None = None  # the HA table's row, as last read
        # Why the last attempt to connect failed ("" once one succeeds): a node that knows no
        # other active node answers with it at once (``forwarder.py``). A connection that broke is
        # not enough (a takeover ends the old leader's session): the database must refuse a new one.
        self.failure = ""
        self._conn: psycopg.Connection[Any] | None = None
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._resign = False
        self._paused_until = 0.0
        self._thread = threading.Thread(target=self._run, name="ha-election", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Leave the election; the thread frees the lock as it ends (``lost`` runs if active)."""
        self._stopped.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def step_down(self) -> None:
        """Release the lock soon (on the election thread) and let another node take it."""
        self._resign = True
        self._wake.set()

    def check_now(self) -> None:
        """A write found another epoch: look at the lock now, not at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._round()
            except psycopg.Error as exc:
                log.warning("HA: the lock connection failed: %s", cause(exc))
                self._drop()
            except Exception:
                log.exception("HA: election round failed")
                self._drop()
            self._wake.wait(self.interval)
            self._wake.clear()
        self._drop()

    def _round(self) -> None:
        conn = self._connection()
        if self._resign:
            self._resign = False
            if self.active:
                log.info("HA: stepping down")
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                self._paused_until = time.monotonic() + STEP_DOWN_PAUSE
                self._lose()
        if self.active:
            self._check(conn)
        elif time.monotonic() >= self._paused_until and self.may_lead():
            self._try_lock(conn)
        self._echo(conn)
        self.current = self._read_leader(conn)

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    application_name=f"tessera-ha-{self.node.node_id}",
                    connect_timeout=5,
                    **_KEEPALIVES,  # type: ignore[arg-type]
                )
            except psycopg.Error as exc:
                self.failure = str(unavailable(exc))
                raise
            conn.execute("SET statement_timeout = 30000")
            self._conn = conn
            self.failure = ""
        return conn

    def _try_lock(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if not row or not row[0]:
            return
        node = self.node
        started = time.monotonic()
        row = conn.execute(
            f"UPDATE {self.table} SET epoch = epoch + 1, node_id = %s, api_addr = %s, cluster_addr = %s, "
            "active_since = now() WHERE id = 1 RETURNING epoch",
            (node.node_id, node.api_addr, node.cluster_addr),
        ).fetchone()
        assert row is not None  # the row is made with the table (storage/pg_fencing.py)
        self.epoch, self.active = int(row[0]), True
        log.info("HA: acquired the lock, epoch %d (%.3f s)", self.epoch, time.monotonic() - started)
        if not self.became_active(self.epoch):
            conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self._paused_until = time.monotonic() + STEP_DOWN_PAUSE
            self._lose()

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """Still the leader: the session lives (this query answers) and the epoch is ours."""
        row = conn.execute(f"SELECT epoch FROM {self.table} WHERE id = 1").fetchone()
        if row is None or int(row[0]) != self.epoch:
            log.warning("HA: epoch %s is no longer ours (%d): standing down", row and row[0], self.epoch)
            conn.execute("SELECT pg_advisory_unlock_all()")
            self._lose()

    def _echo(self, conn: psycopg.Connection[Any]) -> None:
        node = self.node
        conn.execute(
            f"INSERT INTO {self.table}_nodes (node_id, hostname, api_addr, cluster_addr, version, last_echo) "
            "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (node_id) DO UPDATE SET last_echo = now(), "
            "api_addr = EXCLUDED.api_addr, cluster_addr = EXCLUDED.cluster_addr",
            (node.node_id, node.hostname, node.api_addr, node.cluster_addr, node.version),
        )

    def _read_leader(self, conn: psycopg.Connection[Any]) -> LeaderInfo | None:
        row = conn.execute(
            f"SELECT node_id, api_addr, cluster_addr, extract(epoch FROM active_since) FROM {self.table} "
            "WHERE id = 1"
        ).fetchone()
        if row is None or not row[0]:
            return None
        return LeaderInfo(row[0], row[1], row[2], float(row[3] or 0.0))

    def nodes(self, fresh_seconds: float) -> list[tuple[Any, ...]]:
        """The nodes heard from in the last ``fresh_seconds`` (a connection of its own: this
        runs on a request thread); StorageUnavailable if the database cannot be reached."""
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                return conn.execute(
                    f"SELECT node_id, hostname, api_addr, cluster_addr, version, extract(epoch FROM last_echo) "
                    f"FROM {self.table}_nodes WHERE last_echo > now() - make_interval(secs => %s) ORDER BY node_id",
                    (fresh_seconds,),
                ).fetchall()
        except psycopg.OperationalError as exc:
            raise unavailable(exc) from None

    def _drop(self) -> None:
        """The lock connection is gone (or we leave): the lock with it, so no longer active."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass
        if self.active:
            self._lose()

    def _lose(self) -> None:
        self.active = False
        self.lost()

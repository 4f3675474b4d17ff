"""PostgreSQL physical storage: the shared store for running several Tessera nodes.

Values are opaque barrier ciphertext; each write is its own committed transaction (PostgreSQL's
own WAL makes it durable), and ``transaction`` applies several writes atomically.

With ``ha_enabled`` the writes are fenced (see :class:`Fencing`): only the node that holds the
HA epoch (``cluster/ha/``) commits anything.

With ``workers = N`` the main process records every write in the change feed
(``enable_change_feed``) and its worker processes open the same database as readers
(``reader=True``): they write nothing, and cache what they read, kept exact by the feed.
"""

from __future__ import annotations

import builtins
import logging
import threading
from typing import Any

import psycopg

from ..runtime.gate import stepping_aside
from .base import Physical, TxnOp, children
from .changefeed import Publisher
from .pg_changefeed import Pruner, changes_table, create_changes_table, unfenced_feed_proof
from .pg_connections import CONNECT_TIMEOUT, Connections
from .pg_fencing import Fencing, Proof, create_ha_tables, schema_lock_key
from .pg_group import GroupCommit
from .pg_options import PostgreSQLOptions
from .pg_write import WriteParams, register_dumpers
from .sqlite_reader import StandbyWrite

log = logging.getLogger("tessera.storage")

_HIGH = "\U0010ffff"
_PREFIXES_PER_QUERY = 1024
# How often the table's dead rows are looked at, and how many trigger a VACUUM of our own.
VACUUM_CHECK_SECONDS = 15.0
VACUUM_MIN_DEAD = 10_000
VACUUM_DEAD_SHARE = 0.2
# With HA on: a session idle inside a transaction this long is ended by PostgreSQL (see _session).
IDLE_IN_TRANSACTION_MS = 5000


class PostgreSQLPhysical(Physical):
    name = "postgresql"

    def __init__(self, options: dict[str, str], *, reader: bool = False) -> None:
        settings = PostgreSQLOptions.parse(options)
        self.reader = reader  # a worker process's: reads only, cached (the feed keeps it exact)
        self.settings = settings
        self.dsn = settings.connection_url
        self.table = settings.table
        # Vault's permit pool: at most ``max_parallel`` statements in flight from this node.
        self._permits = threading.BoundedSemaphore(settings.max_parallel)
        # Writes that arrive while one is in flight share the next statement.
        self._group = GroupCommit(self._write)
        # HA: None until this node joins the election (then writes are fenced, see Fencing).
        self.fencing: Fencing | None = None
        # The change feed's table (pg_changefeed.py): "" without HA until worker processes run.
        self.changes = changes_table(settings.table) if settings.ha_enabled or reader else ""
        self.cacheable = settings.ha_enabled or reader  # type: ignore[misc]  # per instance (base.py)
        # Worker processes: the feed's record without HA, and where each commit is told to them.
        self._feed: Proof | None = None
        self._publisher: Publisher | None = None
        self._published = 0
        self._publish_lock = threading.Lock()
        # One connection per serving thread; an unreachable database is StorageUnavailable.
        self.connections = Connections(self.dsn, self._session)
        # HA: per serving thread, the transaction ID of its last fenced write (``last_commit``).
        self._commits = threading.local()
        self._closed = threading.Event()
        self.vacuums = 0
        self._vacuumer: threading.Thread | None = None
        if reader:
            self.connections.read(lambda conn: conn.execute(f"SELECT 1 FROM {self.table} LIMIT 0"))
            return  # the main process made the tables, and vacuums them
        self.connections.read(
            lambda conn: conn.execute(
                f'CREATE TABLE IF NOT EXISTS {self.table} (key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)'
            )
        )
        self._tune_autovacuum()
        if settings.ha_enabled:
            self.connections.read(lambda conn: create_ha_tables(conn, settings.ha_table))
            self.connections.read(
                lambda conn: create_changes_table(conn, self.changes, schema_lock_key(settings.ha_table))
            )
        self._vacuumer = threading.Thread(target=self._vacuum_loop, name="pg-vacuum", daemon=True)
        self._vacuumer.start()

    def _tune_autovacuum(self) -> None:
        """Vacuum the table after 2% of it changed, not PostgreSQL's default 20%.

        Short-lived tokens and leases make this an insert-and-delete table: left to the defaults,
        dead rows pile up between vacuums and the table (and its index) keep growing under a
        steady create/expire cycle. Best effort: a role that does not own the table keeps them.
        """
        try:
            self._query(
                f"ALTER TABLE {self.table} SET (autovacuum_vacuum_scale_factor = 0.02, "
                "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02, "
                "autovacuum_vacuum_cost_delay = 1)"
            )
        except psycopg.Error as exc:
            log.warning("could not tune autovacuum on %s (the defaults stay): %s", self.table, exc)

    def _vacuum_loop(self) -> None:
        """Vacuum the table ourselves once dead rows pass ``VACUUM_DEAD_SHARE`` of the live ones.

        Autovacuum may be off or too slow (a shared server: the soak's PostgreSQL had it off, and
        the database grew 85 -> 290 MB in 7 minutes of token churn, 88% of its rows dead). A plain
        VACUUM blocks no reads or writes; when autovacuum keeps up this finds nothing to do.
        """
        conn: psycopg.Connection | None = None
        pruner = Pruner(self.changes) if self.changes else None
        while not self._closed.wait(VACUUM_CHECK_SECONDS):
            try:
                conn = (
                    conn
                    if conn is not None and not conn.closed
                    else psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
                )
                if pruner is None and self.changes:  # the feed began with worker processes
                    pruner = Pruner(self.changes)
                fencing = self.fencing
                writer = self._feed is not None if fencing is None else fencing.epoch is not None
                if pruner is not None and writer:
                    pruner.prune(conn)  # only the node writing the feed (HA: the active one)
                row = conn.execute(
                    "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass",
                    (self.table,),
                ).fetchone()
                if row is None:
                    continue
                live, dead = row
                if dead > max(VACUUM_MIN_DEAD, VACUUM_DEAD_SHARE * live):
                    conn.execute(f"VACUUM (ANALYZE) {self.table}")
                    self.vacuums += 1
            except psycopg.Error as exc:
                log.warning("vacuuming %s failed (retried later): %s", self.table, exc)
        if conn is not None:
            conn.close()

    def _session(self, conn: psycopg.Connection) -> None:
        """The settings of every new connection."""
        register_dumpers(conn.adapters)  # the write statement's binary arrays (pg_write.py)
        # Every query here is a short index lookup: JIT compiling one costs more than it runs
        # (33 ms of 34 for a 256-prefix list_many), and the planner's row estimates trigger it.
        conn.execute("SET jit = off")
        if self.settings.ha_enabled:
            # A paused node must not hold its fencing share lock (and so a takeover) forever.
            conn.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")

    def _query(self, query: str, params: tuple[Any, ...] | builtins.list[Any] = ()) -> builtins.list[Any]:
        """The rows of one read query (none for a statement), retried once on a connection that
        had died idle (see ``pg_connections.py``)."""
        with stepping_aside():  # a network round trip: other requests run meanwhile
            connections = self.connections
            return connections.read(lambda conn: _rows(connections.cursor(conn).execute(query, params)))

    def get(self, key: str) -> bytes | None:
        with self._permits:
            rows = self._query(f"SELECT value FROM {self.table} WHERE key = %s", (key,))
        return bytes(rows[0][0]) if rows else None

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        """One round trip for the whole batch, not one per key."""
        if not keys:
            return {}
        with self._permits:
            rows = self._query(f"SELECT key, value FROM {self.table} WHERE key = ANY(%s::text[])", (keys,))
        return {k: bytes(v) for k, v in rows}

    def put(self, key: str, value: bytes) -> None:
        self.transaction([TxnOp(key, value)])

    def delete(self, key: str) -> None:
        self.transaction([TxnOp(key, None)])

    def _range(self, prefix: str) -> list[str]:
        with self._permits:
            rows = self._query(
                f"SELECT key FROM {self.table} WHERE key >= %s AND key < %s ORDER BY key",
                (prefix, prefix + _HIGH),
            )
            return [r[0] for r in rows]

    def scan(self, prefix: str, after: str, limit: int) -> tuple[list[tuple[str, bytes]], str | None]:
        with self._permits:
            rows = self._query(
                f"SELECT key, value FROM {self.table} WHERE key > %s AND key >= %s AND key < %s "
                "ORDER BY key LIMIT %s",
                (after, prefix, prefix + _HIGH, limit),
            )
        return [(k, bytes(v)) for k, v in rows], (rows[-1][0] if len(rows) == limit else None)

    def list(self, prefix: str) -> list[str]:
        return children(prefix, self._range(prefix))

    def list_all(self, prefix: str) -> builtins.list[str]:
        return self._range(prefix)

    def list_many(self, prefixes: builtins.list[str]) -> dict[str, builtins.list[str]]:
        """One query per ``_PREFIXES_PER_QUERY`` prefixes: for each, an index range scan (the
        LATERAL join makes the planner do exactly that). Written as ORed ranges the query took
        ~65 ms to plan for 128 prefixes; as a plain join with ORDER BY, PostgreSQL walked the
        whole index instead (20 s on 100,000 rows), and batched expiry waited for either."""
        out: dict[str, list[str]] = {prefix: [] for prefix in prefixes}
        unique = sorted(out)
        for i in range(0, len(unique), _PREFIXES_PER_QUERY):
            part = unique[i : i + _PREFIXES_PER_QUERY]
            with self._permits:
                rows = self._query(
                    "SELECT r.lo, k.key FROM unnest(%s::text[], %s::text[]) AS r(lo, hi) CROSS JOIN LATERAL "
                    f'(SELECT key FROM {self.table} WHERE key >= r.lo COLLATE "C" AND key < r.hi COLLATE "C") k',
                    (part, [prefix + _HIGH for prefix in part]),
                )
            for prefix, key in rows:
                out[prefix].append(key)
        for keys in out.values():
            keys.sort()
        return out

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        """All writes, and with HA their fencing proof, in one statement (``pg_write.py``): each
        statement is a round trip, and revoking a batch of expired tokens writes hundreds of keys.
        Returns once that statement committed; writes of other threads may share it."""
        if not ops:
            return
        if self.reader:
            raise StandbyWrite()  # a worker's request: its main process serves it (cluster/standby.py)
        fencing = self.fencing
        if fencing is not None and fencing.epoch is None:
            raise StandbyWrite()  # a standby's request: the active node serves it (cluster/ha/role.py)
        epoch = fencing.epoch if fencing is not None else None
        with stepping_aside():  # a round trip, maybe with others' writes (pg_group.py)
            row = self._group.write([(op.key, op.value) for op in ops], (fencing, epoch))
        if fencing is not None:
            fencing.check(epoch, None if row is None else row[0])
        if row is not None and len(row) > 2:
            self._commits.xid = row[2]  # the commit this write was in, for X-Vault-Index

    def _write(
        self, ops: builtins.list[tuple[str, bytes | None]], key: tuple[Fencing | None, int | None]
    ) -> Any:
        """One statement of every write in ``ops``; with ``fencing``, fenced at ``epoch`` and
        answering the epoch it locked (``pg_write.py``)."""
        fencing, epoch = key
        write = WriteParams.of(ops)
        proof = fencing.proof() if fencing is not None else self._feed
        statement = write.statement(self.table, proof)
        params = write.bind(epoch)

        def run(conn: psycopg.Connection[Any]) -> Any:
            cur = self.connections.cursor(conn).execute(statement, params, prepare=True)
            return cur.fetchone() if proof is not None else None

        with self._permits:
            row = self.connections.statement(run)
        self.publish_change()  # committed: the workers read the feed before they serve again
        return row

    def enable_change_feed(self, publisher: Publisher) -> None:
        """Worker processes follow this database from now on: every write records its keys in
        the change feed (with HA the fenced writes do already), and each statement, once it
        committed and before any answer it held is sent, is told to ``publisher``: a worker that
        sees the word change reads the feed before it serves anything (read-your-writes)."""
        if not self.changes:
            self.changes = changes_table(self.table)
            lock = schema_lock_key(self.settings.ha_table)
            self.connections.read(lambda conn: create_changes_table(conn, self.changes, lock))
            self._feed = Proof(*unfenced_feed_proof(self.changes), fenced=False)
        self._publisher = publisher

    def publish_change(self) -> None:
        """Tell the worker processes that something committed (an HA standby's main process
        calls it too, when a write it forwarded to the active node is answered)."""
        publisher = self._publisher
        if publisher is not None:
            with self._publish_lock:
                self._published += 1
                publisher.publish_sequence(self._published)

    def last_commit(self, forget: bool = False) -> int | None:
        """The transaction ID of this thread's last fenced write (None: none since it was
        forgotten), for the ``X-Vault-Index`` of the request that made it."""
        commits = self._commits
        xid: int | None = getattr(commits, "xid", None)
        if forget:
            commits.xid = None
        return xid

    def close(self) -> None:
        self._closed.set()
        self.fencing = None
        if self._vacuumer is not None and self._vacuumer is not threading.current_thread():
            self._vacuumer.join(timeout=30)
        self.connections.close()


def _rows(cur: psycopg.Cursor[Any]) -> builtins.list[Any]:
    return cur.fetchall() if cur.description is not None else []

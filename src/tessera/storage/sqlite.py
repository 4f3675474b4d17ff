"""SQLite physical storage (WAL) with group commit by a WAL syncer.

A transaction commits at once into the write-ahead log (``synchronous=NORMAL``: written, not yet
flushed), and one syncer thread makes commits durable by fsyncing the WAL file, each fsync
covering every commit made before it started. That is exactly what ``synchronous=FULL`` does
at every commit, shared: a commit is durable once its WAL frames are on disk, and SQLite's own
checkpoints sync the WAL before copying it into the database and the database after.

Who waits for the fsync:
- by default the writer: :meth:`transaction` returns once its commit is durable, as before;
- a request served on the threaded listener instead defers its acknowledgement
  (:func:`~tessera.storage.base.deferred_acknowledgement`): its write returns at once, the
  thread goes on to the next request, and the answer is sent by :meth:`after_durable` once the
  syncer has flushed every commit made before the answer was ready. Answers are held whenever
  any commit is not yet durable, so no client ever sees state a crash could take back.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable

from ..core.gate import stepping_aside
from .base import Physical, TxnOp, acknowledgement_deferred, children

log = logging.getLogger("tessera.storage")

_HIGH = "\U0010ffff"
# The syncer checkpoints the WAL into the database every this many transactions (SQLite's own
# automatic checkpoint would run in a writer, holding a request up for two fsyncs).
CHECKPOINT_EVERY = 1000

Ready = Callable[[BaseException | None], None]


class SQLitePhysical(Physical):
    name = "sqlite"

    def __init__(
        self,
        path: str,
        fsync: Callable[[int], None] = os.fsync,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.path = path
        self._fsync = fsync
        self.checkpoint_every = checkpoint_every
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        writer = self._connect()
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute(
            "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
        )
        writer.execute("PRAGMA synchronous=NORMAL")  # the syncer flushes the WAL (module doc)
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the syncer checkpoints
        self._writer = writer
        self._write_lock = threading.Lock()
        writer.execute("SELECT 1 FROM entries LIMIT 1").fetchall()  # a read opens (creates) the WAL
        self._wal_fd = os.open(path + "-wal", os.O_RDONLY | os.O_CREAT, 0o600)
        _fsync_directory(os.path.dirname(os.path.abspath(path)))  # the WAL file's own entry
        self._cond = threading.Condition()
        self._written = 0  # commits made (sequence numbers)
        self._synced = 0  # commits known durable
        self._sync_error: BaseException | None = None
        self._held: list[tuple[int, Ready]] = []
        self._closed = False
        # Transactions committed and fsyncs made: their ratio is how well writers batch.
        self.transactions = 0
        self.commits = 0
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._sync_loop, name="sqlite-syncer", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._conns_lock:
            self._all_conns.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    # -- reads -----------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        row = self._reader().execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _range(self, prefix: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT key FROM entries WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + _HIGH)
        )
        return [r[0] for r in rows]

    def list(self, prefix: str) -> list[str]:
        return children(prefix, self._range(prefix))

    def list_all(self, prefix: str) -> list[str]:
        return self._range(prefix)

    # -- writes ----------------------------------------------------------------------
    def put(self, key: str, value: bytes) -> None:
        self.transaction([TxnOp(key, value)])

    def delete(self, key: str) -> None:
        self.transaction([TxnOp(key, None)])

    def transaction(self, ops: list[TxnOp]) -> None:
        if not ops:
            return
        if self._closed:
            raise RuntimeError("storage is closed")
        if self._sync_error is not None:
            raise OSError(f"storage sync failed: {self._sync_error}")
        conn = self._writer
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._apply(conn, ops)
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
            self.transactions += 1
            with self._cond:
                self._written += 1
                sequence = self._written
                self._cond.notify_all()
        if acknowledgement_deferred():
            return  # the answer waits instead (after_durable)
        self._wait_synced(sequence)

    def _wait_synced(self, sequence: int) -> None:
        with self._cond:
            if self._synced >= sequence:
                return
        with stepping_aside(), self._cond:  # other requests run and join this fsync meanwhile
            while self._synced < sequence and self._sync_error is None:
                self._cond.wait()
            error = self._sync_error
        if error is not None:
            raise OSError(f"storage sync failed: {error}") from error

    def after_durable(self, ready: Ready) -> bool:
        """Call ``ready`` once every commit made so far is durable; False if they already are.

        After a failed fsync nothing is durable any more: ``ready`` gets the error at once.
        """
        with self._cond:
            error = self._sync_error
            if error is None:
                if self._synced >= self._written:
                    return False
                self._held.append((self._written, ready))
                return True
        ready(error)
        return True

    def wait_durable(self) -> None:
        with self._cond:
            sequence = self._written
        self._wait_synced(sequence)

    @staticmethod
    def _apply(conn: sqlite3.Connection, ops: list[TxnOp]) -> None:
        for op in ops:
            if op.value is None:
                conn.execute("DELETE FROM entries WHERE key = ?", (op.key,))
            else:
                conn.execute(
                    "INSERT INTO entries(key, value) VALUES(?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (op.key, op.value),
                )

    # -- the syncer --------------------------------------------------------------------
    def _sync_loop(self) -> None:
        checkpointer: sqlite3.Connection | None = None
        checkpointed_at = 0  # self.transactions at the last checkpoint
        while True:
            with self._cond:
                while self._synced >= self._written and not self._closed:
                    self._cond.wait()
                if self._synced >= self._written:
                    return  # closed, and nothing left to flush
                target = self._written
            error: BaseException | None = None
            try:
                self._fsync(self._wal_fd)
                self.commits += 1
            except BaseException as exc:  # fsync failed: nothing after it can be trusted
                log.critical("fsync of the SQLite WAL failed; writes are no longer acknowledged: %s", exc)
                error = exc
            with self._cond:
                if error is None:
                    self._synced = target
                else:
                    self._sync_error = error
                ready = [cb for seq, cb in self._held if error is not None or seq <= target]
                self._held = [] if error is not None else [h for h in self._held if h[0] > target]
                self._cond.notify_all()
            for callback in ready:
                try:
                    callback(error)
                except Exception:
                    log.exception("sending a held answer failed")
            if error is not None:
                return
            if self.transactions - checkpointed_at >= self.checkpoint_every:
                checkpointer = checkpointer or self._connect()
                try:
                    checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    checkpointed_at = self.transactions
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (will retry): %s", exc)

    def close(self) -> None:
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=10)
        with self._conns_lock:
            for conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()
        os.close(self._wal_fd)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""SQLite physical storage (WAL) with group commit.

A write returns only once its transaction is committed with ``synchronous=FULL``;
concurrent writers are batched by one committer thread so that they share one fsync.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from dataclasses import dataclass, field

from ..core.gate import stepping_aside
from .base import Physical, TxnOp, children

_HIGH = "\U0010ffff"


@dataclass
class _Pending:
    ops: list[TxnOp]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class SQLitePhysical(Physical):
    name = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        writer = self._connect()
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute(
            "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
        )
        writer.commit()
        self._writer = writer
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._closed = False
        # Transactions committed and commits (fsyncs) made: their ratio is how well writers batch.
        self.transactions = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._commit_loop, name="sqlite-committer", daemon=True)
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
        pending = _Pending(list(ops))
        self._queue.put(pending)
        with stepping_aside():  # other requests run and join this commit meanwhile
            pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def _commit_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            for pending in batch:
                conn.execute("SAVEPOINT txn")
                try:
                    self._apply(conn, pending.ops)
                    conn.execute("RELEASE txn")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK TO txn")
                    conn.execute("RELEASE txn")
                    pending.error = exc
            conn.execute("COMMIT")
            self.commits += 1
            self.transactions += len(batch)
        except BaseException as exc:  # the commit itself failed: every writer learns it
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for pending in batch:
                pending.error = pending.error or exc
        for pending in batch:
            pending.done.set()

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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)
        with self._conns_lock:
            for conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()

"""A worker process's view of the active process's SQLite database: reads only.

A worker never writes: a request that tries to is stopped by :class:`StandbyWrite` before
anything reaches storage and is sent to the active process instead (``cluster/standby.py``).
Each thread reads through its own read-only connection; in WAL mode those never block the
active process's commits, and each statement sees the newest commit.
"""

from __future__ import annotations

import builtins  # ``list`` in this class is the method from its definition on
import sqlite3
import threading
from pathlib import Path

from . import changefeed
from .base import Physical, TxnOp, children
from .sqlite import get_rows, scan_rows

_HIGH = "\U0010ffff"


class StandbyWrite(BaseException):
    """A worker's request tried to write: it must be served by the active process.

    A BaseException, like KeyboardInterrupt, so that no handler's ``except Exception`` turns
    it into an answer.
    """


class SQLiteReader(Physical):
    name = "sqlite"  # same caching rules as the writer's (the change feed keeps them exact)

    def __init__(self, path: str) -> None:
        self.path = path
        self._uri = Path(path).resolve().as_uri() + "?mode=ro"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn()  # fail at start, not on the first request, if the file cannot be read

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._uri, uri=True, timeout=30, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def get(self, key: str) -> bytes | None:
        row = self._conn().execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        return get_rows(self._conn(), keys)

    def _range(self, prefix: str) -> list[str]:
        rows = self._conn().execute(
            "SELECT key FROM entries WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + _HIGH)
        )
        return [r[0] for r in rows]

    def list(self, prefix: str) -> list[str]:
        return children(prefix, self._range(prefix))

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        rows = scan_rows(self._conn(), prefix, after, limit)
        return [(k, bytes(v)) for k, v in rows], (rows[-1][0] if len(rows) == limit else None)

    def list_all(self, prefix: str) -> builtins.list[str]:
        return self._range(prefix)

    def put(self, key: str, value: bytes) -> None:
        raise StandbyWrite(key)

    def delete(self, key: str) -> None:
        raise StandbyWrite(key)

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        if ops:
            raise StandbyWrite(ops[0].key)

    def changes_since(self, seq: int) -> builtins.list[tuple[int, str]]:
        return changefeed.since(self._conn(), seq)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()

"""PostgreSQL connections of the storage backend: one per serving thread, and what happens when
the database cannot be reached.

Every failure to reach the server (connection refused, a connection terminated by an
administrator or a restart, a network that stopped answering) becomes :class:`StorageUnavailable`,
which the HTTP layer answers with a 503 naming the cause: never a driver traceback. A connection
that broke is dropped, and the thread's next call opens a new one, so the node serves again as
soon as the database is back, without a restart.

Retries are only made where they cannot apply anything twice: a read that failed on a connection
that had died while idle (a database restart) is run again once on a fresh one; a write (one
statement, ``statement``) is never sent twice, but goes on a new connection when the server had
already closed the old one while it was idle, which the socket tells without a round trip.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from .base import StorageUnavailable

log = logging.getLogger("tessera.storage")

T = TypeVar("T")
CONNECT_TIMEOUT = 5  # seconds: a request waits no longer than this for a database that does not answer
# A peer that went silent (not one that refused) is noticed within seconds, idle or in a query.
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def cause(exc: psycopg.Error) -> str:
    """The driver's first line, which names the cause (the rest is a hint for a person)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable(exc: psycopg.Error) -> StorageUnavailable:
    """The error the client sees."""
    return StorageUnavailable(f"storage backend unavailable: {cause(exc)}")


def _unreachable(exc: psycopg.Error, conn: psycopg.Connection[Any] | None) -> bool:
    """A connection-level failure (the server is gone or went away), not a statement's error."""
    if isinstance(exc, psycopg.OperationalError):
        return True
    return isinstance(exc, psycopg.InterfaceError) and conn is not None and (conn.closed or conn.broken)


def _closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """An idle autocommit session has nothing to read unless the server ended it (its FATAL
    message, then end of file): a restart or ``pg_terminate_backend``. A spurious wake-up only
    costs a new connection."""
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


class Connections:
    """The thread-local connections, opened by ``setup`` (the session's settings) on first use."""

    def __init__(self, dsn: str, setup: Callable[[psycopg.Connection[Any]], None]) -> None:
        self.dsn = dsn
        self.setup = setup
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def current(self) -> tuple[psycopg.Connection[Any], bool]:
        """This thread's connection, and whether it was just opened (so it cannot have died idle)."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn, False
        if conn is not None:
            self.drop(conn)
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT, **KEEPALIVES)
            self.setup(conn)
        except psycopg.Error as exc:
            if conn is not None:
                self.drop(conn)
            raise unavailable(exc) from None
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn, True

    def cursor(self, conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
        """This thread's cursor on ``conn``, kept: opening one per statement cost about a third
        of a prepared write's client CPU."""
        cur: psycopg.Cursor[Any] | None = getattr(self._local, "cursor", None)
        if cur is None or cur.connection is not conn:
            cur = self._local.cursor = conn.cursor()
        return cur

    def drop(self, conn: psycopg.Connection[Any]) -> None:
        """Forget a connection that broke (the thread's next call opens another)."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = self._local.cursor = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except psycopg.Error:
            pass

    def read(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``run`` on this thread's connection; once more on a new one if the old one had died idle."""
        conn, fresh = self.current()
        try:
            return run(conn)
        except psycopg.Error as exc:
            self._failed(exc, conn)
            if fresh:
                raise unavailable(exc) from None
            log.info("the storage connection had closed (%s): trying again on a new one", exc)
        return self._once(self.current()[0], run)

    def statement(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``run`` (one statement that writes) once: on a new connection if the server closed this
        thread's while it was idle; a failure while it runs is reported, never retried (the
        statement may have committed)."""
        conn, fresh = self.current()
        if not fresh and _closed_by_server(conn):
            self.drop(conn)
            conn, _ = self.current()
        return self._once(conn, run)

    def _once(self, conn: psycopg.Connection[Any], run: Callable[[psycopg.Connection[Any]], T]) -> T:
        try:
            return run(conn)
        except psycopg.Error as exc:
            self._failed(exc, conn)
            raise unavailable(exc) from None

    def _failed(self, exc: psycopg.Error, conn: psycopg.Connection[Any]) -> None:
        """Drop ``conn`` if ``exc`` means the server is out of reach; re-raise a statement's error."""
        if not _unreachable(exc, conn):
            raise exc
        self.drop(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except psycopg.Error:
                pass

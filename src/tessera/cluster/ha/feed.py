"""A performance standby's change feed on PostgreSQL (``interfaces.ChangeFeed``).

A thread of its own, with a dedicated autocommit connection, LISTENs on the feed's channel and
reads the feed (``storage/pg_changefeed.py``) when a notification arrives, and every
``POLL_SECONDS`` in any case. It numbers the keys it reads itself, contiguously, and keeps them
until the follower (``cluster/follower.py``) acknowledges them; ``position()`` is two words,
read before every request without a round trip.

What the standby may have missed (the connection was lost, the thread could not read for so long
that the active node may have pruned rows) leaves a gap in the numbering: the follower sees it and
rebuilds all its state from storage, as a worker does when the SQLite log was trimmed past it.
While the connection is down the epoch is 0: the standby forwards every request meanwhile.

``epoch`` is 0 until the first read has set the watermark, and changes with every ``start``:
the follower builds its state afresh for each.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from ...storage.pg_changefeed import KEEP_SECONDS, Position, current_position, read_changes

log = logging.getLogger("tessera.ha")

POLL_SECONDS = 1.0  # between reads without a notification
MIN_GAP_SECONDS = 0.002  # between reads under a stream of notifications
RECONNECT_SECONDS = 0.5
MAX_BUFFERED = 100_000  # keys held for the follower at most: beyond, a gap (it rebuilds)
GAP_KEY = ""  # the key of the row after a gap (the follower reloads before applying it)


class PostgreSQLChangeFeed:
    """The active node's commits as this standby follows them."""

    def __init__(self, dsn: str, changes: str) -> None:
        self.dsn = dsn
        self.changes = changes
        # Told on the feed's thread once a start's first read is done (the standby builds its
        # state there rather than in the first request). Keys arriving later are applied by
        # the next request, before it is served (``Follower.caught_up``).
        self.on_start: Callable[[], object] | None = None
        self._cond = threading.Condition()
        self._rows: list[tuple[int, str]] = []
        self._seq = 0
        self._epoch = 0
        self._generation = 0
        self._after = Position(0, [])  # what the last read's snapshot had not seen end
        self._reads_done = 0
        self._broken = False  # the connection failed since the last start: reconnect with a gap
        self._reads_started = 0
        self._waiters = 0
        self._last_read = 0.0
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._life = threading.Lock()  # the thread's start and stop, from the node's threads
        self._wake_r, self._wake_w = os.pipe()

    # -- ChangeFeed --------------------------------------------------------------------------
    def position(self) -> tuple[int, int]:
        return self._seq, self._epoch

    def changes_since(self, seq: int) -> list[tuple[int, str]]:
        with self._cond:
            return [row for row in self._rows if row[0] > seq]

    def acknowledge(self, seq: int) -> None:
        with self._cond:
            self._rows = [row for row in self._rows if row[0] > seq]

    # -- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        """Follow the feed from now on (a new epoch once the first read is done)."""
        self.stop()
        with self._life:
            stop = self._stop = threading.Event()
            self._generation += 1
            self._broken = False
            self._thread = threading.Thread(
                target=self._run, args=(stop, self._generation), name="ha-feed", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop following (epoch 0): the node became active, or left the cluster."""
        with self._life:  # a thread ``start`` made is started before another thread sees it
            stop, thread = self._stop, self._thread
            self._stop = self._thread = None
            self._epoch = 0
            if stop is not None:
                stop.set()
                os.write(self._wake_w, b"x")
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def close(self) -> None:
        self.stop()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def settle(self, timeout: float) -> bool:
        """Wait until every commit made before this call is in the feed's numbering (a client's
        forwarded write, before its answer goes out: read-your-writes): a read that began after
        it sees them all. False if that took longer than ``timeout`` or the feed is not running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._epoch:
                return False
            started = self._reads_started
            self._waiters += 1
            try:
                os.write(self._wake_w, b"x")
                while self._reads_done <= started:  # a read that began after this call
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._epoch:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._waiters -= 1

    def reached(self, xid: int, timeout: float) -> bool:
        """Wait until the feed has read the commit of transaction ``xid`` (a client's
        ``X-Vault-Index``): the next request served here applies it first. False if that took
        longer than ``timeout`` or the feed is not running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._epoch and self._after.saw(xid):
                return True
            self._waiters += 1
            try:
                while self._epoch and not self._after.saw(xid):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    os.write(self._wake_w, b"x")
                    self._cond.wait(min(left, 0.05))
                return bool(self._epoch)
            finally:
                self._waiters -= 1

    def _run(self, stop: threading.Event, generation: int) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self._connect(generation)
                self._wait(conn, stop)
                if not stop.is_set():
                    self._read(conn)
            except psycopg.Error as exc:
                log.warning("HA: the change feed's connection failed (standby rebuilds): %s", exc)
                _close(conn)
                conn = None
                with self._cond:  # nothing served from state that may go stale meanwhile
                    self._epoch, self._broken = 0, True
                    self._cond.notify_all()
                stop.wait(RECONNECT_SECONDS)
        _close(conn)

    def _connect(self, generation: int) -> psycopg.Connection[Any]:
        """LISTEN first, then the position: nothing committed in between is missed."""
        conn = psycopg.connect(self.dsn, autocommit=True, application_name="tessera-ha-feed")
        conn.execute(f"LISTEN {self.changes}")
        position = current_position(conn)
        with self._cond:
            reconnect = bool(self._epoch) or self._broken
            if reconnect:  # what happened meanwhile is unknown
                self._gap()
            self._broken = False
            self._after = position
            self._last_read = time.monotonic()
            self._epoch = generation
        if not reconnect and self.on_start is not None:
            try:
                self.on_start()
            except Exception:
                log.exception("HA: building the standby's state failed (the next request tries again)")
        return conn

    def _wait(self, conn: psycopg.Connection[Any], stop: threading.Event) -> None:
        """Until a notification arrives, a client waits (``settle``), or ``POLL_SECONDS``."""
        timeout = 0.0 if self._waiters else POLL_SECONDS
        ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        if conn.fileno() in ready:
            for _ in conn.notifies(timeout=0):  # consumed here; the read below covers them
                pass
        if not self._waiters:
            stop.wait(MIN_GAP_SECONDS)

    def _read(self, conn: psycopg.Connection[Any]) -> None:
        with self._cond:
            self._reads_started += 1
            after, stale = self._after, time.monotonic() - self._last_read > KEEP_SECONDS / 2
        now = time.monotonic()
        position, keys = read_changes(conn, self.changes, after)
        with self._cond:
            if stale:  # rows may be pruned that this standby never read
                self._gap()
            for key in keys:
                self._seq += 1
                self._rows.append((self._seq, key))
            if len(self._rows) > MAX_BUFFERED:
                self._rows.clear()
                self._gap()
            self._after = position
            self._reads_done += 1
            self._last_read = now
            self._cond.notify_all()

    def _gap(self) -> None:
        """Skip a number: the follower rebuilds rather than apply what follows (lock held)."""
        self._seq += 2
        self._rows.append((self._seq, GAP_KEY))


def _close(conn: psycopg.Connection[Any] | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except psycopg.Error:
            pass

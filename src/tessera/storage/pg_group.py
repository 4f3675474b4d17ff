"""Group commit on PostgreSQL: the writes that arrive while a statement is in flight go together
in the next one.

A write is one fenced statement, one round trip (``pg_write.py``); under load much of its cost
is that statement (the driver's call, PostgreSQL's parse, locks and WAL flush). A writer queues
its operations; when no statement is in flight it leads: it takes every queued write of its
``key`` (with HA: the fencing and the epoch the write proves) and runs them as one statement (one transaction, the fencing proof included as before).
Every writer still returns only once the statement holding its operations committed, with that
statement's answer for its own fencing check: nothing is acknowledged early, and nothing of a
fenced node commits. A statement that failed with an error of its own (not a lost connection:
then it may have committed, and every writer in it gets the error) wrote nothing, so each of its
writes is run again alone and a bad write fails only its own request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg

Ops = list[tuple[str, bytes | None]]
# Runs one statement for the operations of writes of one key; answers its row.
Run = Callable[[Ops, Any], Any]


class _Write:
    """One writer's operations. ``wake`` is released (once per ``signalled``) when the writer
    should look again: its write settled, or it may lead the next statement."""

    __slots__ = ("done", "error", "key", "ops", "row", "signalled", "wake")

    def __init__(self, ops: Ops, key: Any) -> None:
        self.ops = ops
        self.key = key
        self.done = False
        self.row: Any = None
        self.error: BaseException | None = None
        self.signalled = False
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit:
    """Writers of one storage backend, queued while a statement of theirs is in flight.

    One statement at a time. A writer that finds none in flight leads at once (with every queued
    write of its key); the others sleep on a lock of their own. When a statement ends, its
    leader wakes the first queued writer to lead the next one, then each writer of its own
    statement: a writer wakes once when its write settled, where a shared condition woke every
    queued writer at every statement (most of them to find their write still queued).
    """

    def __init__(self, run: Run) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._queue: list[_Write] = []  # in arrival order
        self._leading = False
        self.statements = 0  # how many statements the writes took (tests, tuning)

    def waiting(self) -> int:
        """How many writes are queued for the next statement."""
        with self._lock:
            return len(self._queue)

    def write(self, ops: Ops, key: Any) -> Any:
        """Commit ``ops`` (with others' writes of an equal ``key``, maybe); the row of the
        statement that held them."""
        mine = _Write(ops, key)
        with self._lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        while not lead:
            mine.wake.acquire()
            with self._lock:
                mine.signalled = False
                if mine.done:
                    break
                # Asked to lead; a writer that arrived meanwhile may have taken the lead first.
                lead = not self._leading
                self._leading = True
        if not mine.done:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        return mine.row

    def _lead(self, mine: _Write) -> None:
        """Every queued write of ``mine``'s key as one statement; then the lead is handed on."""
        key = mine.key
        with self._lock:
            batch = [w for w in self._queue if w.key == key]
            self._queue = [w for w in self._queue if w.key != key]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                for write in batch:
                    if not write.done:  # the leader was interrupted: nobody waits forever
                        write.error, write.done = RuntimeError("storage write interrupted"), True
                self._leading = False
                if self._queue:
                    _signal(self._queue[0])  # first: the next statement goes out while these wake
                for write in batch:
                    if write is not mine:
                        _signal(write)

    def _commit(self, batch: list[_Write]) -> None:
        try:
            row = self._statement([op for write in batch for op in write.ops], batch[0].key)
        except psycopg.Error as exc:
            if len(batch) == 1:
                _settle(batch, None, exc)
                return
            for write in batch:  # the statement wrote nothing: each write alone
                self._commit([write])
            return
        except Exception as exc:  # StorageUnavailable and the like: the same for every writer
            _settle(batch, None, exc)
            return
        _settle(batch, row, None)

    def _statement(self, ops: Ops, key: Any) -> Any:
        self.statements += 1
        return self._run(ops, key)


def _signal(write: _Write) -> None:
    """Wake ``write``'s writer (the group's lock held), once until it looked."""
    if not write.signalled:
        write.signalled = True
        write.wake.release()


def _settle(batch: list[_Write], row: Any, error: BaseException | None) -> None:
    for write in batch:
        write.row, write.error, write.done = row, error, True

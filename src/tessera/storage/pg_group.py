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
    __slots__ = ("done", "error", "key", "ops", "row")

    def __init__(self, ops: Ops, key: Any) -> None:
        self.ops = ops
        self.key = key
        self.done = False
        self.row: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Writers of one storage backend, queued while a statement of theirs is in flight."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._cond = threading.Condition()
        self._queue: list[_Write] = []
        self._leading = False
        self.statements = 0  # how many statements the writes took (tests, tuning)

    def waiting(self) -> int:
        """How many writes are queued for the next statement."""
        with self._cond:
            return len(self._queue)

    def write(self, ops: Ops, key: Any) -> Any:
        """Commit ``ops`` (with others' writes of an equal ``key``, maybe); the row of the
        statement that held them."""
        mine = _Write(ops, key)
        with self._cond:
            self._queue.append(mine)
            while self._leading and not mine.done:
                self._cond.wait()
            if not mine.done:
                self._leading = True
                batch = [w for w in self._queue if w.key == key]
                self._queue = [w for w in self._queue if w.key != key]
        if not mine.done:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._leading = False
                    for write in batch:
                        if not write.done:  # the leader was interrupted: nobody waits forever
                            write.error, write.done = RuntimeError("storage write interrupted"), True
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.row

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


def _settle(batch: list[_Write], row: Any, error: BaseException | None) -> None:
    for write in batch:
        write.row, write.error, write.done = row, error, True

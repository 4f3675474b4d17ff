"""A reader-writer lock: requests share the state, a rebuild of it has it alone.

A worker process rebuilds its state (caches, mount table, stores) when the active process
commits something it cannot invalidate key by key. No request may run meanwhile, or it would
see the state half-built; but requests need no exclusion among themselves, and serializing
them (as one plain lock did) cost a quarter of a worker's throughput. So:

- any number of threads hold the lock **shared** at once;
- one thread holds it **exclusive**, and only while no thread holds it shared;
- a thread waiting for it exclusive stops new shared holders from entering, so a stream of
  requests never starves a rebuild;
- both are reentrant in the thread that holds them, and the exclusive holder may also take it
  shared; taking it exclusive while holding it only shared would wait forever, so it raises.
"""

from __future__ import annotations

import threading
from types import TracebackType


class ReadWriteLock:
    """Shared by requests, exclusive for a rebuild; writers preferred (see the module)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0  # threads holding it shared (each counted once)
        self._writer = 0  # the exclusive holder's thread ident, 0 if none
        self._writer_depth = 0
        self._writers_waiting = 0
        self._mine = threading.local()  # this thread's shared depth, and whether it was counted
        self.shared = _Shared(self)
        self.exclusive = _Exclusive(self)

    def acquire_shared(self) -> None:
        mine = self._mine
        depth: int = getattr(mine, "depth", 0)
        if depth:
            mine.depth = depth + 1
            return
        if self._writer == threading.get_ident():
            mine.depth, mine.counted = 1, False  # inside its own exclusive hold
            return
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        mine.depth, mine.counted = 1, True

    def release_shared(self) -> None:
        mine = self._mine
        depth: int = getattr(mine, "depth", 0)
        if not depth:
            raise RuntimeError("release of a shared hold this thread does not have")
        mine.depth = depth - 1
        if depth > 1 or not mine.counted:
            return
        with self._cond:
            self._readers -= 1
            if not self._readers and self._writers_waiting:
                self._cond.notify_all()

    def acquire_exclusive(self) -> None:
        me = threading.get_ident()
        if self._writer == me:
            self._writer_depth += 1
            return
        if getattr(self._mine, "depth", 0):
            raise RuntimeError("a shared hold cannot become exclusive: it would wait for itself")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer, self._writer_depth = me, 1

    def release_exclusive(self) -> None:
        if self._writer != threading.get_ident():
            raise RuntimeError("release of an exclusive hold this thread does not have")
        self._writer_depth -= 1
        if self._writer_depth:
            return
        with self._cond:
            self._writer = 0
            self._cond.notify_all()


class _Shared:
    """``with lock.shared:`` (an object, not a generator: this runs on every request)."""

    __slots__ = ("_lock",)

    def __init__(self, lock: ReadWriteLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire_shared()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release_shared()


class _Exclusive:
    """``with lock.exclusive:``."""

    __slots__ = ("_lock",)

    def __init__(self, lock: ReadWriteLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire_exclusive()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release_exclusive()

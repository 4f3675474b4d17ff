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

A shared hold is taken on every request, and almost never meets a writer, so it takes no mutex:
the thread registers itself in ``_held`` (one dict store), then looks for a writer; a writer
announces itself (``_writers_waiting``, under the mutex), then looks for registered threads.
Each step is one operation under the GIL, so whichever comes second sees the other: a reader
that sees a writer steps back out and waits on the mutex, and a writer that sees a reader waits
until that reader leaves (a leaving reader that sees a writer waiting wakes it). This relies on
the GIL ordering those steps (CPython 3.11, no free-threaded build).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from threading import get_ident
from types import TracebackType


class ReadWriteLock:
    """Shared by requests, exclusive for a rebuild; writers preferred (see the module)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._writer = 0  # the exclusive holder's thread ident, 0 if none
        self._writer_depth = 0
        self._writers_waiting = 0
        # Thread ident -> its shared depth: positive for a shared holder (the readers a writer
        # waits for), negative when taken inside its own exclusive hold. Each thread touches
        # only its own key.
        self._held: dict[int, int] = {}
        self.shared = _Hold(self.acquire_shared, self.release_shared)
        self.exclusive = _Hold(self.acquire_exclusive, self.release_exclusive)

    def acquire_shared(self) -> None:
        me = get_ident()
        held = self._held
        depth = held.get(me, 0)
        if depth:
            held[me] = depth + 1 if depth > 0 else depth - 1
            return
        if self._writer == me:
            held[me] = -1  # inside its own exclusive hold
            return
        held[me] = 1  # first registered, then looking for a writer: see the module
        if self._writer or self._writers_waiting:
            self._make_way(me)

    def _make_way(self, me: int) -> None:
        """A writer holds the lock or waits for it: step out until it is done, then come back."""
        held = self._held
        with self._mutex:
            del held[me]
            self._cond.notify_all()  # a writer may have seen this thread registered
            while self._writer or self._writers_waiting:
                self._cond.wait()
            held[me] = 1

    def release_shared(self) -> None:
        me = get_ident()
        held = self._held
        depth = held.get(me, 0)
        if depth == 1:
            del held[me]
            if self._writers_waiting:  # it may be waiting for this thread to leave
                with self._mutex:
                    self._cond.notify_all()
        elif depth == -1:
            del held[me]
        elif depth:
            held[me] = depth - 1 if depth > 0 else depth + 1
        else:
            raise RuntimeError("release of a shared hold this thread does not have")

    def acquire_exclusive(self) -> None:
        me = get_ident()
        if self._writer == me:
            self._writer_depth += 1
            return
        if self._held.get(me, 0):
            raise RuntimeError("a shared hold cannot become exclusive: it would wait for itself")
        with self._mutex:
            self._writers_waiting += 1
            try:
                while self._writer or self._sharing():
                    self._cond.wait()
                # Before the announcement is withdrawn: a reader arriving in between must see
                # a writer (it takes no mutex).
                self._writer, self._writer_depth = me, 1
            finally:
                self._writers_waiting -= 1

    def _sharing(self) -> bool:
        """Whether any other thread holds the lock shared (a copy of the depths: threads change
        their own entries meanwhile)."""
        return any(depth > 0 for depth in list(self._held.values()))

    def release_exclusive(self) -> None:
        if self._writer != get_ident():
            raise RuntimeError("release of an exclusive hold this thread does not have")
        self._writer_depth -= 1
        if self._writer_depth:
            return
        with self._mutex:
            self._writer = 0
            self._cond.notify_all()


class _Hold:
    """``with lock.shared:`` / ``with lock.exclusive:``: an object with bound methods, not a
    generator, since this runs on every request."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, acquire: Callable[[], None], release: Callable[[], None]) -> None:
        self._acquire = acquire
        self._release = release

    def __enter__(self) -> None:
        self._acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

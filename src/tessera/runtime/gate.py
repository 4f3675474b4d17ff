"""One request runs Python at a time; a request waiting on storage steps aside.

Measured on the threaded listener: with 32 request threads, threads taking the GIL from each
other at every release (a syscall, a Rust call) doubled the CPU a request costs (token create,
in memory: ~410 µs with one thread, ~850 µs with 32). One thread would be cheapest, but a
durable write waits for its fsync, and group commit only pays off when many writers wait on
the same one. So requests take this gate to run; a thread that is about to wait for a commit
leaves it (:meth:`RunGate.blocking`) and takes it again afterwards, letting the next request
run and queue its write into the same commit.

The gate is soft: a request that finds it held by a thread that has held it for longer than
``SLICE`` (blocked on something slow that did not step aside: a database plugin, an audit
socket) runs without it, as if there were no gate, so nothing ever waits behind a stuck call
for more than ``SLICE``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SLICE = 0.01


class RunGate:
    def __init__(self, slice_seconds: float = SLICE) -> None:
        self.slice = slice_seconds
        self._lock = threading.Lock()
        self._since = 0.0  # when the current holder took the gate (0: free)
        self._local = threading.local()

    def enter(self) -> None:
        """Take the gate, or go on without it if its holder looks blocked."""
        lock = self._lock
        if not lock.acquire(blocking=False):
            while True:
                since = self._since
                if since and time.monotonic() - since > self.slice:
                    self._local.held = False  # overflow: the holder is stuck outside Python
                    return
                if lock.acquire(timeout=self.slice):
                    break
        self._since = time.monotonic()
        self._local.held = True

    def leave(self) -> None:
        if getattr(self._local, "held", False):
            self._local.held = False
            self._since = 0.0
            self._lock.release()

    def held(self) -> bool:
        return bool(getattr(self._local, "held", False))

    @contextmanager
    def blocking(self) -> Iterator[None]:
        """Around a wait that does no Python work (a commit): others run meanwhile."""
        if not self.held():
            yield
            return
        self.leave()
        try:
            yield
        finally:
            self.enter()


# The process's gate; the threaded listener turns it on for storage that rarely blocks.
GATE: RunGate | None = None

# Whether this thread's request waited on a commit: the dispatcher (server/dispatch.py) learns
# from it which requests to keep off the single runner thread.
_waits = threading.local()


def clear_waited() -> None:
    _waits.waited = False


def waited() -> bool:
    return bool(getattr(_waits, "waited", False))


@contextmanager
def stepping_aside() -> Iterator[None]:
    """``GATE.blocking()`` when the gate is on, else nothing (storage code calls this)."""
    _waits.waited = True
    gate = GATE
    if gate is None:
        yield
        return
    with gate.blocking():
        yield

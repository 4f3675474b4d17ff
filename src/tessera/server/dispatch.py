"""Which thread serves a request: the runner, or the side pool for requests that run long.

Measured on a 2-core machine (docs/performance.md): one Python thread serving every request back
to back costs about half the CPU per request of 16-32 threads taking turns (batch-token creation
~200 µs against ~380 µs, a KV read ~120 µs against ~235 µs), because consecutive requests on one
thread never hand the GIL to another. So granian gets a single Python thread, the *runner*.

One thread must never be stuck behind one request. Writes do not stop it: they hand their
transaction to the storage's committer and the answer waits instead of the thread
(``storage/sqlite.py``). What remains is a request that runs long (an RSA key generation) or
that does wait on something (a commit outside a deferred answer, a slow lock). Those go to a
*side pool* of threads, which answer through granian's protocol object when they are done
(granian sends a response whenever it arrives, from any thread). Which requests those are is
learned, not declared: the same path can be cheap or not depending on the body. After each
request the :class:`RouteHistory` records whether it waited or ran over ``LONG_SECONDS``: per
method and path, and per method and parent path, so that ever-new names in one folder
(``transit/keys/a``, ``transit/keys/b``) are recognised together. A route goes to the pool once
most of its recent requests were long, and comes back when they stop being long; a route never
seen runs on the runner.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..runtime import gate
from ..runtime.gate import RunGate
from .render import BASE_HEADERS_STR, error_body

log = logging.getLogger("tessera.http")

# Time above which a request counts as long: such requests go to the pool too, so that a slow
# key generation does not hold every other request up behind it on the runner.
LONG_SECONDS = 0.005
_DECAY = 0.7  # weight of the history against the newest request
_MAX_ROUTES = 4096
DEFAULT_THREADS = 32
LOCAL_STORAGE = frozenset({"inmem", "sqlite", "file"})


def parent_of(path: str) -> str:
    """The folder of a path, the key under which ever-new names are learned together."""
    cut = path.rstrip("/").rfind("/")
    return path[: cut + 1] if cut > 0 else path


_PARENTS: dict[str, str] = {}  # parent_of's answers for the paths seen (every request asks twice)


def _parent(path: str) -> str:
    """``parent_of(path)``, remembered (bounded: a flood of distinct paths only recomputes)."""
    parent = _PARENTS.get(path)
    if parent is None:
        parent = parent_of(path)
        if len(_PARENTS) >= _MAX_ROUTES:
            _PARENTS.clear()
        _PARENTS[path] = parent
    return parent


class RouteHistory:
    """Per (method, path): how often recent requests were long. Lock-free: races lose a sample."""

    def __init__(self, max_routes: int = _MAX_ROUTES) -> None:
        self.max_routes = max_routes
        self._scores: dict[tuple[str, str], float] = {}

    def waits(self, method: str, path: str) -> bool:
        scores = self._scores
        score = scores.get((method, path))
        if score is None:
            score = scores.get((method, _parent(path)))
        return score is not None and score >= 0.5

    def record(self, method: str, path: str, waited: bool) -> None:
        scores = self._scores
        sample = 1.0 if waited else 0.0
        route, folder = (method, path), (method, _parent(path))
        if scores.get(route) == sample == scores.get(folder):
            return  # the common case, a route behaving as it always has: nothing to change
        if len(scores) >= self.max_routes:
            scores.clear()  # bounded: a flood of distinct paths only costs relearning
        for key in (route, folder):
            old = scores.get(key)
            score = sample if old is None else old * _DECAY + sample * (1 - _DECAY)
            scores[key] = sample if abs(score - sample) < 0.01 else score  # settle, then skip


class SidePool:
    """Threads that serve the requests the runner hands over; started on first use."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._idle == 0 and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"tessera-side-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                self._idle += 1
                thread.start()
            self._idle -= 1
        self._queue.put((fn, args))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            finally:
                with self._lock:
                    self._idle += 1

    def threads(self) -> int:
        return len(self._threads)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)


class Runner:
    """The one thread that serves complete requests back to back, fed by granian's threads."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._busy = False
        self._runner_thread = threading.Thread(target=self._run, name="tessera-runner", daemon=True)
        self._runner_thread.start()

    def idle(self) -> bool:
        """Nothing running or waiting here (a hint: another thread may be about to submit)."""
        return not self._busy and self._queue.empty()

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._queue.put((fn, args))

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            fn, args = item
            self._busy = True
            try:
                fn(*args)
            except Exception:  # answered by fn in every known case; the runner must go on
                log.exception("unhandled error on the runner")
            finally:
                self._busy = False

    def close(self) -> None:
        self._queue.put(None)


class Dispatcher:
    """The runner's choice for each request, and the pool it hands long requests to."""

    def __init__(self, pool_size: int) -> None:
        self.history = RouteHistory()
        self.pool = SidePool(pool_size)
        self.handed_over = 0  # requests served by the pool (tests and the benchmark read it)

    def serve(self, method: str, path: str, answer: Callable[..., int], args: tuple[Any, ...]) -> int:
        """Run ``answer(*args)`` here (the runner) or in the pool, by what the route did lately.

        On the runner the wall clock is what counts (how long everyone else waited, and
        ``perf_counter`` is nearly free); in the pool, the thread's CPU time, since waiting for
        the run gate there says nothing about the request.
        """
        if self.history.waits(method, path):
            self.handed_over += 1
            self.pool.submit(self._watched, time.thread_time, method, path, answer, args)
            return 0  # answered by the pool thread
        gate.clear_waited()  # _watched(time.perf_counter, ...), spelled out: every request comes here
        started = time.perf_counter()
        try:
            return answer(*args)
        finally:
            waited = gate.waited() or time.perf_counter() - started > LONG_SECONDS
            self.history.record(method, path, waited)

    def _watched(
        self,
        clock: Callable[[], float],
        method: str,
        path: str,
        answer: Callable[..., int],
        args: tuple[Any, ...],
    ) -> int:
        gate.clear_waited()
        started = clock()
        try:
            return answer(*args)
        finally:
            self.history.record(method, path, gate.waited() or clock() - started > LONG_SECONDS)


def request_threads() -> int:
    """Python threads that may serve requests at once (``TESSERA_HTTP_THREADS``, default 32)."""
    try:
        return max(1, int(os.environ.get("TESSERA_HTTP_THREADS", DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def dispatcher_for(app: Any) -> Dispatcher | None:
    """One runner thread plus a side pool for long requests, with the run gate between them.

    Only where the gate is on (local storage, PostgreSQL with HA's cache): without a cache every
    PostgreSQL read waits on the network, and threads overlap those; with it, the routes that
    still wait are learned and go to the side pool. ``TESSERA_HTTP_RUNNER=0`` turns it off.
    """
    if app.gate is None or os.environ.get("TESSERA_HTTP_RUNNER", "1") == "0":
        return None
    return Dispatcher(request_threads())


def gate_for(app: Any) -> RunGate | None:
    """The process's run gate, for storage that only blocks on commits (which step aside).

    Not for PostgreSQL without HA: its every read is a network round trip, and requests should
    overlap those. With HA its reads come from the cache (``Physical.cacheable``), and the round
    trips it still makes step aside. ``TESSERA_RUN_GATE=0`` turns it off.
    """
    if os.environ.get("TESSERA_RUN_GATE", "1") == "0":
        return None
    physical = app.core.physical
    if physical.name not in LOCAL_STORAGE and not physical.cacheable:
        return None
    if gate.GATE is None:
        gate.GATE = RunGate()
    return gate.GATE


def route_or_500(app: Any, args: tuple[Any, ...]) -> None:
    """``app._route(*args)``, a front's last guard: whatever escapes it is logged and answered
    500, so that one request's failure never ends the thread (or loop) serving the others."""
    try:
        app._route(*args)
    except Exception:
        log.exception("request from %s failed", args[6])
        args[0].response_bytes(500, BASE_HEADERS_STR, error_body(["internal error"]))

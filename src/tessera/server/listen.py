"""How a listener runs on granian: the threaded (WSGI-worker) mode by default, ASGI on request.

Every Tessera request is synchronous work (the core, storage, fsync waits). On granian's ASGI
interface that work has to leave the event loop for a thread pool and come back through it,
and that round trip cost more than the request itself: measured on a 2-core machine, a bare
handler took ~190 µs of CPU per request over ASGI + executor, ~100 µs over ASGI or RSGI
inline, and ~45 µs over granian's WSGI worker, where Rust parses HTTP and calls Python directly
on one of its own threads (docs/performance.md has the figures for the whole server).

So by default the embedded server (still started and stopped from this process's event loop)
spawns granian's WSGI worker with :meth:`App.serve_threaded` as the callback. That worker is
not part of granian's public embedding API; ``TESSERA_HTTP_MODE=asgi`` selects the ASGI path,
which is also what apps that only speak ASGI (the recovery server) get.

On local storage (in memory, SQLite) granian gets one Python thread, the runner, and requests
that run long are handed to a side pool (``server/dispatch.py`` says why and how).
``TESSERA_HTTP_THREADS`` (default 32) is how many Python threads serve requests at once (the side
pool's size; on PostgreSQL, granian's own, enough for many requests to wait on the network at
once); more requests wait in Rust. granian's backpressure stays at the listener's backlog (1024): it bounds
open *connections*, and idle keep-alive clients must not lock others out.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..core import gate
from ..core.gate import RunGate
from .app import App
from .dispatch import Dispatcher

log = logging.getLogger("tessera.server")

DEFAULT_THREADS = 32
LOCAL_STORAGE = frozenset({"inmem", "sqlite", "file"})


def threads() -> int:
    try:
        return max(1, int(os.environ.get("TESSERA_HTTP_THREADS", DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def threaded_mode(app: Any) -> bool:
    """Threaded only for the plain App (subclasses may override the ASGI entry point)."""
    return type(app) is App and os.environ.get("TESSERA_HTTP_MODE", "threaded").lower() != "asgi"


def make_server(app: Any, host: str, port: int, **kwargs: Any) -> Any:
    """A granian embedded server for ``app``; ``await s.serve()`` runs it, ``s.stop()`` ends it."""
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        log_enabled=False,
        backlog=1024,
        **kwargs,
    )
    if not threaded_mode(app):
        return server
    app.gate = _gate_for(app)
    app.dispatcher = _dispatcher_for(app)
    py_threads = 1 if app.dispatcher is not None else threads()
    try:
        spawn = _threaded_spawner(app.serve_threaded, py_threads)
    except ImportError as exc:  # a granian without the worker this relies on
        log.warning("granian's WSGI worker is unavailable (%s); serving over ASGI", exc)
        app.gate = app.dispatcher = None
        return server
    app.set_inline()
    return _Threaded(server, spawn, app.dispatcher)


def _dispatcher_for(app: App) -> Dispatcher | None:
    """One runner thread plus a side pool for long requests, with the run gate between them.

    Only where the gate is on (local storage): on PostgreSQL every read waits on the network,
    and granian's own threads overlap those. ``TESSERA_HTTP_RUNNER=0`` turns it off.
    """
    if app.gate is None or os.environ.get("TESSERA_HTTP_RUNNER", "1") == "0":
        return None
    return Dispatcher(threads())


def _gate_for(app: App) -> RunGate | None:
    """The process's run gate, for storage that only blocks on commits (which step aside).

    Not for PostgreSQL: its every read is a network round trip, and requests should overlap
    those. ``TESSERA_RUN_GATE=0`` turns it off.
    """
    if os.environ.get("TESSERA_RUN_GATE", "1") == "0":
        return None
    if app.core.physical.name not in LOCAL_STORAGE:
        return None
    if gate.GATE is None:
        gate.GATE = RunGate()
    return gate.GATE


class _Threaded:
    """The embedded server started with the threaded spawner instead of the ASGI one."""

    def __init__(self, server: Any, spawn: Any, dispatcher: Dispatcher | None) -> None:
        self.server = server
        self.spawn = spawn
        self.dispatcher = dispatcher

    async def serve(self) -> None:
        await self.server.serve(spawn_target=self.spawn)

    def stop(self) -> None:
        self.server.stop()
        if self.dispatcher is not None:
            self.dispatcher.pool.close()


def _threaded_spawner(callback: Any, py_threads: int) -> Any:
    """granian's worker target, as its own multi-threaded server writes it for WSGI."""
    from granian._futures import _new_cbscheduler
    from granian._granian import WSGIWorker
    from granian.server.embed import AsyncWorker

    @AsyncWorker.wrap_target  # type: ignore[misc]
    async def spawn(
        worker_id: int,
        shutdown_event: Any,
        _target: Any,
        sock: Any,
        loop: Any,
        runtime_threads: int,
        runtime_blocking_threads: int | None,
        _blocking_threads: int,
        blocking_threads_idle_timeout: int,
        backpressure: int,
        _task_impl: Any,
        http_mode: Any,
        http1_settings: Any,
        http2_settings: Any,
        _websockets: bool,
        static_path: Any,
        _log_access_fmt: str | None,
        ssl_ctx: Any,
        _scope_opts: dict[str, Any],
    ) -> None:
        done = loop.create_future()

        def on_shutdown() -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        shutdown_event.add_cb(on_shutdown)
        worker = WSGIWorker(
            worker_id,
            sock,
            None,
            runtime_threads,
            runtime_blocking_threads,
            py_threads,
            blocking_threads_idle_timeout,
            backpressure,
            http_mode,
            http1_settings,
            http2_settings,
            static_path,
            *ssl_ctx,
            (None, None),
        )
        worker.serve_mtr(_new_cbscheduler(loop, callback, impl_asyncio=True), loop, shutdown_event)
        await done

    return spawn

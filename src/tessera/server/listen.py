"""How a listener runs on granian: the threaded (WSGI-worker) mode by default, ASGI on request.

Plain-HTTP listeners are served by the event-loop front instead (``server/loop_front.py``, which
:func:`make_server` returns for them), unless ``TESSERA_HTTP_FRONT=granian``; granian serves TLS
listeners that ask for no client certificates (rustls, HTTP/2) and the recovery server.

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

granian's Python threads are the *intake* (up to ``TESSERA_HTTP_INTAKE_THREADS``, 1024): they
read each request's body, so that no slow client holds up anyone else (``server/intake.py``).
On local storage (in memory, SQLite) they hand the complete request to one Python thread, the
runner, and requests that run long are handed on to a side pool (``server/dispatch.py`` says
why and how). A request with a body runs on the intake thread that read it while the runner is
idle; ``TESSERA_HTTP_BODIES_ON_RUNNER=1`` hands those to the runner too (a setting to compare the
two on a quiet machine: docs/performance.md, issue 29's round four). ``TESSERA_HTTP_THREADS`` (default 32) is how many Python threads serve requests at
once (the side pool's size; on PostgreSQL, how many intake threads serve at once, enough for
many requests to wait on the network); more requests wait.

Hostile clients: headers must
arrive within ``http_read_header_timeout`` (hyper closes the connection otherwise, idle keep-alive
connections included); granian's backpressure, which bounds open *connections* per listener, is
the listener's connection cap (by default what the open-file limit allows, ``server/fdlimit.py``),
so that a thousand idle sockets do not lock others out.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server

from .app import App
from .config import ListenerConfig
from .dispatch import Runner, dispatcher_for, gate_for, request_threads
from .fdlimit import connection_cap
from .intake import ReadWatch
from .loop_front import LoopFrontServer

log = logging.getLogger("tessera.server")

# granian's Python threads, the intake: each slow client's body holds one (server/intake.py).
DEFAULT_INTAKE_THREADS = 1024


def intake_threads() -> int:
    try:
        return max(
            request_threads(), int(os.environ.get("TESSERA_HTTP_INTAKE_THREADS", DEFAULT_INTAKE_THREADS))
        )
    except ValueError:
        return DEFAULT_INTAKE_THREADS


def max_body_reads(intake: int) -> int:
    """Bodies read at once: the intake less a share kept for requests that need no waiting."""
    return max(1, intake - max(8, intake // 16))


def front() -> str:
    """Which server answers plain HTTP: ``loop`` (server/loop_front.py) or ``granian``
    (``TESSERA_HTTP_FRONT=granian``, the threaded worker below, kept to compare the two)."""
    return "granian" if os.environ.get("TESSERA_HTTP_FRONT", "loop").lower() == "granian" else "loop"


def threaded_mode(app: Any) -> bool:
    """Threaded only for the plain App (subclasses may override the ASGI entry point)."""
    return type(app) is App and os.environ.get("TESSERA_HTTP_MODE", "threaded").lower() != "asgi"


def make_server(
    app: Any, host: str, port: int, *, limits: ListenerConfig | None = None, **kwargs: Any
) -> Any:
    """A granian embedded server for ``app``; ``await s.serve()`` runs it, ``s.stop()`` ends it."""
    limits = limits or ListenerConfig()
    # Plain HTTP is HTTP/1 only, as in Go's server (no h2c): hyper's HTTP/1 connection applies the
    # header timeout from the first byte it waits for, where the version sniffing of "auto" mode
    # waits for a silent client forever. Over TLS, HTTP/2 is offered as Vault offers it.
    if "http" not in kwargs:
        kwargs["http"] = HTTPModes.auto if kwargs.get("ssl_cert") else HTTPModes.http1
    if "ssl_cert" not in kwargs and threaded_mode(app) and front() == "loop":
        return LoopFrontServer(app, host, port, limits)
    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        log_enabled=False,
        backlog=1024,
        backpressure=connection_cap(limits.max_connections),
        http1_settings=_http1_settings(limits),
        **kwargs,
    )
    if not threaded_mode(app):
        return server
    app.gate = gate_for(app)
    app.dispatcher = dispatcher_for(app)
    try:
        spawn = _threaded_spawner(app.serve_threaded, intake_threads())
    except ImportError as exc:  # a granian without the worker this relies on
        log.warning("granian's WSGI worker is unavailable (%s); serving over ASGI", exc)
        app.gate = app.dispatcher = None
        return server
    app.intake = ReadWatch(limits.http_read_timeout, max_reads=max_body_reads(intake_threads()))
    if app.dispatcher is not None:
        app.runner = Runner()
        app.bodies_on_runner = os.environ.get("TESSERA_HTTP_BODIES_ON_RUNNER", "0") == "1"
    else:
        app.slots = threading.BoundedSemaphore(request_threads())
    app.set_inline()
    return _Threaded(server, spawn, app)


def _http1_settings(limits: ListenerConfig) -> Any:
    """hyper's header read timeout is also how long an idle keep-alive connection may wait for
    its next request: the shorter of Vault's two settings (a zero means none, as in Go)."""
    timeouts = [t for t in (limits.http_read_header_timeout, limits.http_idle_timeout) if t > 0]
    # hyper needs some timeout; without either setting, a day stands for "none".
    seconds = min(timeouts) if timeouts else 86400
    return HTTP1Settings(header_read_timeout=seconds * 1000)


class _Threaded:
    """The embedded server started with the threaded spawner instead of the ASGI one."""

    def __init__(self, server: Any, spawn: Any, app: App) -> None:
        self.server = server
        self.spawn = spawn
        self.app = app

    async def serve(self) -> None:
        await self.server.serve(spawn_target=self.spawn)

    def retire(self) -> None:
        """Replaced by a new server (a TLS reload): stop accepting, and leave the app's threads
        to the requests in flight, which granian lets finish after this returns."""
        self.server.stop()

    def stop(self) -> None:
        self.server.stop()
        app = self.app
        if app.intake is not None:
            app.intake.close()
        if app.runner is not None:
            app.runner.close()
        if app.dispatcher is not None:
            app.dispatcher.pool.close()


# The positional arguments granian's embedded Server passes a worker target after the event loop,
# as its own ``Server._spawn_asgi_worker`` declares them (checked against granian 2.8.9;
# tests/server/test_listen_granian.py fails if a granian release changes them).
GRANIAN_SPAWN_ARGS = (
    "worker_id",
    "shutdown_event",
    "callback",
    "sock",
    "loop",
    "runtime_threads",
    "runtime_blocking_threads",
    "blocking_threads",
    "blocking_threads_idle_timeout",
    "backpressure",
    "task_impl",
    "http_mode",
    "http1_settings",
    "http2_settings",
    "websockets",
    "static_path",
    "log_access_fmt",
    "ssl_ctx",
    "scope_opts",
)


def _threaded_spawner(callback: Any, py_threads: int) -> Any:
    """granian's worker target, as its own multi-threaded server writes it for WSGI.

    The one place that uses granian's private API (checked against granian 2.8.9): embedding
    offers ASGI and RSGI workers only, so the WSGI worker, its callback scheduler and the target
    wrapper come from granian's internals. They are imported here, where an ImportError means
    "serve over ASGI instead" (see make_server).
    """
    from granian._futures import _new_cbscheduler
    from granian._granian import WSGIWorker
    from granian.server.embed import AsyncWorker

    @AsyncWorker.wrap_target  # type: ignore[misc]
    async def spawn(*args: Any) -> None:
        a = dict(zip(GRANIAN_SPAWN_ARGS, args, strict=True))
        loop, shutdown_event = a["loop"], a["shutdown_event"]
        done = loop.create_future()

        def on_shutdown() -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        shutdown_event.add_cb(on_shutdown)
        worker = WSGIWorker(
            a["worker_id"],
            a["sock"],
            None,
            a["runtime_threads"],
            a["runtime_blocking_threads"],
            py_threads,
            a["blocking_threads_idle_timeout"],
            a["backpressure"],
            a["http_mode"],
            a["http1_settings"],
            a["http2_settings"],
            a["static_path"],
            *a["ssl_ctx"],
            (None, None),
        )
        worker.serve_mtr(_new_cbscheduler(loop, callback, impl_asyncio=True), loop, shutdown_event)
        await done

    return spawn

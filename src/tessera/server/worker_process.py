"""A worker process's start: the active process's config, its storage read only, its listeners.

On SQLite the worker follows the change log in the file (``cluster/feed.py``); on PostgreSQL the
change feed in the database (``cluster/pg_worker.py``, loaded by name: it needs psycopg).

The active process starts it (``cluster/pool.py``) with ``python -m tessera.server.worker_process``
and tells it, over its standard input, where things are. The bootstrap lives here, beside the
listeners and the config it needs; what the worker does with each request is ``cluster/``'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import signal
import sys
import threading
from typing import Any

from ..cluster.feed import SQLiteChangeFeed
from ..cluster.forwarding import NO_ACTIVE, HTTPForwarder
from ..cluster.pool import follow_keyrings, read_hello
from ..cluster.shared_state import SharedState
from ..cluster.standby import Standby
from ..core import registry
from ..core.core import Core
from ..runtime.scheduling import use_batch_scheduling
from ..storage.opening import open_reader
from ..storage.sqlite_reader import SQLiteReader
from .command import build_listeners, core_config, reload_tls_soon, setup_logging, stop_on_signals
from .config import ServerConfig, load_config
from .listeners import Listeners
from .render import BASE_HEADERS_STR, error_body

# A worker on PostgreSQL: its feed and role need psycopg (~180 ms to import), loaded by this name.
PG_WORKER_MODULE = "tessera.cluster.pg_worker"


def main() -> int:
    """A worker: the active process's config, its storage read only, its keyring from the pipe."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until its listeners can reload (``_serve``)
    hello = read_hello()
    if hello is None:
        return 1
    os.environ["TESSERA_HTTP_MODE"] = "threaded"  # forwarding lives in the threaded path
    use_batch_scheduling()  # inherited from the active process already; again for its own threads
    cfg = _worker_config(hello)
    setup_logging(hello.get("log_level") or cfg.log_level)
    physical = open_reader(cfg.storage_type, cfg.storage_options)
    core = Core(physical, core_config(cfg, dev=False, recovery=False))
    registry.import_all()
    shared = SharedState(hello["shared"], create=False)
    forwarder = HTTPForwarder(hello["internal"], hello["secret"], (BASE_HEADERS_STR, error_body([NO_ACTIVE])))
    standby: Standby
    if isinstance(physical, SQLiteReader):
        standby = Standby(core, SQLiteChangeFeed(shared, physical, int(hello.get("slot", -1))), forwarder)
    else:
        pg: Any = importlib.import_module(PG_WORKER_MODULE)
        standby = pg.worker_standby(core, physical, shared, forwarder)
    pipe = threading.Thread(
        target=follow_keyrings,
        args=(standby.follower.offer_keyring,),
        name="tessera-worker-pipe",
        daemon=True,
    )
    pipe.start()

    def prepare(app: Any) -> None:
        app.standby = standby

    listeners = build_listeners(cfg, core, prepare=prepare)
    code = asyncio.run(_serve(listeners))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # not a normal exit: the pipe thread may be inside a read of stdin


def _worker_config(hello: dict[str, Any]) -> ServerConfig:
    cfg = load_config(hello["config"])
    if hello.get("listen"):  # workers on an address of their own (tests, a proxy in front)
        first = cfg.listeners[0]
        cfg.listeners = [dataclasses.replace(first, address=hello["listen"])]
    return cfg


async def _serve(listeners: Listeners) -> int:
    """Serve until SIGTERM; SIGHUP (passed on by the active process) reloads TLS certificates."""
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, listeners)
    loop.add_signal_handler(signal.SIGHUP, reload_tls_soon, listeners)
    await listeners.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())

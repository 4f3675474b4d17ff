"""The Python side of each scenario, in process: µs per request with no network and no wrk.

    python -m bench.inproc [--scenarios kv1,lookup] [--requests 20000] [--sqlite] [--profile] [--split]

A dev core (or one on SQLite) behind the real :class:`App`, called through
``App.serve_threaded`` exactly as granian's worker calls it, with the state of
``bench/state.py``. The figure excludes what Rust and the kernel spend per request, and it is
far steadier than a load test on a busy machine: it is how each optimisation was judged.
``--profile`` prints cProfile's top functions per scenario. ``--runner`` puts a runner thread behind the app as a server has (``server/dispatch.py``) and
counts the CPU of every thread of the process: what a hand-over to the runner costs. ``--waiters N`` runs N more threads that wake every 200 µs and run a little
Python, as granian's threads do between requests, and counts the CPU of every thread: what a
request pays when it lets go of the GIL (a system call that releases it wakes a waiter).
``--split`` times each scenario again
with the core answering a prepared response at once: what the HTTP layer (``App``: headers, body,
request building, rendering) costs, and by difference what the core and the handler cost.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tessera.core.core import Core, CoreConfig
from tessera.routing.mounts import MountEntry
from tessera.server.app import App
from tessera.server.dispatch import Runner
from tessera.storage.base import Physical
from tessera.storage.inmem import InmemPhysical
from tessera.tokens.entry import TokenEntry

from .scenarios import SCENARIOS
from .scenarios import Request as BenchRequest
from .state import prepare

ROOT = "root"


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        out, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return out


class _Proto:
    """granian's protocol object: on SQLite the answer is sent later, by the committer."""

    status = 0
    body = b""

    def __init__(self) -> None:
        self.answered = threading.Event()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.body = body
        self.answered.set()

    def wait(self) -> None:
        if not self.answered.wait(30):
            raise RuntimeError("no answer within 30 s")
        self.answered.clear()


class InProcess:
    """Enough of ``ServerProcess`` for ``bench.state.prepare``: ``call``, ``root_token``, ``name``."""

    name = "tessera (in process)"
    waiting = False

    def __init__(self, physical: Physical) -> None:
        core = Core(physical, CoreConfig(dev=True))
        key = core.initialize(1, 1)
        core.unseal(key["keys"][0])
        first = core.tokens.lookup(key["root_token"])
        core.tokens.create(TokenEntry(id=ROOT, policies=["root"], path="auth/token/create", display_name="t"))
        core.tokens.revoke_tree(first)
        core.mount(MountEntry.new("secret", "secret/", "kv", options={"version": "2"}))
        self.core = core
        self.app = App(core, inline=True)
        self.root_token = ROOT

    def scope(
        self, method: str, path: str, token: str | None, body: bytes, query: str = ""
    ) -> dict[str, Any]:
        scope: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": "/v1/" + path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "HTTP_HOST": "127.0.0.1:8200",
            "HTTP_USER_AGENT": "wrk",
            "wsgi.input": _Body(body),
        }
        if token:
            scope["HTTP_X_VAULT_TOKEN"] = token
        if body:
            scope["CONTENT_TYPE"] = "application/json"
            scope["CONTENT_LENGTH"] = str(len(body))
        return scope

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        **_: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        tok = token if token is not None else (self.root_token if auth else None)
        body = b"" if json is None else orjson.dumps(json)
        proto = _Proto()
        self.app.serve_threaded(proto, self.scope(method, path, tok, body, urlencode(params or {})))
        proto.wait()
        return proto.status, (orjson.loads(proto.body) if proto.body else None), {}

    def waiters(self, count: int) -> None:
        """Threads standing in for granian's: blocked outside the GIL, then a little Python."""

        def wake() -> None:
            while True:
                time.sleep(0.0002)
                sum(range(50))

        for _ in range(count):
            threading.Thread(target=wake, daemon=True).start()
        self.waiting = True

    def app_only(self, req: BenchRequest, count: int) -> float:
        """``time`` with ``Core.handle_request`` answering the scenario's response at once."""
        core = self.core
        real = core.handle_request
        answers: list[Any] = []

        def capture(request: Any) -> Any:
            answers.append(real(request))
            return answers[-1]

        core.handle_request = capture  # type: ignore[method-assign]
        # The prepared routes (core/prepared.py) skip handle_request: the generic path here.
        prepared = core.serve_prepared_read, core.serve_prepared_update
        core.serve_prepared_read = core.serve_prepared_update = lambda *_: None  # type: ignore[method-assign]
        try:
            self.time(req, 1)
            answer = answers[0]
            core.handle_request = lambda _request: answer  # type: ignore[method-assign]
            return self.time(req, count)[0]
        finally:
            core.handle_request = real  # type: ignore[method-assign]
            core.serve_prepared_read, core.serve_prepared_update = prepared  # type: ignore[method-assign]

    def time(self, req: BenchRequest, count: int) -> tuple[float, int]:
        """CPU µs of this thread per request (steady on a busy machine), and how many were not 2xx.

        On SQLite each request waits for its answer, so the committer's work is not counted.
        """
        body = b"" if req.body is None else orjson.dumps(req.body)
        bad = 0
        serve = self.app.serve_threaded
        proto = _Proto()
        clock = time.thread_time if self.app.runner is None and not self.waiting else time.process_time
        start = clock()
        for _ in range(count):
            serve(proto, self.scope(req.method, req.path, req.token, body))
            proto.wait()
            if not 200 <= proto.status < 300:
                bad += 1
        return (clock() - start) / count * 1e6, bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite storage instead of memory")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--split", action="store_true", help="also the HTTP layer alone")
    parser.add_argument("--runner", action="store_true", help="behind a runner thread; all threads' CPU")
    parser.add_argument("--waiters", type=int, default=0, help="threads waking meanwhile; all threads' CPU")
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    with tempfile.TemporaryDirectory(prefix="tessera-inproc-") as tmp:
        if args.sqlite:
            from tessera.storage.sqlite import SQLitePhysical

            physical: Physical = SQLitePhysical(str(Path(tmp) / "t.db"))
        else:
            physical = InmemPhysical()
        server = InProcess(physical)
        state = prepare(server)  # type: ignore[arg-type]
        if args.runner:
            server.app.runner = Runner()
        if args.waiters:
            server.waiters(args.waiters)
        for scenario in SCENARIOS:
            if wanted and not any(w in scenario.name for w in wanted):
                continue
            req = scenario.build(state)
            server.time(req, max(100, args.requests // 10))  # warm caches
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
            us, bad = server.time(req, args.requests)
            print(f"{scenario.name:26} {us:8.1f} us/request  non-2xx {bad}", flush=True)
            if args.split:
                app = server.app_only(req, args.requests)
                print(f"{'':26} {app:8.1f} us in the HTTP layer, {us - app:.1f} in the core", flush=True)
            if args.profile:
                prof.disable()
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
                print(out.getvalue())
        server.core.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The HTTP floor: what granian's WSGI worker, as Tessera drives it, costs around a request that does nothing.

    python -m bench.floor [--setups "inline:1" "inline:1024" "runner:1024"] [--work-us 0 50]
                          [--duration 5]

Each setup serves a fixed JSON answer through ``server/listen.py``'s spawner, with granian's
Python threads capped at the number after the colon: ``inline`` answers on granian's thread (as
``TESSERA_HTTP_RUNNER=0`` serves a request), ``runner`` hands every request to one Python thread
through a queue first (as the default listener serves a bodiless request). ``--body`` POSTs a small JSON body that granian's thread reads first (as the intake does). ``--work-us`` makes
each answer hold the GIL that long first (a busy loop), so that the cost of other threads wanting
the GIL meanwhile shows: Tessera's batch-token requests hold it for 30-70 µs. Printed: req/s and
the server's CPU per request from ``/proc`` under wrk (2 threads, 16 connections); the difference
to the work itself is what the threads, granian and the kernel cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .scenarios import Request
from .wrk import WrkSettings
from .wrk import run as run_wrk

TICKS = os.sysconf("SC_CLK_TCK")
HEADERS = [("content-type", "application/json")]
BODY = b'{"data":{}}'


def _work_loop(iterations: int) -> None:
    total = 0
    for i in range(iterations):
        total += i


def _iterations_for(work_us: float) -> int:
    """Loop iterations that take ``work_us`` of this thread's CPU (measured, not assumed)."""
    if work_us <= 0:
        return 0
    start = time.thread_time()
    _work_loop(200_000)
    per_iteration = (time.thread_time() - start) / 200_000
    return int(work_us / 1e6 / per_iteration)


def serve(port: int, mode: str, py_threads: int, work_us: float) -> None:
    """The server side (run in a child process by :func:`main`)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    from tessera.server.listen import _threaded_spawner

    iterations = _iterations_for(work_us)
    handed: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def answer(proto: Any) -> None:
        _work_loop(iterations)
        proto.response_bytes(200, HEADERS, BODY)

    def runner() -> None:
        while True:
            answer(handed.get())

    def callback(proto: Any, scope: dict[str, Any]) -> int:
        if scope.get("CONTENT_LENGTH"):
            scope["wsgi.input"].read()  # on granian's thread, as the intake reads a body
        if mode == "runner":
            handed.put(proto)
            return 0
        answer(proto)
        return 200

    if mode == "runner":
        threading.Thread(target=runner, daemon=True).start()
    server = Server(
        lambda *_: None,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        log_enabled=False,
        http=HTTPModes.http1,
    )
    asyncio.run(server.serve(spawn_target=_threaded_spawner(callback, py_threads)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the floor server did not start")


def _wrk(port: int, settings: WrkSettings, body: bool) -> tuple[int, float]:
    req = Request("POST", "floor", body={"type": "batch"}) if body else Request("GET", "floor")
    result = run_wrk(f"http://127.0.0.1:{port}", req, settings)
    return result.requests, result.seconds


def measure(setup: str, work_us: float, duration: float, body: bool) -> str:
    mode, _, threads = setup.partition(":")
    port = _free_port()
    cmd = [sys.executable, "-m", "bench.floor", "--serve", str(port), mode, threads or "1", str(work_us)]
    child = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1])
    try:
        _wait_listening(port)
        _wrk(port, WrkSettings(2, 16, 1.0), body)
        cpu0 = _cpu(child.pid)
        requests, seconds = _wrk(port, WrkSettings(2, 16, duration), body)
        cpu = _cpu(child.pid) - cpu0
    finally:
        child.kill()
        child.wait()
    load = os.getloadavg()[0]
    per = cpu / max(1, requests) * 1e6
    return (
        f"{setup:14} {'POST' if body else 'GET ':4} work {work_us:5.0f} us  load {load:5.1f}  {requests / seconds:9,.0f} req/s  "
        f"cpu {per:6.1f} us/req  (beyond the work: {per - work_us:5.1f})"
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--serve"]:
        serve(int(args[1]), args[2], int(args[3]), float(args[4]))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setups", nargs="+", default=["inline:1", "inline:1024", "runner:1024"])
    parser.add_argument("--work-us", nargs="+", type=float, default=[0.0, 50.0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--body", action="store_true", help="POST a small JSON body, read on granian's thread"
    )
    opts = parser.parse_args(args)
    for work in opts.work_us:
        for _ in range(opts.rounds):
            for setup in opts.setups:
                print(measure(setup, work, opts.duration, opts.body), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

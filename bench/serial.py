"""One client, one request at a time, against a real server: latency and server CPU per request.

    python -m bench.serial [--scenarios "kv1 read batch"] [--requests 3000] [--rounds 3]

With one request in flight the runner is always idle when the next arrives: this is the light
load where hand-offs between granian's threads and the runner show, and where ``bench.run``
(wrk, 16 connections) sees nothing. Server CPU is the process's user + system time, from
``/proc``, over the measured requests; the minimum of the rounds is printed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .scenarios import SCENARIOS
from .servers import start_tessera
from .state import prepare

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _round(
    conn: http.client.HTTPConnection,
    pid: int,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    n: int,
) -> tuple[float, float]:
    cpu, wall = _cpu_seconds(pid), time.perf_counter()
    for _ in range(n):
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 400:
            raise SystemExit(f"{method} {path}: {resp.status}")
    return (time.perf_counter() - wall) / n * 1e6, (_cpu_seconds(pid) - cpu) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", default="kv1 read batch")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    server = start_tessera("memory", Path(tempfile.mkdtemp(prefix="serial-")))
    try:
        state = prepare(server)
        assert server.process is not None
        pid = server.process.pid
        for scenario in SCENARIOS:
            if scenario.name not in wanted:
                continue
            req = scenario.build(state)
            headers = {"X-Vault-Token": req.token} if req.token else {}
            body = orjson.dumps(req.body) if req.body is not None else b""
            conn = http.client.HTTPConnection(server.host, server.port)
            path = "/v1/" + req.path
            _round(conn, pid, req.method, path, body, headers, 300)  # warm-up
            runs = [
                _round(conn, pid, req.method, path, body, headers, args.requests) for _ in range(args.rounds)
            ]
            conn.close()
            print(
                f"{scenario.name:30s} latency {min(r[0] for r in runs):6.1f} us  server CPU {min(r[1] for r in runs):6.1f} us/request"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

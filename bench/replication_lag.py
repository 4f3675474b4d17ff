"""Replication lag under a write load, and the primary's throughput with and without secondaries.

    python -m bench.replication_lag [--seconds 10] [--threads 4] [--filtered]

A primary on SQLite takes KV writes from ``--threads`` clients for ``--seconds`` alone, then again
with a performance secondary and a DR secondary attached (each its own process on SQLite). While
the second load runs, a probe writes a key on the primary every 50 ms and times how long the
performance secondary takes to answer it (read with an orphan batch token of the primary's):
the replication lag, as a client sees it. Prints writes per second for both loads and the lag's
p50/p99. ``--filtered``: the performance secondary has a paths filter (a deny of another mount
holding data), so every page of its stream is its filtered view. Then the same load goes to the
performance secondary, which forwards every write to the primary and answers once its stream
applied it: writes per second, and the CPU each write costs the secondary and the primary (their
processes' CPU time over the writes), against the same writes sent to the primary. Numbers are
only meaningful on a quiet machine (docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.front_flood import cpu_seconds  # noqa: E402
from tests.helpers.servers import TesseraServer, free_port, tessera_on_sqlite  # noqa: E402

P = "sys/replication/performance"
D = "sys/replication/dr"


def _ok(server: TesseraServer, method: str, path: str, body: dict[str, object] | None = None) -> dict:
    status, answer, _ = server.call(method, path, json=body)
    if status >= 400:
        raise SystemExit(f"{method} {path}: {status} {answer}")
    return answer or {}


def _load(server: TesseraServer, seconds: float, threads: int, token: str = "") -> float:
    """KV writes per second from ``threads`` clients for ``seconds``."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        session = requests.Session()
        headers = {"X-Vault-Token": token or server.root_token or ""}
        while time.monotonic() < stop:
            session.put(
                f"{server.addr}/v1/kv/load{index}-{counts[index] % 500}", json={"v": 1}, headers=headers
            )
            counts[index] += 1

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def _attach(primary: TesseraServer, secondary: TesseraServer, kind: str, name: str) -> None:
    base = P if kind == "performance" else D
    token = _ok(primary, "POST", f"{base}/primary/secondary-token", {"id": name})["wrap_info"]["token"]
    _ok(secondary, "POST", f"{base}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
    while not secondary.seal_status()["sealed"]:
        time.sleep(0.05)
    secondary.unseal(primary.keys)


def _probe(primary: TesseraServer, secondary: TesseraServer, reader: str, until: float) -> list[float]:
    """Lag in ms of probe writes, each read back from the secondary as soon as it appears."""
    lags: list[float] = []
    session = requests.Session()
    n = 0
    while time.monotonic() < until:
        n += 1
        path = f"kv/probe{n}"
        _ok(primary, "PUT", path, {"n": n})
        written = time.perf_counter()
        while (
            session.get(f"{secondary.addr}/v1/{path}", headers={"X-Vault-Token": reader}).status_code != 200
        ):
            if time.perf_counter() - written > 30:
                raise SystemExit("the secondary did not get a probe within 30 s")
            time.sleep(0.002)
        lags.append((time.perf_counter() - written) * 1000)
        time.sleep(0.05)
    return lags


def _cpu_per_write(
    target: TesseraServer, watched: list[TesseraServer], seconds: float, threads: int, token: str
) -> tuple[float, list[float]]:
    """Writes per second sent to ``target``, and the CPU (µs) each cost every ``watched`` server."""
    pids = [server.process.pid for server in watched if server.process is not None]
    before = [cpu_seconds(pid) for pid in pids]
    rate = _load(target, seconds, threads, token)
    spent = [cpu_seconds(pid) - start for pid, start in zip(pids, before, strict=True)]
    return rate, [1e6 * cpu / max(rate * seconds, 1) for cpu in spent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--filtered", action="store_true", help="a paths filter on the performance secondary")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="replication-bench-"))
    servers: list[TesseraServer] = []
    try:
        for name in ("primary", "perf", "dr"):
            (work / name).mkdir()
            extra = f'cluster_addr = "https://127.0.0.1:{free_port()}"\n'
            server = tessera_on_sqlite(work / name, extra=extra)
            servers.append(server)
            server.start()
            server.init()
            server.unseal()
        primary, perf, dr = servers
        _ok(primary, "POST", "sys/mounts/kv", {"type": "kv"})
        _ok(
            primary,
            "PUT",
            "sys/policies/acl/reader",
            {"policy": 'path "kv/*" { capabilities = ["read"] }\npath "eu/*" { capabilities = ["read"] }'},
        )
        body = {"type": "batch", "no_parent": True, "policies": ["reader"], "ttl": "2h"}
        reader = _ok(primary, "POST", "auth/token/create", body)["auth"]["client_token"]
        _ok(
            primary,
            "PUT",
            "sys/policies/acl/writer",
            {"policy": 'path "kv/*" { capabilities = ["create", "update"] }'},
        )
        writer = _ok(primary, "POST", "auth/token/create", {**body, "policies": ["writer"]})["auth"][
            "client_token"
        ]
        alone = _load(primary, args.seconds, args.threads)
        for kind in ("performance", "dr"):
            _ok(primary, "POST", f"sys/replication/{kind}/primary/enable")
        if args.filtered:
            _ok(primary, "POST", "sys/mounts/eu", {"type": "kv"})
            for n in range(100):
                _ok(primary, "PUT", f"eu/k{n}", {"n": n})
            _ok(primary, "POST", f"{P}/primary/paths-filter/perf-1", {"mode": "deny", "paths": ["eu/"]})
        _attach(primary, perf, "performance", "perf-1")
        _attach(primary, dr, "dr", "dr-1")
        lags: list[float] = []
        prober = threading.Thread(
            target=lambda: lags.extend(_probe(primary, perf, reader, time.monotonic() + args.seconds))
        )
        prober.start()
        attached = _load(primary, args.seconds, args.threads)
        prober.join()
        if args.filtered and perf.call("GET", "eu/k0", token=reader)[0] != 404:
            raise SystemExit("the filtered mount reached the performance secondary")
        direct, direct_cpu = _cpu_per_write(primary, [primary, perf], args.seconds, args.threads, writer)
        forwarded, forwarded_cpu = _cpu_per_write(perf, [primary, perf], args.seconds, args.threads, writer)
        cuts = statistics.quantiles(lags, n=100) if len(lags) > 1 else lags * 99
        label = " (a paths filter on the performance secondary)" if args.filtered else ""
        print(f"primary alone:                {alone:8.1f} KV writes/s ({args.threads} clients){label}")
        print(f"with 2 secondaries attached:  {attached:8.1f} KV writes/s")
        print(
            f"replication lag to the performance secondary: p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms ({len(lags)} probes)"
        )
        for label, rate, (on_primary, on_perf) in (
            ("sent to the primary:         ", direct, direct_cpu),
            ("forwarded by the perf secondary:", forwarded, forwarded_cpu),
        ):
            print(
                f"KV writes {label} {rate:8.1f}/s, CPU per write: primary {on_primary:.0f} µs, "
                f"performance secondary {on_perf:.0f} µs"
            )
    finally:
        for server in servers:
            server.cleanup()


if __name__ == "__main__":
    main()

"""The TLS front (a listener asking for client certificates) against the reference, in one run:
server CPU per cert login, and what a flood of idle sockets costs the server and everyone else.

Both servers get a TLS listener that asks for client certificates (``tests/helpers/pki.py``'s
``start_tls_pair``: Tessera's ``server/tls_front.py``) and a ``cert`` mount (``bench/cert_bench.py``'s
setup). Per server:

- CPU per login: client threads log in with a client certificate for ``--seconds``, over kept-alive
  connections and with a new TLS connection per login; the server process's CPU time (user +
  system, from /proc) divided by the logins;
- flood: ``--flood`` sockets held open (a quarter silent before the handshake, a quarter silent
  after it, half idle after one request), then ``sys/health`` latency while they are held, the
  server's threads and resident memory, and its CPU over one second of holding them.

    python bench/front_flood.py [--seconds 4] [--concurrency 4] [--flood 2000]
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cert_bench import client_context, run, setup  # noqa: E402
from tests.helpers.hostile import Crowd, raise_open_file_limit  # noqa: E402
from tests.helpers.pki import start_tls_pair  # noqa: E402
from tests.helpers.servers import ServerProcess  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_field(pid: int, name: str) -> str:
    line = next(r for r in Path(f"/proc/{pid}/status").read_text().splitlines() if r.startswith(name + ":"))
    return line.split(":", 1)[1].strip()


def cpu_per_login(
    server: ServerProcess, ctx: ssl.SSLContext, fresh: bool, seconds: float, threads: int
) -> str:
    pid = server.process.pid  # type: ignore[union-attr]
    before = cpu_seconds(pid)
    result = run(server, ctx, "bench-batch", fresh, seconds, threads)
    used = cpu_seconds(pid) - before
    if not result.requests:
        return f"no logins ({result.errors} errors)"
    return (
        f"{used / result.requests * 1e6:7.0f} µs CPU/login, {result.requests / result.elapsed:6.0f} logins/s"
    )


def flood(server: ServerProcess, count: int, ca_ctx: ssl.SSLContext) -> list[str]:
    import http.client

    pid = server.process.pid  # type: ignore[union-attr]
    started = time.perf_counter()
    with Crowd(server.host, server.port) as raw, Crowd(server.host, server.port, tls=True) as held:
        raw.silent(count // 4)
        held.silent(count // 4).idle_keepalive(count // 2)
        opened = time.perf_counter() - started
        latencies, failures = [], 0
        for _ in range(20):
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPSConnection(server.host, server.port, context=ca_ctx, timeout=5)
                conn.request("GET", "/v1/sys/health")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            failures += not ok
            latencies.append(time.perf_counter() - t0)
        before = cpu_seconds(pid)
        time.sleep(1.0)  # measuring a rate: the server's CPU while the crowd only holds its sockets
        idle_cpu = cpu_seconds(pid) - before
        threads, rss = status_field(pid, "Threads"), status_field(pid, "VmRSS")
    return [
        f"{count} sockets opened in {opened:.1f}s",
        f"health during: p50 {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms, "
        f"{failures} failed",
        f"server: {threads} threads, {rss} resident, {idle_cpu * 1000:.0f} ms CPU in 1 s of holding",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--flood", type=int, default=2000)
    args = parser.parse_args()
    raise_open_file_limit(args.flood + 1024)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs shared by client and servers; load average at start {load}\n")
    with tempfile.TemporaryDirectory() as tmp:
        reference, tessera, root, ca_file = start_tls_pair(Path(tmp))
        try:
            client = root.issue("bench-client")
            ctx = client_context(ca_file, client)
            ca_ctx = ssl.create_default_context(cafile=str(ca_file))
            for server in (reference, tessera):
                setup(server, root)
            rows: dict[str, list[str]] = {}
            for label, server in (("reference", reference), ("tessera", tessera)):
                rows[label] = [
                    "keep-alive: " + cpu_per_login(server, ctx, False, args.seconds, args.concurrency),
                    "new TLS conn: " + cpu_per_login(server, ctx, True, args.seconds, args.concurrency),
                    *flood(server, args.flood, ca_ctx),
                ]
            for label, lines in rows.items():
                print(f"{label}:")
                for line in lines:
                    print(f"  {line}")
        finally:
            reference.cleanup()
            tessera.cleanup()


if __name__ == "__main__":
    main()

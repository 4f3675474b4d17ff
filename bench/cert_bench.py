"""Cert login throughput, Tessera against the reference, in one run: TLS client certificate in,
batch (or service) token out, as CI machines with certificates log in.

Both servers are started here from a config file (in-memory storage, a TLS listener, certificates
made by ``tests/helpers/pki.py``), get a ``cert`` mount trusting one CA, and a ``bench-batch`` and
``bench-service`` entry. Client threads then log in for a fixed time, the two servers taking
alternating turns, either over kept-alive connections or with a new TLS connection (a full
handshake with the client certificate) per login, as a fresh CI job would. Printed: logins/s,
latency percentiles, each server's CPU per login (user + system time of its process tree, the
figure a busy machine disturbs least: the client threads share its cores), and the
Tessera/reference ratios.

    python bench/cert_bench.py [--seconds 8] [--rounds 4] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Result, run_threads  # noqa: E402
from bench.run import cpu_seconds  # noqa: E402
from tests.helpers.pki import Issuer, Pem, start_tls_pair  # noqa: E402
from tests.helpers.servers import ServerProcess  # noqa: E402

WORKLOADS = {
    # label: (cert entry, new connection per login)
    "batch, keep-alive": ("bench-batch", False),
    "service, keep-alive": ("bench-service", False),
    "batch, new TLS conn": ("bench-batch", True),
}


def client_context(ca_file: Path, cert: Pem) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.load_cert_chain(str(cert.cert), str(cert.key))
    return ctx


def setup(server: ServerProcess, root: Issuer) -> None:
    for method, path, body in (
        ("POST", "sys/auth/cert", {"type": "cert"}),
        (
            "POST",
            "auth/cert/certs/bench-batch",
            {"certificate": root.pem, "token_type": "batch", "token_ttl": "5m"},
        ),
        ("POST", "auth/cert/certs/bench-service", {"certificate": root.pem, "token_ttl": "5m"}),
    ):
        status, answer, _ = server.call(method, path, json=body)
        assert status in (200, 204), answer


def login(conn: http.client.HTTPSConnection, body: bytes) -> int:
    conn.request("POST", "/v1/auth/cert/login", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = json.loads(response.read() or b"{}")
    if response.status == 200 and not answer.get("auth", {}).get("client_token"):
        return 599
    return response.status


def run(
    server: ServerProcess, ctx: ssl.SSLContext, entry: str, fresh: bool, seconds: float, threads: int
) -> Result:
    body = json.dumps({"name": entry}).encode()
    stop = time.perf_counter() + seconds

    def work(local: Result, start_gate: threading.Barrier) -> None:
        conn = http.client.HTTPSConnection(server.host, server.port, timeout=30, context=ctx)
        start_gate.wait()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                status = login(conn, body)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
            local.latencies.append(time.perf_counter() - t0)
            if status == 200:
                local.requests += 1
            else:
                local.errors += 1
            if fresh:
                conn.close()  # the next login makes a new connection: a full TLS handshake
        conn.close()

    return run_threads(threads, work)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each workload per server")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns per workload")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cert-bench-"))
    reference, tessera, root, ca_file = start_tls_pair(workdir)
    servers = {"reference": reference, "tessera": tessera}
    ctx = client_context(ca_file, root.issue("bench-client"))
    results: dict[str, dict[str, Result]] = {label: {} for label in servers}
    cpu: dict[str, dict[str, float]] = {label: {} for label in servers}  # seconds, per workload
    try:
        for server in servers.values():
            setup(server, root)
            run(server, ctx, "bench-batch", False, 0.5, 2)  # warm up
        # Both servers stay up and take turns, alternating who goes first, so that load from
        # elsewhere on the machine weighs on both alike.
        for workload, (entry, fresh) in WORKLOADS.items():
            for round_no in range(args.rounds):
                order = ["reference", "tessera"] if round_no % 2 == 0 else ["tessera", "reference"]
                for label in order:
                    assert servers[label].process is not None
                    before = cpu_seconds(servers[label].process.pid)
                    part = run(
                        servers[label], ctx, entry, fresh, args.seconds / args.rounds, args.concurrency
                    )
                    used = cpu_seconds(servers[label].process.pid) - before
                    cpu[label][workload] = cpu[label].get(workload, 0.0) + used
                    results[label].setdefault(workload, Result()).merge(part)
    finally:
        for server in servers.values():
            server.cleanup()

    print(
        f"\ncert login (TLS client certificate -> token): {args.concurrency} client threads, "
        f"{args.seconds:.0f}s per workload and server in {args.rounds} alternating turns, "
        f"{os.cpu_count()} CPUs shared by client and servers\n"
    )
    header = (
        f"{'workload':<21} {'server':<10} {'logins/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu us/login':>13} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for workload in WORKLOADS:
        for label in ("reference", "tessera"):
            r = results[label][workload]
            per_login = cpu[label][workload] / max(1, r.requests) * 1e6
            print(
                f"{workload:<21} {label:<10} {r.rps:>9.0f} {r.pct(50):>8.2f} {r.pct(99):>8.2f}"
                f" {per_login:>13.0f} {r.errors:>7}"
            )
        ref, tes = results["reference"][workload], results["tessera"][workload]
        ratio = tes.rps / ref.rps if ref.rps else float("nan")
        if ref.rps:
            ratios.append(ratio)
        ref_cpu = cpu["reference"][workload] / max(1, ref.requests)
        tes_cpu = cpu["tessera"][workload] / max(1, tes.requests)
        cpu_ratio = ref_cpu / tes_cpu if tes_cpu else float("nan")
        print(
            f"{'':<21} {'ratio':<10} {ratio:>9.2f}   (Tessera / reference throughput; "
            f"CPU per login {cpu_ratio:.2f}x less)"
        )
    if ratios:
        print(f"\ngeometric mean ratio (Tessera / reference): {statistics.geometric_mean(ratios):.2f}")


if __name__ == "__main__":
    main()

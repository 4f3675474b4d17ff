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

``--workers N`` (N > 1) adds Tessera on SQLite with ``workers = N`` on the same kind of listener:
each worker process runs its own TLS front on the shared port and serves a repeat batch login
itself (it writes nothing); the kernel spreads new connections over the processes.

``--client curl`` logs in with one curl process instead of Python threads (``--parallel``,
``--concurrency`` transfers at once; for new connections ``Connection: close`` and no TLS session
reuse, which each answer's ``num_connects`` confirms): C, so the client takes a smaller share of
the two cores and the logins/s columns say more about the servers.

    python bench/cert_bench.py [--seconds 8] [--rounds 4] [--concurrency 4] [--workers 2]
                               [--client python|curl]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Result, run_threads  # noqa: E402
from bench.run import cpu_seconds, wait_for_workers  # noqa: E402
from tests.helpers.pki import Issuer, Pem, start_tls_pair, tls_config  # noqa: E402
from tests.helpers.servers import ServerProcess, TesseraServer, free_port  # noqa: E402

WARMUP = 2.0  # seconds of new-connection logins per server first: every process serves some

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


def start_workers(workdir: Path, root: Issuer, ca_file: Path, workers: int) -> ServerProcess:
    """Tessera on SQLite with ``workers`` processes, its TLS listener as the pair's, unsealed."""
    directory = workdir / f"workers-{workers}"
    directory.mkdir()
    config = tls_config(
        directory,
        free_port(),
        root.server(),
        storage=f'storage "sqlite" {{\n  path = "{directory / "tessera.db"}"\n}}',
        extra=f"workers = {workers}\n",
    )
    server = TesseraServer(config=config, ca_cert=ca_file).start()
    try:
        server.init(1, 1)
        server.unseal()
        assert server.process is not None
        wait_for_workers(server.process.pid, workers)
    except BaseException:
        server.cleanup()
        raise
    return server


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


@dataclass
class CurlTLS:
    """The client side of curl's TLS: the CA it trusts, the certificate it presents."""

    ca_file: Path
    cert: Pem

    def args(self) -> list[str]:
        return ["--cacert", str(self.ca_file), "--cert", str(self.cert.cert), "--key", str(self.cert.key)]


CURL_FORMAT = "%{http_code} %{time_total} %{num_connects}\n"


def run_curl(
    server: ServerProcess, tls: CurlTLS, entry: str, fresh: bool, seconds: float, concurrency: int
) -> Result:
    """Logins from one curl process for ``seconds``: ``concurrency`` transfers at once, one URL
    glob of a million (the fragment is not sent), stopped when the time is up. HTTP/1.1 for both
    servers (the reference would otherwise multiplex every login over one HTTP/2 connection)."""
    url = f"https://{server.host}:{server.port}/v1/auth/cert/login#[1-1000000]"
    cmd = ["stdbuf", "-oL", "curl", "--silent", "--no-progress-meter", "--http1.1"]  # a line per login
    cmd += ["--parallel", "--parallel-max", str(concurrency), *tls.args()]
    cmd += ["-H", "Content-Type: application/json", "--data", json.dumps({"name": entry})]
    if fresh:  # a full handshake per login: the server closes, and no session is resumed
        cmd += ["-H", "Connection: close", "--no-sessionid"]
    cmd += ["-o", "/dev/null", "-w", CURL_FORMAT, url]
    result = Result()
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            fields = line.split()
            if len(fields) != 3:
                continue  # the line curl was writing when it was stopped
            status, total, connects = fields
            if status == "200" and (not fresh or connects == "1"):
                result.requests += 1
            else:
                result.errors += 1
            result.latencies.append(float(total))
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    result.elapsed = time.perf_counter() - began
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each workload per server")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns per workload")
    parser.add_argument(
        "--workers", type=int, default=1, help="also Tessera on SQLite with this many processes (> 1)"
    )
    parser.add_argument("--client", choices=["python", "curl"], default="python")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cert-bench-"))
    reference, tessera, root, ca_file = start_tls_pair(workdir)
    servers = {"reference": reference, "tessera": tessera}
    if args.workers > 1:
        try:
            servers[f"tessera x{args.workers}"] = start_workers(workdir, root, ca_file, args.workers)
        except BaseException:
            reference.cleanup()
            tessera.cleanup()
            raise
    client_pem = root.issue("bench-client")
    ctx = client_context(ca_file, client_pem)
    curl_tls = CurlTLS(ca_file, client_pem)

    def turn(server: ServerProcess, entry: str, fresh: bool, seconds: float) -> Result:
        if args.client == "curl":
            return run_curl(server, curl_tls, entry, fresh, seconds, args.concurrency)
        return run(server, ctx, entry, fresh, seconds, args.concurrency)

    results: dict[str, dict[str, Result]] = {label: {} for label in servers}
    cpu: dict[str, dict[str, float]] = {label: {} for label in servers}  # seconds, per workload
    try:
        for server in servers.values():
            setup(server, root)
            turn(server, "bench-batch", True, WARMUP)  # warm up every process
        # Both servers stay up and take turns, alternating who goes first, so that load from
        # elsewhere on the machine weighs on both alike.
        for workload, (entry, fresh) in WORKLOADS.items():
            for round_no in range(args.rounds):
                order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
                for label in order:
                    process = servers[label].process
                    assert process is not None
                    before = cpu_seconds(process.pid)
                    part = turn(servers[label], entry, fresh, args.seconds / args.rounds)
                    used = cpu_seconds(process.pid) - before
                    cpu[label][workload] = cpu[label].get(workload, 0.0) + used
                    results[label].setdefault(workload, Result()).merge(part)
    finally:
        for server in servers.values():
            server.cleanup()

    client = "curl transfers at once" if args.client == "curl" else "client threads"
    print(
        f"\ncert login (TLS client certificate -> token): {args.concurrency} {client}, "
        f"{args.seconds:.0f}s per workload and server in {args.rounds} alternating turns, "
        f"{os.cpu_count()} CPUs shared by client and servers\n"
    )
    header = (
        f"{'workload':<21} {'server':<12} {'logins/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu us/login':>13} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    ratios: dict[str, list[float]] = {label: [] for label in servers if label != "reference"}
    for workload in WORKLOADS:
        for label in servers:
            r = results[label][workload]
            per_login = cpu[label][workload] / max(1, r.requests) * 1e6
            print(
                f"{workload:<21} {label:<12} {r.rps:>9.0f} {r.pct(50):>8.2f} {r.pct(99):>8.2f}"
                f" {per_login:>13.0f} {r.errors:>7}"
            )
        ref = results["reference"][workload]
        ref_cpu = cpu["reference"][workload] / max(1, ref.requests)
        for label in ratios:
            tes = results[label][workload]
            ratio = tes.rps / ref.rps if ref.rps else float("nan")
            if ref.rps:
                ratios[label].append(ratio)
            tes_cpu = cpu[label][workload] / max(1, tes.requests)
            cpu_ratio = ref_cpu / tes_cpu if tes_cpu else float("nan")
            print(
                f"{'':<21} {'ratio':<12} {ratio:>9.2f}   ({label} / reference throughput; "
                f"CPU per login {cpu_ratio:.2f}x less)"
            )
    for label, values in ratios.items():
        if values:
            mean = statistics.geometric_mean(values)
            print(f"\ngeometric mean ratio ({label} / reference): {mean:.2f}")


if __name__ == "__main__":
    main()

"""Transit encrypt/decrypt throughput with a batch token: Tessera against the reference, in one run.

Both servers are started here (dev mode, free ports), each gets a transit mount, one aes256-gcm96
key, a policy allowing only ``update`` on ``encrypt/<key>`` and ``decrypt/<key>``, and a batch token
with that policy (the tutorials' high-throughput pattern). Then for each workload (encrypt and
decrypt, single item and ``batch_input`` of 100) client threads with keep-alive connections send
requests for a fixed time, the two servers taking alternating turns. Printed: requests/s, items/s,
latency percentiles, and the Tessera/reference ratio.

    python bench/transit_bench.py [--seconds 8] [--rounds 4] [--concurrency 4] [--plaintext-bytes 64]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Result, run_threads  # noqa: E402
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer  # noqa: E402

KEY = "bench"
POLICY = f"""
path "transit/encrypt/{KEY}" {{ capabilities = ["update"] }}
path "transit/decrypt/{KEY}" {{ capabilities = ["update"] }}
"""


def request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: bytes | None = None
) -> tuple[int, Any]:
    headers = {"X-Vault-Token": token, "Content-Type": "application/json"}
    conn.request(method, "/v1/" + path, body=body, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    return resp.status, (json.loads(raw) if raw else None)


def setup(server: ServerProcess) -> str:
    """Mount, key, policy and a batch token; returns the token."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "sys/mounts/transit", {"type": "transit"}),
        ("POST", f"transit/keys/{KEY}", {"type": "aes256-gcm96"}),
        ("PUT", "sys/policies/acl/transit-bench", {"policy": POLICY}),
    ]
    for method, path, body in steps:
        status, resp = request(conn, method, path, "root", json.dumps(body).encode())
        if status not in (200, 204):
            raise SystemExit(f"{server.name}: {method} {path} -> {status} {resp}")
    status, resp = request(
        conn,
        "POST",
        "auth/token/create",
        "root",
        json.dumps({"type": "batch", "policies": ["transit-bench"], "no_default_policy": True}).encode(),
    )
    if status != 200:
        raise SystemExit(f"{server.name}: batch token -> {status} {resp}")
    conn.close()
    return str(resp["auth"]["client_token"])


def make_bodies(server: ServerProcess, token: str, plaintext: bytes) -> dict[str, tuple[str, bytes, int]]:
    """(path, body, items per request) for each workload; decrypt bodies use real ciphertexts."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    pt = base64.b64encode(plaintext).decode()
    batch = [{"plaintext": pt} for _ in range(100)]
    status, resp = request(
        conn, "POST", f"transit/encrypt/{KEY}", token, json.dumps({"plaintext": pt}).encode()
    )
    assert status == 200, resp
    single_ct = resp["data"]["ciphertext"]
    status, resp = request(
        conn, "POST", f"transit/encrypt/{KEY}", token, json.dumps({"batch_input": batch}).encode()
    )
    assert status == 200, resp
    batch_ct = [{"ciphertext": r["ciphertext"]} for r in resp["data"]["batch_results"]]
    conn.close()
    return {
        "encrypt single": (f"transit/encrypt/{KEY}", json.dumps({"plaintext": pt}).encode(), 1),
        "decrypt single": (f"transit/decrypt/{KEY}", json.dumps({"ciphertext": single_ct}).encode(), 1),
        "encrypt batch 100": (f"transit/encrypt/{KEY}", json.dumps({"batch_input": batch}).encode(), 100),
        "decrypt batch 100": (f"transit/decrypt/{KEY}", json.dumps({"batch_input": batch_ct}).encode(), 100),
    }


def run(
    server: ServerProcess, token: str, path: str, body: bytes, items: int, seconds: float, threads: int
) -> Result:
    stop = time.perf_counter() + seconds

    def work(local: Result, start_gate: threading.Barrier) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        start_gate.wait()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            status, _ = request(conn, "POST", path, token, body)
            local.latencies.append(time.perf_counter() - t0)
            if status == 200:
                local.requests += 1
                local.items += items
            else:
                local.errors += 1
        conn.close()

    return run_threads(threads, work)


def merge(total: Result | None, part: Result) -> Result:
    return part if total is None else total.merge(part)


def warm_up(server: ServerProcess, token: str, bodies: dict[str, tuple[str, bytes, int]]) -> None:
    for path, body, items in bodies.values():
        run(server, token, path, body, items, 0.5, 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each workload per server")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--plaintext-bytes", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns per workload")
    args = parser.parse_args()

    plaintext = os.urandom(args.plaintext_bytes)
    servers: dict[str, ServerProcess] = {"reference": ReferenceServer(), "tessera": TesseraServer()}
    results: dict[str, dict[str, Result]] = {label: {} for label in servers}
    try:
        prepared: dict[str, tuple[str, dict[str, tuple[str, bytes, int]]]] = {}
        for label, server in servers.items():
            server.start()
            token = setup(server)
            bodies = make_bodies(server, token, plaintext)
            warm_up(server, token, bodies)
            prepared[label] = (token, bodies)
        # Both servers stay up and take turns, alternating who goes first, so that load from
        # elsewhere on the machine weighs on both alike.
        for workload in prepared["reference"][1]:
            for round_no in range(args.rounds):
                order = ["reference", "tessera"] if round_no % 2 == 0 else ["tessera", "reference"]
                for label in order:
                    token, bodies = prepared[label]
                    path, body, items = bodies[workload]
                    part = run(
                        servers[label], token, path, body, items, args.seconds / args.rounds, args.concurrency
                    )
                    results[label][workload] = merge(results[label].get(workload), part)
    finally:
        for server in servers.values():
            server.cleanup()

    print(
        f"\ntransit with a batch token: {args.concurrency} client threads, {args.seconds:.0f}s per workload "
        f"and server in {args.rounds} alternating turns, "
        f"{args.plaintext_bytes}-byte plaintexts, {os.cpu_count()} CPUs shared by client and server\n"
    )
    header = f"{'workload':<19} {'server':<10} {'req/s':>9} {'items/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for workload in results["reference"]:
        for label in ("reference", "tessera"):
            r = results[label][workload]
            print(
                f"{workload:<19} {label:<10} {r.rps:>9.0f} {r.ips:>10.0f} {r.pct(50):>8.2f} {r.pct(99):>8.2f} {r.errors:>7}"
            )
        ref, tes = results["reference"][workload], results["tessera"][workload]
        ratio = tes.rps / ref.rps if ref.rps else float("nan")
        print(f"{'':<19} {'ratio':<10} {ratio:>9.2f}   (Tessera / reference throughput)")
    ratios = [
        results["tessera"][w].rps / results["reference"][w].rps
        for w in results["reference"]
        if results["reference"][w].rps
    ]
    if ratios:
        print(f"\ngeometric mean ratio (Tessera / reference): {statistics.geometric_mean(ratios):.2f}")


if __name__ == "__main__":
    main()

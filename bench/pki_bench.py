"""PKI ``issue/:role`` throughput with EC P-256 keys: Tessera against the reference, in one run.

Both servers start here (dev mode, in memory, free ports), each gets a pki mount with an EC P-256
root and a role per workload, and a batch token allowed only ``update`` on the issue paths. wrk
(``bench/wrk.py``) then drives ``issue/<role>`` for a fixed time, the two servers taking
alternating turns so that load from elsewhere on the machine weighs on both alike. Each answer is
a new key pair, a signed certificate and (unless ``no_store``) a stored copy. Printed: requests/s,
latency percentiles, failures and the Tessera/reference ratio.

    python -m bench.pki_bench [--seconds 12] [--rounds 4] [--connections 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scenarios import Request  # noqa: E402
from bench.servers import start_pair  # noqa: E402
from bench.wrk import WrkResult, WrkSettings  # noqa: E402
from bench.wrk import run as wrk_run  # noqa: E402
from tests.helpers.http import call  # noqa: E402
from tests.helpers.servers import ServerProcess  # noqa: E402

MOUNT = "pki-bench"
# workload -> (role, role settings)
WORKLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    "issue ec256 stored": ("ec", {"allow_any_name": True, "key_type": "ec", "key_bits": 256, "ttl": "1h"}),
    "issue ec256 no_store": (
        "ec-nostore",
        {"allow_any_name": True, "key_type": "ec", "key_bits": 256, "ttl": "1h", "no_store": True},
    ),
}
POLICY = f'path "{MOUNT}/issue/*" {{ capabilities = ["update"] }}'


def _ok(server: ServerProcess, method: str, path: str, body: Any) -> Any:
    status, answer, _ = call(server.addr, method, path, "root", json=body)
    if status not in (200, 204):
        raise SystemExit(f"{server.name}: {method} {path} -> {status} {answer}")
    return answer


def setup(server: ServerProcess) -> str:
    """The mount, an EC root, the roles, a policy and a batch token; returns the token."""
    _ok(server, "POST", f"sys/mounts/{MOUNT}", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    _ok(
        server,
        "POST",
        f"{MOUNT}/root/generate/internal",
        {"common_name": "bench root", "key_type": "ec", "ttl": "8760h"},
    )
    for role, settings in WORKLOADS.values():
        _ok(server, "POST", f"{MOUNT}/roles/{role}", settings)
    _ok(server, "PUT", "sys/policies/acl/pki-bench", {"policy": POLICY})
    token = _ok(
        server, "POST", "auth/token/create", {"type": "batch", "policies": ["pki-bench"], "ttl": "2h"}
    )
    return str(token["auth"]["client_token"])


def merge(parts: list[WrkResult]) -> WrkResult:
    seconds = sum(p.seconds for p in parts)
    weight = lambda attr: sum(getattr(p, attr) * p.seconds for p in parts) / seconds if seconds else 0.0  # noqa: E731
    return WrkResult(
        requests=sum(p.requests for p in parts),
        seconds=seconds,
        non2xx=sum(p.non2xx for p in parts),
        socket_errors=sum(p.socket_errors for p in parts),
        p50_ms=weight("p50_ms"),
        p90_ms=weight("p90_ms"),
        p99_ms=weight("p99_ms"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="duration of each workload per server")
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns per workload")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (2 threads)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pki-bench-") as tmp:
        pair = start_pair("memory", Path(tmp))
        results: dict[str, dict[str, list[WrkResult]]] = {"reference": {}, "tessera": {}}
        try:
            tokens = {label: setup(server) for label, server in pair.servers()}
            servers = dict(pair.servers())
            settings = WrkSettings(
                threads=min(2, args.connections),
                connections=args.connections,
                duration=args.seconds / args.rounds,
            )
            for workload, (role, _) in WORKLOADS.items():
                body = {"common_name": "bench.example.com"}
                for round_no in range(args.rounds):
                    order = ["reference", "tessera"] if round_no % 2 == 0 else ["tessera", "reference"]
                    for label in order:
                        req = Request("POST", f"{MOUNT}/issue/{role}", tokens[label], body)
                        part = wrk_run(servers[label].addr, req, settings)
                        results[label].setdefault(workload, []).append(part)
        finally:
            pair.stop()

    print(
        f"\npki issue/:role, EC P-256, batch token: wrk {args.connections} connections, {args.seconds:.0f}s per "
        f"workload and server in {args.rounds} alternating turns, both servers in memory\n"
    )
    header = f"{'workload':<22} {'server':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"
    print(header)
    print("-" * len(header))
    ratios = []
    for workload in WORKLOADS:
        merged = {label: merge(results[label][workload]) for label in ("reference", "tessera")}
        for label, r in merged.items():
            print(
                f"{workload:<22} {label:<10} {r.ok_rps:>8.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.failed:>7}"
            )
        if merged["reference"].ok_rps:
            ratio = merged["tessera"].ok_rps / merged["reference"].ok_rps
            ratios.append(ratio)
            print(f"{'':<22} {'ratio':<10} {ratio:>8.2f}   (Tessera / reference)")
    if ratios:
        print(f"\ngeometric mean ratio (Tessera / reference): {statistics.geometric_mean(ratios):.2f}")


if __name__ == "__main__":
    main()

"""What the metrics cost: Tessera with metrics on and off, side by side with the reference.

    python -m bench.metrics_overhead [--scenarios kv1,lookup] [--requests 20000] [--rounds 3]
    python -m bench.metrics_overhead --wrk [--duration 5] [--scenarios ...]

In process (default): CPU µs per request through ``App.serve_threaded`` (``bench/inproc.py``)
with every metric recorded, then with every metric filtered out (as ``telemetry { prefix_filter
= ["-vault"] filter_default = false }`` does), rounds alternating; steady on a busy machine.
With ``--wrk``: the reference dev server, Tessera dev with metrics on and Tessera dev with them
off, loaded one at a time by wrk (``bench/run.py``'s harness); req/s and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tessera.storage.inmem import InmemPhysical
from tessera.telemetry import metrics

from .scenarios import SCENARIOS
from .state import prepare

METRICS_OFF = 'telemetry {\n  prefix_filter  = ["-vault"]\n  filter_default = false\n}\n'


def _selected(wanted: str) -> list:
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    return [s for s in SCENARIOS if not names or any(n in s.name for n in names)]


def in_process(scenarios: list, requests: int, rounds: int) -> None:
    from .inproc import InProcess

    server = InProcess(InmemPhysical())
    state = prepare(server)  # type: ignore[arg-type]
    print(f"{'scenario':26} {'metrics on':>12} {'metrics off':>12} {'on/off':>8}   (CPU µs/request, median)")
    for scenario in scenarios:
        req = scenario.build(state)
        server.time(req, max(100, requests // 10))  # warm caches
        figures: dict[bool, list[float]] = {True: [], False: []}
        for round_no in range(rounds):
            for enabled in (True, False) if round_no % 2 == 0 else (False, True):
                metrics.configure(filter_default=enabled)
                us, _bad = server.time(req, requests)
                figures[enabled].append(us)
        on, off = statistics.median(figures[True]), statistics.median(figures[False])
        print(f"{scenario.name:26} {on:12.1f} {off:12.1f} {on / off:8.3f}", flush=True)
    metrics.configure()
    server.core.shutdown()


def over_http(scenarios: list, duration: float, warmup: float) -> None:
    from tests.helpers.servers import ReferenceServer, TesseraServer

    from .run import measure
    from .servers import _wait_active
    from .wrk import WrkSettings, ensure_wrk

    ensure_wrk()
    settings = WrkSettings(2, 16, duration)
    with tempfile.TemporaryDirectory(prefix="tessera-metrics-bench-") as tmp:
        off_config = Path(tmp) / "metrics-off.hcl"
        off_config.write_text(METRICS_OFF)
        servers = {
            "bao dev": ReferenceServer().start(),
            "tessera metrics on": TesseraServer().start(),
            "tessera metrics off": TesseraServer(extra_args=[f"-config={off_config}"]).start(),
        }
        try:
            for server in servers.values():
                _wait_active(server)
            states = {name: prepare(server) for name, server in servers.items()}
            print(
                f"{'scenario':26} " + " ".join(f"{n:>20}" for n in servers) + f" {'on/off':>8} {'on/bao':>8}"
            )
            for scenario in scenarios:
                rps = {}
                for name, server in servers.items():
                    result, _cpu = measure(server, scenario, states[name], settings, warmup)
                    rps[name] = result.ok_rps
                cells = " ".join(f"{rps[n]:>16,.0f} r/s" for n in servers)
                on, off, ref = rps["tessera metrics on"], rps["tessera metrics off"], rps["bao dev"]
                print(
                    f"{scenario.name:26} {cells} {on / max(off, 1):8.3f} {on / max(ref, 1):8.3f}", flush=True
                )
        finally:
            for server in servers.values():
                server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="")
    parser.add_argument("--requests", type=int, default=20000, help="in process: requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="in process: rounds per setting")
    parser.add_argument("--wrk", action="store_true", help="over HTTP with wrk, the reference alongside")
    parser.add_argument("--duration", type=float, default=5.0, help="wrk: seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="wrk: seconds of warm-up per run")
    args = parser.parse_args(argv)
    scenarios = _selected(args.scenarios)
    if args.wrk:
        over_http(scenarios, args.duration, args.warmup)
    else:
        in_process(scenarios, args.requests, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tessera alone under wrk, once per server setting: how the HTTP mode and thread count were chosen.

    python -m bench.tune --variants "TESSERA_HTTP_MODE=asgi" "TESSERA_HTTP_THREADS=4" \\
        "TESSERA_HTTP_THREADS=32" [--mode memory|durable] [--scenarios "kv1 read batch"] [--duration 5]

Each variant is a comma-separated list of environment settings for the server process (an
empty string is the default). Printed per variant and scenario: successful req/s, p50/p99 and
the server's CPU per request, which on a busy machine is the steadier figure. All variants' servers
run at once and take turns (``--rounds`` turns each, the median turn printed), so a machine whose
speed drifts during the run favours none: how the event-loop front was compared with granian's
threaded worker (``--variants "" "TESSERA_HTTP_FRONT=granian" --rounds 3``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .run import Row, measure
from .scenarios import SCENARIOS
from .servers import start_tessera
from .state import prepare
from .wrk import WrkSettings


def _env(variant: str) -> dict[str, str]:
    out = {}
    for item in variant.split(","):
        if item.strip():
            key, _, value = item.partition("=")
            out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=[""])
    parser.add_argument("--mode", default="memory", choices=("memory", "durable"))
    parser.add_argument("--scenarios", default="kv1 read batch,token create batch")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=1, help="turns per variant, interleaved; the median is printed"
    )
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if any(w in s.name for w in wanted)]
    settings = WrkSettings(args.threads, args.connections, args.duration)
    with contextlib.ExitStack() as stack:
        servers = []
        for variant in args.variants:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tessera-tune-")))
            server = start_tessera(args.mode, tmp, env=_env(variant))
            stack.callback(server.cleanup)
            servers.append((variant, server, prepare(server)))
        for scenario in scenarios:
            _compare(scenario, servers, settings, args)
    return 0


def _compare(scenario: Any, servers: list[tuple[str, Any, Any]], settings: WrkSettings, args: Any) -> None:
    """Every variant in turn, ``rounds`` times: a machine whose speed drifts skews no variant."""
    rows: dict[str, list[Row]] = {variant: [] for variant, _, _ in servers}
    for _ in range(args.rounds):
        for variant, server, state in servers:
            result, cpu = measure(server, scenario, state, settings, args.warmup)
            rows[variant].append(Row(args.mode, scenario.name, "tessera", variant, result, cpu))
    for variant, measured in rows.items():
        row = sorted(measured, key=lambda r: r.cpu_us_per_request)[len(measured) // 2]
        result = row.result
        print(
            f"{variant or '(default)':40} {scenario.name:26} {result.ok_rps:8,.0f} req/s  "
            f"p50 {result.p50_ms:6.2f}  p99 {result.p99_ms:7.2f} ms  "
            f"{row.cpu_us_per_request:5.0f} us/req  failed {result.failed}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())

"""Tessera alone under wrk, once per server setting: how the HTTP mode and thread count were chosen.

    python -m bench.tune --variants "TESSERA_HTTP_MODE=asgi" "TESSERA_HTTP_THREADS=4" \\
        "TESSERA_HTTP_THREADS=32" [--mode memory|durable] [--scenarios "kv1 read batch"] [--duration 5]

Each variant is a comma-separated list of environment settings for the server process (an
empty string is the default). Printed per variant and scenario: successful req/s, p50/p99 and
the server's CPU per request, which on a busy machine is the steadier figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

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
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if any(w in s.name for w in wanted)]
    settings = WrkSettings(args.threads, args.connections, args.duration)
    for variant in args.variants:
        with tempfile.TemporaryDirectory(prefix="tessera-tune-") as tmp:
            server = start_tessera(args.mode, Path(tmp), env=_env(variant))
            try:
                state = prepare(server)
                for scenario in scenarios:
                    result, cpu = measure(server, scenario, state, settings, args.warmup)
                    row = Row(args.mode, scenario.name, "tessera", variant, result, cpu)
                    print(
                        f"{variant or '(default)':40} {scenario.name:26} {result.ok_rps:8,.0f} req/s  "
                        f"p50 {result.p50_ms:6.2f}  p99 {result.p99_ms:7.2f} ms  "
                        f"{row.cpu_us_per_request:5.0f} us/req  failed {result.failed}",
                        flush=True,
                    )
            finally:
                server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

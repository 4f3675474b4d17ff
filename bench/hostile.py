"""Hostile neighbours: the normal scenarios' req/s while slow clients are held, both servers side by side.

    python -m bench.hostile [--modes memory] [--scenarios kv1,lookup] [--slow 200] [--duration 10]

For each storage mode both servers are started and prepared as ``bench.run`` does; then each
scenario runs twice per server with wrk: once alone ("calm") and once while ``--slow`` clients
each hold a connection with a request that announced 1,000 body bytes and sent 1 (what one
careless or hostile client can do). The table shows successful req/s of each run and what share
of its calm throughput each server kept. The slow clients are opened afresh before each run's warm-up,
and stay within both servers' ``http_read_timeout`` (30 s) as long as warm-up plus duration do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python bench/hostile.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tests.helpers.hostile import Crowd, raise_open_file_limit

from .run import machine, measure
from .scenarios import SCENARIOS
from .servers import MODES, ServerProcess, labels, start_pair
from .state import prepare
from .wrk import WrkSettings


@dataclass
class Pairing:
    mode: str
    scenario: str
    calm: dict[str, float]  # role -> successful req/s
    hostile: dict[str, float]
    failed: dict[str, int]  # role -> failures under load


def _run(
    server: ServerProcess, scenario: object, state: object, settings: WrkSettings, warmup: float, slow: int
) -> tuple[float, int]:
    """Successful req/s and failures of one wrk run, with ``slow`` slow clients held throughout."""
    host, port = server.host, server.port
    with Crowd(host, port) as crowd:
        crowd.slow_bodies(slow)
        result, _ = measure(server, scenario, state, settings, warmup)  # type: ignore[arg-type]
    return result.ok_rps, result.failed


def table(rows: list[Pairing]) -> str:
    lines = [
        "| mode | scenario | reference calm | reference hostile | kept | tessera calm | tessera hostile "
        "| kept | failed ref/tes (hostile) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = []
        for role in ("reference", "tessera"):
            calm, hostile = r.calm.get(role, 0.0), r.hostile.get(role, 0.0)
            kept = f"{hostile / calm:.0%}" if calm else "-"
            cells.append(f"{calm:,.0f} | {hostile:,.0f} | {kept}")
        failed = f"{r.failed.get('reference', 0)}/{r.failed.get('tessera', 0)}"
        lines.append(f"| {r.mode} | {r.scenario} | {' | '.join(cells)} | {failed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modes", default="memory", help="memory, durable or both")
    parser.add_argument("--scenarios", default="", help="comma-separated name fragments (default: all)")
    parser.add_argument("--slow", type=int, default=200, help="slow clients held during the hostile runs")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="Tessera processes on SQLite (durable mode)")
    args = parser.parse_args(argv)
    if args.warmup + args.duration >= 28:
        parser.error("warm-up plus duration must stay under the servers' 30 s http_read_timeout")

    raise_open_file_limit(args.slow + 1024)
    settings = WrkSettings(args.threads, args.connections, args.duration)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if not wanted or any(w in s.name for w in wanted)]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    print(
        machine(),
        f"\nwrk -t{settings.threads} -c{settings.connections} -d{settings.duration:.0f}s, "
        f"{args.slow} slow clients in the hostile runs",
        flush=True,
    )
    rows: list[Pairing] = []
    with tempfile.TemporaryDirectory(prefix="tessera-hostile-") as tmp:
        for mode in modes:
            pair = start_pair(mode, Path(tmp) / mode, workers=args.workers)
            try:
                states = {role: prepare(server) for role, server in pair.servers()}
                names = dict(zip([r for r, _ in pair.servers()], labels(mode, args.workers), strict=True))
                for scenario in scenarios:
                    row = Pairing(mode, scenario.name, {}, {}, {})
                    for role, server in pair.servers():
                        for slow, into in ((0, row.calm), (args.slow, row.hostile)):
                            rps, failed = _run(server, scenario, states[role], settings, args.warmup, slow)
                            into[role] = rps
                            if slow:
                                row.failed[role] = failed
                            print(
                                f"  {mode:8} {scenario.name:26} {names[role]:20} "
                                f"{'hostile' if slow else 'calm':8} {rps:9,.0f} req/s  failed {failed}",
                                flush=True,
                            )
                    rows.append(row)
            finally:
                pair.stop()
    print("\n" + table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

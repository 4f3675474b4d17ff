"""Would a second Tessera process help? An upper bound, side by side with the reference.

    python -m bench.two_process [--scenarios "token create batch,kv1 read batch"] [--duration 8]

Starts the reference and two independent Tessera dev servers (in memory). Per scenario: the
reference and one Tessera under ``wrk -t2 -c16``, then both Tessera servers at once under
``wrk -t1 -c8`` each, the same total load. The two servers share nothing, so their sum is what a
second worker process could add at best, with the CPU wrk and granian's I/O leave it on this
machine (docs/performance.md says why Tessera does not run one yet).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .scenarios import BY_NAME, Request
from .servers import start_pair, start_tessera
from .state import prepare
from .wrk import WrkResult, WrkSettings
from .wrk import run as run_wrk


def _measure(addr: str, req: Request, settings: WrkSettings, warmup: float) -> WrkResult:
    run_wrk(addr, req, WrkSettings(settings.threads, settings.connections, warmup))
    return run_wrk(addr, req, settings)


def _measure_into(
    out: dict[str, WrkResult], label: str, addr: str, req: Request, settings: WrkSettings, warmup: float
) -> None:
    out[label] = _measure(addr, req, settings, warmup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="token create batch,kv1 read batch")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="tessera-two-") as tmp:
        pair = start_pair("memory", Path(tmp) / "pair")
        second = start_tessera("memory", Path(tmp) / "second")
        try:
            states = {
                "reference": prepare(pair.reference),
                "tessera": prepare(pair.tessera),
                "second": prepare(second),
            }
            full = WrkSettings(threads=2, connections=16, duration=args.duration)
            half = WrkSettings(threads=1, connections=8, duration=args.duration)
            print(f"{'scenario':28} {'reference':>10} {'one process':>12} {'two processes':>14}  (each)")
            for name in names:
                scenario = BY_NAME[name]
                ref = _measure(pair.reference.addr, scenario.build(states["reference"]), full, args.warmup)
                one = _measure(pair.tessera.addr, scenario.build(states["tessera"]), full, args.warmup)
                both: dict[str, WrkResult] = {}
                threads = [
                    threading.Thread(
                        target=_measure_into,
                        args=(both, label, server.addr, scenario.build(states[label]), half, args.warmup),
                    )
                    for label, server in (("tessera", pair.tessera), ("second", second))
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                total = both["tessera"].ok_rps + both["second"].ok_rps
                failed = ref.failed + one.failed + both["tessera"].failed + both["second"].failed
                print(
                    f"{name:28} {ref.ok_rps:>10,.0f} {one.ok_rps:>12,.0f} {total:>14,.0f}"
                    f"  ({both['tessera'].ok_rps:,.0f} + {both['second'].ok_rps:,.0f})"
                    f"  ratios {one.ok_rps / ref.ok_rps:.2f} / {total / ref.ok_rps:.2f}  failed {failed}",
                    flush=True,
                )
        finally:
            pair.stop()
            second.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

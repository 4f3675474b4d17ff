"""Where a request's CPU goes between the server's threads: per thread group, µs and context switches.

    python -m bench.threads [--scenarios "kv1 read batch,token create batch"] [--duration 5]
                            [--variants "" "TESSERA_HTTP_RUNNER=0"]

Tessera alone under wrk (as ``bench.tune``), once per variant (comma-separated environment
settings for the server, "" for the default). Before and after the measured run every thread's
CPU time and context switches are read from ``/proc/<pid>/task``; per successful request it
prints the whole process's CPU and switches, then each group of threads by name:
``tokio-rt-worker`` is granian's Rust runtime *and* its Python threads (the intake, which inherit
the name), ``python`` the threads Python started (the runner, the side pool, the committer).
Voluntary switches are waits (a futex, epoll, the GIL); involuntary ones are preemptions, which on
a busy machine are mostly other programs'. Both counts and the split between groups are steadier
than the CPU figure when other work shares the machine.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .scenarios import SCENARIOS
from .servers import start_tessera
from .state import prepare
from .tune import _env
from .wrk import WrkSettings
from .wrk import run as run_wrk

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ThreadUse:
    name: str
    cpu: float  # seconds, user + system
    voluntary: int
    involuntary: int


def snapshot(pid: int) -> dict[str, ThreadUse]:
    """Every live thread of ``pid`` by thread ID."""
    out: dict[str, ThreadUse] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        counts = dict(line.split(":\t") for line in status.splitlines() if "ctxt_switches" in line)
        out[tid] = ThreadUse(
            name,
            (int(fields[11]) + int(fields[12])) / TICKS,
            int(counts.get("voluntary_ctxt_switches", 0)),
            int(counts.get("nonvoluntary_ctxt_switches", 0)),
        )
    return out


def per_group(before: dict[str, ThreadUse], after: dict[str, ThreadUse]) -> dict[str, list[float]]:
    """name -> [threads that ran, cpu s, voluntary, involuntary] over the interval."""
    groups: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0, 0])
    for tid, now in after.items():
        then = before.get(tid, ThreadUse(now.name, 0.0, 0, 0))
        cpu, vol = now.cpu - then.cpu, now.voluntary - then.voluntary
        group = groups[now.name]
        group[0] += 1 if cpu > 0 or vol > 0 else 0
        group[1] += cpu
        group[2] += vol
        group[3] += now.involuntary - then.involuntary
    return groups


def report(label: str, scenario: str, ok: int, rps: float, groups: dict[str, list[float]]) -> str:
    n = max(1, ok)
    cpu = sum(g[1] for g in groups.values())
    vol = sum(g[2] for g in groups.values())
    inv = sum(g[3] for g in groups.values())
    lines = [
        f"{label:40} {scenario:24} load {os.getloadavg()[0]:5.1f} {rps:8,.0f} req/s  "
        f"cpu {cpu / n * 1e6:6.1f} us/req  switches {vol / n:5.2f} vol {inv / n:5.2f} invol /req"
    ]
    for name, g in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        if g[1] or g[2]:
            lines.append(
                f"    {name:18} {int(g[0]):4} threads  cpu {g[1] / n * 1e6:6.1f} us  "
                f"vol {g[2] / n:5.2f}  invol {g[3] / n:5.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=[""])
    parser.add_argument("--scenarios", default="token create batch,approle login batch,kv1 read batch")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    for variant in args.variants:
        with tempfile.TemporaryDirectory(prefix="tessera-threads-") as tmp:
            server = start_tessera("memory", Path(tmp), env=_env(variant))
            try:
                assert server.process is not None
                pid = server.process.pid
                state = prepare(server)
                for scenario in scenarios:
                    req = scenario.build(state)
                    run_wrk(server.addr, req, WrkSettings(2, 16, args.warmup))
                    before = snapshot(pid)
                    result = run_wrk(server.addr, req, WrkSettings(2, 16, args.duration))
                    groups = per_group(before, snapshot(pid))
                    ok = result.requests - result.non2xx
                    print(
                        report(variant or "(default)", scenario.name, ok, result.ok_rps, groups), flush=True
                    )
            finally:
                server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

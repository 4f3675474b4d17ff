"""Profile Tessera under one scenario's load: py-spy samples the server while wrk drives it.

    python -m bench.profile "kv1 read batch" [--mode memory|durable|postgresql] [--seconds 10] [--top 40]

Prints the functions with the most samples (self and cumulative) from py-spy's collapsed
stacks, and keeps the raw stacks (``--keep FILE``) for a flame graph. Measure before optimising:
this is how the costs named in docs/performance.md were found.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .pgdb import BenchDatabase
from .scenarios import BY_NAME
from .servers import ServerProcess, postgresql_nodes, start_tessera
from .state import prepare
from .wrk import WrkSettings
from .wrk import run as run_wrk


def summarise(collapsed: Path, top: int) -> str:
    """Self and cumulative sample counts per function from py-spy's ``raw`` output."""
    self_counts: collections.Counter[str] = collections.Counter()
    cumulative: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            cumulative[frame] += count
    out = [f"{total} samples", "", "self %  function"]
    out += [f"{100 * n / total:6.1f}  {f}" for f, n in self_counts.most_common(top)]
    out += ["", "cumulative %  function"]
    out += [f"{100 * n / total:6.1f}  {f}" for f, n in cumulative.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(BY_NAME))
    parser.add_argument("--mode", default="memory", choices=("memory", "durable", "postgresql"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--idle",
        action="store_true",
        help="sample every thread, idle ones included (default: only the GIL holder)",
    )
    parser.add_argument("--keep", default="", help="also write the collapsed stacks here")
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    database = BenchDatabase.create() if args.mode == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="tessera-profile-") as tmp:
        server = _start(args.mode, Path(tmp) / args.mode, database)
        try:
            state = prepare(server)
            req = BY_NAME[args.scenario].build(state)
            run_wrk(server.addr, req, WrkSettings(2, args.connections, 2))  # warm caches
            out = Path(tmp) / "stacks.txt"
            assert server.process is not None
            cmd = [pyspy, "record", "-p", str(server.process.pid), "-d", str(int(args.seconds)), "-r", "200"]
            cmd += ["-f", "raw", "-o", str(out), "--nonblocking"] + (["--idle"] if args.idle else ["--gil"])
            spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            result: list[object] = []
            load = threading.Thread(
                target=lambda: result.append(
                    run_wrk(server.addr, req, WrkSettings(2, args.connections, args.seconds))
                )
            )
            load.start()
            load.join()
            _, err = spy.communicate(timeout=60)
            if not out.exists():
                print(err.decode(), file=sys.stderr)
                return 1
            print(result[0] if result else "")
            print(summarise(out, args.top))
            if args.keep:
                shutil.copy(out, args.keep)
        finally:
            server.cleanup()
            if database is not None:
                database.drop()
    return 0


def _start(mode: str, workdir: Path, database: BenchDatabase | None) -> ServerProcess:
    """Tessera as the bench runs it; on PostgreSQL, the active HA node (fenced writes)."""
    if database is None:
        return start_tessera(mode, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return postgresql_nodes(workdir, database, standby=False)[0]


if __name__ == "__main__":
    sys.exit(main())

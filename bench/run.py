"""Side-by-side load test: the reference (OpenBao) and Tessera, same machine, same run, same wrk.

    python -m bench.run [--modes memory,durable,postgresql] [--scenarios kv1,lookup] [--duration 10]
                        [--warmup 2] [--threads 2] [--connections 16] [--standby]
                        [--out bench/results/latest]

For each storage mode both servers are started (``bench/servers.py``), given the same state
through the HTTP API (``bench/state.py``), then every scenario (``bench/scenarios.py``) is run
with wrk against one server at a time, the reference first. The table shows successful requests
per second, p50/p99 latency, the server's CPU use (100% = one core), the non-2xx and socket-error
counts, and the ratio Tessera/reference of successful req/s. It is printed and written to
``<out>.md`` (plus the raw figures in ``<out>.json``).

In the ``postgresql`` mode the CPU of the PostgreSQL backends serving Tessera is shown apart
("db µs/req", see ``bench/pgdb.py``; the reference's raft storage is inside its own process), and
``--standby`` adds a second Tessera node whose row drives the same load at the standby's address,
with the throughput of 1, 3 and 5 nodes projected from the CPU per request (``bench/projection.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .pgdb import BenchDatabase, cpu_spent
from .projection import projection_table
from .scenarios import SCENARIOS, Scenario
from .servers import DURABLE_WORKERS, MODES, ServerProcess, labels, start_pair, workers_for
from .state import prepare
from .wrk import WrkResult, WrkSettings, ensure_wrk
from .wrk import run as run_wrk

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    mode: str
    scenario: str
    server: str  # "reference" | "tessera" | "standby"
    label: str
    result: WrkResult
    cpu_percent: float
    db_cpu_percent: float | None = None  # PostgreSQL's backends (postgresql mode only)
    active_cpu_percent: float | None = None  # the active node, while a standby is loaded

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per successful answer: the efficiency figure least disturbed by a busy machine."""
        return per_request(self.cpu_percent, self.result)

    @property
    def db_cpu_us_per_request(self) -> float | None:
        return None if self.db_cpu_percent is None else per_request(self.db_cpu_percent, self.result)

    @property
    def active_cpu_us_per_request(self) -> float | None:
        """What a standby's load cost the active node (forwarded requests are served there)."""
        pct = self.active_cpu_percent
        return None if pct is None else per_request(pct, self.result)


def per_request(cpu_percent: float, result: WrkResult) -> float:
    """µs of CPU per successful answer, from the CPU use (100% = one core) over the run."""
    ok = max(1, result.requests - result.non2xx)
    return cpu_percent / 100 * result.seconds / ok * 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its running children (worker processes)."""
    total = 0.0
    for one in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{one}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def _children(pid: int) -> list[int]:
    """Child processes of any of the process's threads (a respawned worker is a thread's child)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(p) for p in fh.read().split()]
        except OSError:
            continue
    return out


def wait_for_workers(pid: int, workers: int, timeout: float = 60.0) -> None:
    """Until the server ``pid`` has its ``workers - 1`` worker processes (then give them a warm-up:
    a worker serves once it has caught up and holds the keyring)."""
    deadline = time.monotonic() + timeout
    while len(_children(pid)) < workers - 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server has {len(_children(pid))} of {workers - 1} worker processes")
        time.sleep(0.1)


def measure(
    server: ServerProcess, scenario: Scenario, state: object, settings: WrkSettings, warmup: float
) -> tuple[WrkResult, float]:
    result, cpu, _, _ = measure_with_db(server, scenario, state, settings, warmup, None)
    return result, cpu


def measure_with_db(
    server: ServerProcess,
    scenario: Scenario,
    state: object,
    settings: WrkSettings,
    warmup: float,
    database: BenchDatabase | None,
    active: ServerProcess | None = None,
) -> tuple[WrkResult, float, float | None, float | None]:
    """wrk's result and CPU % of: the server, (with a database) its PostgreSQL backends and (for
    a standby) the active node it forwards to."""
    req = scenario.build(state)  # type: ignore[arg-type]
    if warmup > 0:
        run_wrk(
            server.addr, req, WrkSettings(settings.threads, settings.connections, warmup, settings.timeout)
        )
    assert server.process is not None
    pid = server.process.pid
    peer = active.process.pid if active is not None and active.process is not None else None
    db0 = database.backends() if database is not None else {}
    peer0 = cpu_seconds(peer) if peer is not None else 0.0
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    result = run_wrk(server.addr, req, settings)
    elapsed = max(1e-9, time.monotonic() - t0)
    cpu = (cpu_seconds(pid) - cpu0) / elapsed * 100
    db_cpu = None if database is None else cpu_spent(db0, database.backends()) / elapsed * 100
    peer_cpu = None if peer is None else (cpu_seconds(peer) - peer0) / elapsed * 100
    return result, cpu, db_cpu, peer_cpu


def median(rows: list[Row]) -> Row:
    """The run with the median throughput (a real run, so its latencies belong to it)."""
    ordered = sorted(rows, key=lambda r: r.result.ok_rps)
    return ordered[len(ordered) // 2]


def _fmt_rps(r: WrkResult) -> str:
    return f"{r.ok_rps:,.0f}"


def _us(us: float | None) -> str:
    return "" if us is None else f"{us:.0f}"


def _db_cell(r: Row | None) -> str:
    return _us(None if r is None else r.db_cpu_us_per_request)


def table(rows: list[Row]) -> str:
    """Markdown: one line per (mode, scenario), both servers side by side (a standby's row apart)."""
    head = (
        "| mode | scenario | reference req/s | p50 ms | p99 ms | cpu µs/req | tessera req/s | p50 ms | p99 ms "
        "| cpu µs/req | db µs/req | failed ref/tes | ratio |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    seen: dict[tuple[str, str], dict[str, Row]] = {}
    for row in rows:
        seen.setdefault((row.mode, row.scenario), {})[row.server] = row
    for (mode, scenario), pair in seen.items():
        ref, tes = pair.get("reference"), pair.get("tessera")

        def cells(r: Row | None) -> str:
            if r is None:
                return " | | | "
            res = r.result
            return f"{_fmt_rps(res)} | {res.p50_ms:.2f} | {res.p99_ms:.2f} | {r.cpu_us_per_request:.0f}"

        errors = "/".join(str(r.result.failed) if r else "-" for r in (ref, tes))
        ratio = ""
        if ref and tes and ref.result.ok_rps:
            ratio = f"{tes.result.ok_rps / ref.result.ok_rps:.2f}"
        lines.append(
            f"| {mode} | {scenario} | {cells(ref)} | {cells(tes)} | {_db_cell(tes)} | {errors} | {ratio} |"
        )
    return head + "\n".join(lines) + "\n" + standby_table(seen)


def standby_table(seen: dict[tuple[str, str], dict[str, Row]]) -> str:
    """The standby's rows against the active node's: the issue's bar is within 10% of it."""
    lines = []
    for (mode, scenario), runs in seen.items():
        active, standby = runs.get("tessera"), runs.get("standby")
        if active is None or standby is None:
            continue
        res = standby.result
        share = f"{res.ok_rps / active.result.ok_rps:.2f}" if active.result.ok_rps else ""
        lines.append(
            f"| {mode} | {scenario} | {_fmt_rps(active.result)} | {_fmt_rps(res)} | {res.p50_ms:.2f} "
            f"| {res.p99_ms:.2f} | {standby.cpu_us_per_request:.0f} | {_us(standby.active_cpu_us_per_request)} "
            f"| {_db_cell(standby)} | {res.failed} | {share} |"
        )
    if not lines:
        return ""
    return (
        "\n| mode | scenario | active req/s | standby req/s | p50 ms | p99 ms | standby cpu µs/req "
        "| active cpu µs/req | db µs/req | failed | standby/active |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(lines) + "\n"
    )


def machine() -> str:
    bao = subprocess.run([_bao(), "version"], capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True).stdout.splitlines()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}; "
        f"{bao}; {wrk[0] if wrk else 'wrk'}; load average at start {load}"
    )


def _bao() -> str:
    from tests.helpers.servers import find_bao

    return find_bao()


def run_mode(
    mode: str, workdir: Path, scenarios: list[Scenario], settings: WrkSettings, args: argparse.Namespace
) -> list[Row]:
    """Every scenario on every server of one mode; the median row of each (scenario, server)."""
    standby = bool(args.standby) and mode == "postgresql"
    workers = workers_for(mode, args.workers)
    pair = start_pair(mode, workdir, workers=workers, standby=standby)
    rows: list[Row] = []
    try:
        states = {role: prepare(server) for role, server in pair.servers() if role != "standby"}
        states["standby"] = states["tessera"]  # one cluster: the active node's tokens work on both
        servers = list(zip(pair.servers(), labels(mode, workers, standby), strict=True))
        for scenario in scenarios:
            runs: dict[str, list[Row]] = {}
            for round_no in range(args.rounds):
                # Alternate who goes first so that drift in the machine's load hits both alike.
                for (role, server), label in servers if round_no % 2 == 0 else servers[::-1]:
                    database = pair.database if role != "reference" else None
                    active = pair.tessera if role == "standby" else None
                    result, cpu, db_cpu, active_cpu = measure_with_db(
                        server, scenario, states[role], settings, args.warmup, database, active
                    )
                    row = Row(mode, scenario.name, role, label, result, cpu, db_cpu, active_cpu)
                    runs.setdefault(role, []).append(row)
                    db = "" if db_cpu is None else f"  db {row.db_cpu_us_per_request:6.0f} us/req"
                    print(
                        f"  {mode:8} {scenario.name:26} {label:20} {result.ok_rps:9,.0f} req/s  "
                        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  cpu {cpu:4.0f}%  "
                        f"{row.cpu_us_per_request:6.0f} us/req{db}  failed {result.failed}",
                        flush=True,
                    )
            rows += [median(runs[role]) for role, _ in pair.servers()]
    finally:
        pair.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--modes", default="memory,durable", help="comma-separated: memory, durable, postgresql"
    )
    parser.add_argument(
        "--standby",
        action="store_true",
        help="postgresql mode: a second Tessera node (a standby), loaded at its own address",
    )
    parser.add_argument("--scenarios", default="", help="comma-separated name fragments (default: all)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first")
    parser.add_argument("--rounds", type=int, default=1, help="runs per server; the median is reported")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"Tessera processes per node (workers = N): durable mode {DURABLE_WORKERS} unless given, "
        "postgresql mode 1 unless given; the memory mode always runs one",
    )
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "latest"))
    args = parser.parse_args(argv)

    settings = WrkSettings(args.threads, args.connections, args.duration)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if not wanted or any(w in s.name for w in wanted)]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    info = machine()
    settings_line = (
        f"wrk -t{settings.threads} -c{settings.connections} -d{settings.duration:.0f}s "
        f"(after {args.warmup:.0f}s warm-up), one server loaded at a time"
    )
    print(info, "\n" + settings_line, flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        for mode in modes:
            rows += run_mode(mode, Path(tmp) / mode, scenarios, settings, args)
    text = table(rows) + projection_table(rows)
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(
        f"# Tessera vs reference\n\n{info}\n\n{settings_line}\n\n"
        "ratio = Tessera successful req/s / reference successful req/s; cpu µs/req = server CPU time "
        "(user + system) per successful request; db µs/req = the same for the PostgreSQL backends "
        "connected to Tessera's database (postgresql mode; the reference's raft is inside its own "
        "process); failed = non-2xx answers + socket errors\n\n" + text
    )
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": info,
                "settings": asdict(settings) | {"warmup": args.warmup},
                "rows": [asdict(r) | {"ok_rps": r.result.ok_rps} for r in rows],
            },
            indent=1,
        )
    )
    print(f"written to {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    failed = [r for r in rows if r.result.failed]
    if failed:
        print("WARNING: some runs had failures (non-2xx or socket errors); their req/s only counts successes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

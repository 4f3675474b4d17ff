"""Hours of full load, shortened: does the WAL stay bounded, expiry keep up and memory stay flat?

    python -m bench.soak [--minutes 10] [--ttl 30] [--servers sqlite,postgresql,reference]

Tessera on SQLite, Tessera on PostgreSQL and the reference on raft are started side by side and
loaded at the same time, each by its own wrk processes: service tokens with a ``--ttl`` TTL at the
server's top rate (6 connections) plus KV v1 writes and reads over a fixed set of keys (2
connections). Every ``--interval`` seconds one line per server shows successful requests and
token creations per second, the WAL and database sizes (raft: its log and its state machine;
PostgreSQL's WAL is the cluster's, shared with others, so only the database is shown), the
server's RSS, the service tokens stored, and the expiry backlog: stored tokens beyond those
created within the last TTL (the same estimate for every server), with Tessera's own count from
``sys/metrics`` beside it. After the load, the run waits a TTL and a little more and shows the
backlog draining, then a verdict per server against the bounds of issue 30: WAL never above
256 MB, database size and RSS within 10% over the last 5 minutes of load, backlog at the end
under 30 s worth of creations.

The three servers share the machine (and with two cores, each other's CPU): rates are lower than
``bench.run`` measures for one server alone. The bounds do not depend on speed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python bench/soak.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .memory import rss_kib
from .run import _children
from .scenarios import Request
from .servers import (
    ReferenceServer,
    ServerProcess,
    TesseraServer,
    _durable,
    _raft_config,
    _sqlite_config,
    free_port,
)
from .wrk import WrkSettings, ensure_wrk
from .wrk import run as run_wrk

WAL_CAP_MB = 256
PLATEAU = 0.10  # allowed growth over the last 5 minutes
PG_DSN = os.environ.get("TESSERA_SOAK_PG", "postgresql://postgres@127.0.0.1:5432/")

KV_LUA = """
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Vault-Token"] = {token}
local n = 0
function request()
  n = n + 1
  local path = "/v1/kv1/soak/" .. (n % 1000)
  if n % 2 == 0 then
    return wrk.format("POST", path, nil, '{{"value": "{value}"}}')
  end
  return wrk.format("GET", path)
end
"""


@dataclass
class Sample:
    at: float
    ok_rps: float
    tokens_rps: float
    wal_mb: float | None
    db_mb: float
    rss_mb: float
    stored: int
    backlog: int  # stored beyond those created within the last TTL
    server_backlog: int | None  # Tessera's own figure (sys/metrics)


@dataclass
class Target:
    """One server under soak: how to measure it, and what it has been through."""

    label: str
    server: ServerProcess
    sizes: object  # () -> (wal bytes or None, db bytes)
    cleanup: object = None
    baseline: int = 0  # tokens stored before the load (root, ...)
    created: deque[tuple[float, float, int]] = field(default_factory=deque)  # (began, ended, tokens)
    samples: list[Sample] = field(default_factory=list)
    wal_peak_mb: float = 0.0
    load_samples: int = 0  # samples taken under load (the rest while it drains)


def _file_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 2**20


def _rss_mb(server: ServerProcess) -> float:
    assert server.process is not None
    total = 0
    for pid in [server.process.pid, *_children(server.process.pid)]:
        try:
            total += rss_kib(pid)
        except (OSError, RuntimeError):
            continue
    return total / 1024


def _stored_tokens(server: ServerProcess) -> int:
    status, body, _ = server.call("LIST", "auth/token/accessors")
    if status == 404:
        return 0
    if status != 200:
        raise RuntimeError(f"{server.name}: LIST auth/token/accessors -> {status} {body}")
    return len(body["data"]["keys"])


def gauges(body: dict) -> dict[str, float]:
    """``sys/metrics`` JSON gauges by name, summed over labels, with the host name taken out (go-metrics
    puts it into gauge names unless the telemetry stanza sets ``disable_hostname``)."""
    host = f".{socket.gethostname().split('.', 1)[0]}."
    out: dict[str, float] = {}
    for gauge in body.get("Gauges", []):
        name = gauge["Name"].replace(host, ".", 1)
        out[name] = out.get(name, 0) + gauge["Value"]
    return out


def _server_backlog(server: ServerProcess) -> int | None:
    status, body, _ = server.call("GET", "sys/metrics")
    if status != 200 or not isinstance(body, dict):
        return None
    found = gauges(body).get("tessera.expire.backlog")
    return None if found is None else int(found)


def _wal_pauses(server: ServerProcess) -> str:
    """Tessera on SQLite: how often the WAL was truncated and how long writes waited for it."""
    status, body, _ = server.call("GET", "sys/metrics")
    if status != 200 or not isinstance(body, dict):
        return ""
    g = gauges(body)
    if "tessera.sqlite.wal_restarts" not in g:
        return ""
    restarts = int(g["tessera.sqlite.wal_restarts"])
    total = g["tessera.sqlite.wal_pause_total_ms"]
    return (
        f"{restarts} truncations; writes waited {g['tessera.sqlite.wal_pause_max_ms']:.0f} ms at most, "
        f"{total / max(1, restarts):.0f} ms on average"
    )


# -- the three servers -------------------------------------------------------------------------
def start_sqlite(workdir: Path) -> Target:
    directory = workdir / "tessera-sqlite"
    directory.mkdir(parents=True)
    server = _durable(TesseraServer(config=_sqlite_config(directory, free_port(), workers=1)))
    db = directory / "tessera.db"
    wal = directory / "tessera.db-wal"
    return Target("tessera sqlite", server, lambda: (_file_mb(wal), _file_mb(db)))


def start_postgresql(workdir: Path) -> Target:
    import psycopg

    name = "wt_soak_" + secrets.token_hex(4)
    with psycopg.connect(PG_DSN + "postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    directory = workdir / "tessera-pg"
    directory.mkdir(parents=True)
    config = directory / "tessera.hcl"
    port = free_port()
    config.write_text(
        f'storage "postgresql" {{\n  connection_url = "{PG_DSN}{name}"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    )
    conn = psycopg.connect(PG_DSN + name, autocommit=True)

    def sizes() -> tuple[None, float]:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return None, row[0] / 2**20

    def drop() -> None:
        conn.close()
        with psycopg.connect(PG_DSN + "postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    try:
        server = _durable(TesseraServer(config=config))
    except BaseException:
        drop()
        raise
    return Target("tessera postgresql", server, sizes, cleanup=drop)


def start_reference(workdir: Path) -> Target:
    directory = workdir / "bao-raft"
    directory.mkdir(parents=True)
    server = _durable(ReferenceServer(config=_raft_config(directory, free_port(span=2))))
    raft = directory / "raft"
    return Target(
        "bao raft", server, lambda: (_file_mb(raft / "raft" / "raft.db"), _file_mb(raft / "vault.db"))
    )


STARTERS = {"sqlite": start_sqlite, "postgresql": start_postgresql, "reference": start_reference}


def prepare(target: Target) -> None:
    server = target.server
    for method, path, body in [
        ("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}}),
        (
            "PUT",
            "sys/policies/acl/soak",
            {"policy": 'path "kv1/*" { capabilities = ["create", "read", "update"] }'},
        ),
    ]:
        status, answer, _ = server.call(method, path, json=body)
        if status >= 300:
            raise RuntimeError(f"{server.name}: {method} {path} -> {status} {answer}")
    target.baseline = _stored_tokens(server)


# -- load and samples ------------------------------------------------------------------------
def _wrk_kv(server: ServerProcess, seconds: float) -> int:
    """KV writes and reads for ``seconds``; returns the successful requests."""
    from .wrk import _lua_string

    lua = KV_LUA.format(token=_lua_string(server.root_token or ""), value="v" * 64)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    try:
        proc = subprocess.run(
            [ensure_wrk(), "-t1", "-c2", f"-d{max(1, round(seconds))}s", "-s", fh.name, server.addr],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(fh.name)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "requests" and parts[0].isdigit():
            return int(parts[0])
    return 0


def _chunk(target: Target, ttl: int, seconds: float, settings: WrkSettings) -> tuple[float, float]:
    """One interval of load: (successful requests/s, tokens created/s)."""
    req = Request(
        "POST", "auth/token/create", target.server.root_token or "", {"policies": ["soak"], "ttl": f"{ttl}s"}
    )
    kv_ok: list[int] = []
    kv = threading.Thread(target=lambda: kv_ok.append(_wrk_kv(target.server, seconds)))
    began = time.monotonic()
    kv.start()
    result = run_wrk(target.server.addr, req, settings)
    kv.join()
    created = max(0, result.requests - result.non2xx)
    target.created.append((began, time.monotonic(), created))
    return (created + sum(kv_ok)) / seconds, created / seconds


def _alive(target: Target, ttl: int, now: float) -> float:
    """Tokens created within the last ``ttl`` seconds, each chunk prorated by its overlap."""
    while target.created and target.created[0][1] < now - ttl - 60:
        target.created.popleft()
    alive = 0.0
    for began, ended, count in target.created:
        overlap = min(ended, now) - max(began, now - ttl)
        if overlap > 0:
            alive += count * overlap / max(1e-9, ended - began)
    return alive


def sample(target: Target, ttl: int, ok_rps: float, tokens_rps: float) -> Sample:
    wal, db = target.sizes()  # type: ignore[operator]
    stored = _stored_tokens(target.server) - target.baseline
    now = time.monotonic()
    s = Sample(
        at=now,
        ok_rps=ok_rps,
        tokens_rps=tokens_rps,
        wal_mb=wal,
        db_mb=db,
        rss_mb=_rss_mb(target.server),
        stored=stored,
        backlog=max(0, round(stored - _alive(target, ttl, now))),
        server_backlog=_server_backlog(target.server),
    )
    if wal is not None:
        target.wal_peak_mb = max(target.wal_peak_mb, wal)
    target.samples.append(s)
    return s


def _row(elapsed: float, target: Target, s: Sample) -> str:
    wal = "-" if s.wal_mb is None else f"{s.wal_mb:8.1f}"
    srv = "-" if s.server_backlog is None else f"{s.server_backlog:,}"
    return (
        f"{elapsed:6.0f}s  {target.label:<19} {s.ok_rps:8.0f} {s.tokens_rps:8.0f} {wal:>8} {s.db_mb:8.1f} "
        f"{s.rss_mb:7.1f} {s.stored:>8,} {s.backlog:>8,} {srv:>8}"
    )


HEADER = (
    f"{'t':>7}  {'server':<19} {'req/s':>8} {'tok/s':>8} {'WAL MB':>8} {'DB MB':>8} "
    f"{'RSS MB':>7} {'stored':>8} {'backlog':>8} {'(server)':>8}"
)


def _watch_wal(targets: list[Target], stop: threading.Event) -> None:
    """The WAL's peak between samples too (a spike could come and go within an interval)."""
    while not stop.wait(0.5):
        for t in targets:
            wal, _ = t.sizes()  # type: ignore[operator]
            if wal is not None:
                t.wal_peak_mb = max(t.wal_peak_mb, wal)


def _drive(target: Target, until: float, ttl: int, interval: float, started: float) -> None:
    """One server's loop: a chunk of load, a sample, a line; each server at its own pace."""
    settings = WrkSettings(threads=1, connections=6, duration=interval, timeout=10)
    try:
        while time.monotonic() < until:
            rates = _chunk(target, ttl, interval, settings)
            print(_row(time.monotonic() - started, target, sample(target, ttl, *rates)), flush=True)
    except Exception as exc:  # one server failing must not stop the others' figures
        print(f"{target.label}: load stopped: {exc}", flush=True)
    target.load_samples = len(target.samples)


def soak(targets: list[Target], minutes: float, ttl: int, interval: float) -> None:
    print(HEADER, flush=True)
    started = time.monotonic()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_wal, args=(targets, stop), daemon=True)
    watcher.start()
    try:
        until = started + minutes * 60
        drivers = [threading.Thread(target=_drive, args=(t, until, ttl, interval, started)) for t in targets]
        for d in drivers:
            d.start()
        for d in drivers:
            d.join()
        print(f"--- load stopped; waiting {ttl + 15}s for the backlog to drain ---", flush=True)
        drain_until = time.monotonic() + ttl + 15
        while time.monotonic() < drain_until:
            time.sleep(min(interval, max(0.0, drain_until - time.monotonic())))
            for t in targets:
                print(_row(time.monotonic() - started, t, sample(t, ttl, 0.0, 0.0)), flush=True)
    finally:
        stop.set()
    verdict(targets, interval)


def _growth(first: float, last: float) -> float:
    return (last - first) / first if first else 0.0


def verdict(targets: list[Target], interval: float) -> None:
    print("\n--- verdict (bounds of issue 30) ---")
    for t in targets:
        load = t.samples[: t.load_samples]
        if not load:
            continue
        tail = [s for s in load if s.at >= load[-1].at - 300] or load
        end = load[-1]
        creation_30s = 30 * (sum(s.tokens_rps for s in tail) / len(tail))
        db_growth = _growth(tail[0].db_mb, end.db_mb)
        rss_growth = _growth(tail[0].rss_mb, end.rss_mb)
        drained = t.samples[-1].backlog
        checks = {
            "WAL peak": (
                f"{t.wal_peak_mb:.1f} MB" if t.samples[0].wal_mb is not None else "-",
                t.wal_peak_mb <= WAL_CAP_MB,
            ),
            "DB growth (last 5 min)": (f"{db_growth:+.1%}", db_growth < PLATEAU),
            "RSS growth (last 5 min)": (f"{rss_growth:+.1%}", rss_growth < PLATEAU),
            "backlog at end of load": (
                f"{end.backlog:,} (30 s of creation: {creation_30s:,.0f})",
                end.backlog < creation_30s,
            ),
            "backlog after drain": (f"{drained:,}", True),
        }
        print(t.label)
        for name, (value, ok) in checks.items():
            print(f"  {name:<24} {value:<40} {'ok' if ok else 'OVER'}")
        pauses = _wal_pauses(t.server)
        if pauses:
            print(f"  {'WAL truncations':<24} {pauses}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--ttl", type=int, default=30, help="service token TTL in seconds")
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--servers", default="sqlite,postgresql,reference")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in STARTERS]
    if unknown:
        p.error(f"unknown server(s) {unknown}; choose from {sorted(STARTERS)}")
    ensure_wrk()
    # A SIGTERM unwinds like Ctrl-C: the servers stop and the PostgreSQL database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="tessera-soak-"))
    targets: list[Target] = []
    try:
        for name in names:
            targets.append(STARTERS[name](workdir))
            prepare(targets[-1])
        print(
            f"soak: {args.minutes:g} min, token TTL {args.ttl}s, samples every {args.interval:g}s, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"
        )
        soak(targets, args.minutes, args.ttl, args.interval)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        for t in targets:
            t.server.cleanup()
            if callable(t.cleanup):
                t.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole server's instructions per request over real sockets, counted by callgrind.

    python -m bench.server_instructions [--requests 2000] [--connections 4] [--tree PATH] [--objects]
                                        [--server dev|sqlite|workers] [--scenarios NAME,...]

``bench/instructions.py`` counts a request's Python as ``App`` runs it, without sockets; under
wrk the server spends more than twice that per request (issue 29). This counts the rest too: a
real Tessera dev server process (in memory, one process, ``tests/helpers/servers.py``'s
``TesseraServer``, ``PYTHONHASHSEED=0``) runs under ``valgrind --tool=callgrind
--instr-atstart=no`` (every thread, one count), the benchmark state is laid down over HTTP
(``bench/state.py``), and a raw-socket client in this process (outside valgrind) sends each
scenario's request on a few kept-alive connections, one request in flight on each. After a
warm-up, ``callgrind_control`` zeroes the counters and switches instrumentation on, the counted
requests go out, and the counters are dumped (instrumentation off again).

Scenarios: ``404 outside /v1/`` (answered by ``App._serve``'s first checks: the front and the
lane around the App), ``sys/health``, and ``bench/scenarios.py``'s token create batch and kv1
read batch. The served process lifts the dispatcher's "long request" threshold (at valgrind's
pace every request would go to the side pool, where under wrk all run on the loop's thread).

Printed per scenario: instructions per request (every instruction of the process, its threads
and timers included: what the front, the event loop, libc and the request's Python cost; the
kernel's share of recv/send is not counted) and system calls per request (less the clock reads,
which the vDSO answers natively), and with ``--objects`` each object file's own instructions
(callgrind's ``--inclusive=no``, read from the dump): the interpreter (Tessera's and the standard
library's Python, their C built-ins), uvloop (its Cython and libuv), libc, orjson, OpenSSL and
the rest. ``--tree`` runs another checkout's ``src`` with this harness, for a before/after pair.
Per-second work (the expiry ticker, the deadline sweep) weighs ~50x more per request than
natively, alike for both trees. A run takes 2-3 minutes.

``--server sqlite`` counts one process on SQLite (initialised, unsealed) instead of the dev
server; ``--server workers`` counts ``workers = 2`` on SQLite, both processes under callgrind (the
active one starts its worker through valgrind too, ``cluster/pool.py``'s ``worker_command``), the
worker on a port of its own (``TESSERA_WORKER_LISTEN``). Each scenario is then driven at the
worker, then at the active process, and each row gives what both processes spent per request: the
one that served, and the other one meanwhile. ``--scenarios`` picks among ``PATHS`` and ``JWT``
(an RS256 JWT login → batch token with a fresh token per request, ``bench/jwt_bench.py``'s mount,
its entity made by a first login beforehand, so the counted logins write nothing).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tests.helpers.servers import TesseraServer, free_port

from .run import _children
from .scenarios import BY_NAME, Request
from .servers import _sqlite_config
from .state import State, prepare

HERE = Path(__file__).resolve().parents[1]
FLOOR = "404 outside /v1/"  # answered by App._serve's first checks: little but the front
HEALTH = "sys health"  # the cheapest request clients make (load balancers' probe)
PATHS = (FLOOR, HEALTH, "token create batch", "kv1 read batch")
JWT = "jwt login RS256 fresh"  # not among the defaults: signing its tokens takes a while
SERVERS = ("dev", "sqlite", "workers")
STATUSES = {FLOOR: 404}  # every other scenario answers 200
WARM = 300
STARTUP_SECONDS = 600.0  # valgrind's start-up of a whole server, on a busy machine


def _callgrind(out: Path) -> list[str]:
    """valgrind's command line before the program: every thread in one count, nothing counted
    until ``callgrind_control`` switches it on."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--separate-threads=no",
        "--collect-systime=yes",
        f"--callgrind-out-file={out}",
    ]


class CountedServer(TesseraServer):
    """``TesseraServer`` under callgrind, instrumenting nothing until told (``callgrind_control``).
    With ``config``, a config-mode server; with ``worker_port`` too, its worker process also runs
    under callgrind (its dumps beside ``out``, see ``worker_out``) on that port of its own."""

    def __init__(self, out: Path, tree: Path, config: Path | None = None, worker_port: int = 0) -> None:
        env = {"PYTHONHASHSEED": "0", "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{HERE}"}
        if worker_port:
            env[WORKER_OUT_ENV] = str(worker_out(out))
            env["TESSERA_WORKER_LISTEN"] = f"127.0.0.1:{worker_port}"
        super().__init__(config=config, env=env, startup_timeout=STARTUP_SECONDS, cwd=HERE)
        self.out = out
        self.worker_port = worker_port

    def command(self) -> list[str]:
        tessera = super().command()
        assert tessera[1:3] == ["-m", "tessera"]
        return [
            *_callgrind(self.out),
            sys.executable,
            "-m",
            "bench.server_instructions",
            "--serve",
            *tessera[3:],
        ]


WORKER_OUT_ENV = "TESSERA_COUNT_WORKER_OUT"  # set: the active process starts its worker under callgrind


def worker_out(out: Path) -> Path:
    """Where the worker's dumps go: beside the active process's, under a stem of their own."""
    return out.with_name("worker-" + out.name)


def serve(argv: list[str]) -> int:
    """``python -m tessera ...argv`` with the dispatcher's "long request" threshold lifted: at
    valgrind's pace every request would count as long and go to the side pool, where under wrk
    they all run on the loop's thread. Workers, if any, start under callgrind the same way."""
    from tessera import __main__ as entry
    from tessera.cluster import pool
    from tessera.server import dispatch

    dispatch.LONG_SECONDS = 1e9
    counted_worker = os.environ.get(WORKER_OUT_ENV)
    if counted_worker:
        command = [*_callgrind(Path(counted_worker)), sys.executable, "-m", "bench.server_instructions"]
        pool.worker_command = lambda: [*command, "--serve-worker"]
    sys.argv = ["tessera", *argv]
    return entry._main()


def serve_worker() -> int:
    """A worker process (``tessera.server.worker_process``) with the same threshold lifted."""
    from tessera.server import dispatch, worker_process

    dispatch.LONG_SECONDS = 1e9
    return worker_process.main()


def _wire(req: Request, host: str) -> bytes:
    """The request as wrk sends it (``bench/wrk.py``): Host, JSON content type, token, body. A
    path below /v1/, or from the root if it starts with a slash."""
    target = req.path if req.path.startswith("/") else f"/v1/{req.path}"
    lines = [f"{req.method} {target} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    if req.token:
        lines.append(f"X-Vault-Token: {req.token}")
    body = b"" if req.body is None else json.dumps(req.body).encode()
    if req.body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


@dataclass
class _Conn:
    sock: socket.socket
    buf: bytes = b""  # an answer's bytes so far


def drive(port: int, wire: bytes | Sequence[bytes], total: int, connections: int) -> dict[int, int]:
    """Send ``wire`` ``total`` times over ``connections`` kept-alive connections, each waiting for
    its answer before the next request; the statuses answered. Given several wires, the requests
    go through them in turn (a fresh JWT per login)."""
    wires = [wire] if isinstance(wire, bytes) else list(wire)
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(_Conn(sock))
    statuses: dict[int, int] = defaultdict(int)
    sent = answered = 0
    try:
        for conn in conns:
            if sent < total:
                conn.sock.sendall(wires[sent % len(wires)])
                sent += 1
                selector.register(conn.sock, selectors.EVENT_READ, conn)
        while answered < total:
            for key, _ in selector.select(timeout=120):
                conn = key.data
                data = conn.sock.recv(65536)
                if not data:
                    raise RuntimeError("the server closed a connection")
                conn.buf += data
                end = conn.buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                found = _LENGTH.search(conn.buf, 0, end + 2)
                size = end + 4 + (int(found.group(1)) if found else 0)
                if len(conn.buf) < size:
                    continue
                statuses[int(conn.buf[9:12])] += 1
                conn.buf = conn.buf[size:]
                answered += 1
                if sent < total:
                    conn.sock.sendall(wires[sent % len(wires)])
                    sent += 1
    finally:
        selector.close()
        for conn in conns:
            conn.sock.close()
    return dict(statuses)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL, timeout=300)


def requests_of(state: State, names: Sequence[str] = PATHS) -> dict[str, Request]:
    """Each scenario's request, in ``names``' order (``path`` below /v1/, as in scenarios.py)."""
    extra = {FLOOR: Request("GET", "/nope"), HEALTH: Request("GET", "sys/health")}
    return {name: extra[name] if name in extra else BY_NAME[name].build(state) for name in names}


Wires = Callable[[str, int], list[bytes]]  # (Host header, how many): the next requests to send


def scenario_wires(server: TesseraServer, state: State, names: Sequence[str]) -> dict[str, Wires]:
    """Each scenario's requests on the wire: the same one each time, or (``JWT``) a freshly
    signed token each, its mount and entity laid down first."""
    out: dict[str, Wires] = {}
    fixed = requests_of(state, [name for name in names if name != JWT])
    for name in names:
        if name == JWT:
            out[name] = _jwt_logins(server)
        else:
            out[name] = _same(fixed[name])
    return out


def _same(req: Request) -> Wires:
    def wires(host: str, _count: int) -> list[bytes]:
        return [_wire(req, host)]

    return wires


def _jwt_logins(server: TesseraServer) -> Wires:
    """``bench/jwt_bench.py``'s mount and role; one login first (through ``server``, the active
    process), which makes the entity and alias, so the counted logins write nothing."""
    from .jwt_bench import github_token, setup, signing_key

    key = signing_key("RS256")
    setup(server, key)
    signed = 0

    def fresh(host: str, count: int) -> list[bytes]:
        nonlocal signed
        bodies = [
            {"role": "deploy", "jwt": github_token(key, "RS256", run_id=str(i), jti=f"count-{i}")}
            for i in range(signed, signed + count)
        ]
        signed += count
        return [_wire(Request("POST", "auth/jwt/login", body=body), host) for body in bodies]

    first = json.loads(fresh("", 1)[0].split(b"\r\n\r\n", 1)[1])
    status, answer, _ = server.call("POST", "auth/jwt/login", json=first, token=None)
    if status != 200:
        raise SystemExit(f"{JWT}: the first login answered {status}: {answer}")
    return fresh


@dataclass
class Counted:
    """A process under callgrind: its label in the results, its pid, where its dumps go."""

    label: str
    pid: int
    out: Path


Results = dict[str, dict[str, dict[str, float]]]  # row -> counted process -> totals and objects


def count(
    tree: Path,
    requests: int,
    connections: int,
    keep: Path | None,
    kind: str = "dev",
    names: Sequence[str] = PATHS,
) -> Results:
    """Each scenario's counted dumps, as totals per request (``Ir``, ``sysCount``) and per object,
    for each process counted. Rows are the scenarios; with ``workers``, each scenario twice: driven
    at the worker's port, then at the active process's."""
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="tessera-server-instructions-") as tmp:
        out = Path(tmp) / "cg.out"
        server = _counted_server(kind, out, tree, Path(tmp))
        try:
            _start(server)
            state = prepare(server)
            wires = scenario_wires(server, state, names)
            assert server.process is not None
            counted = [Counted("server" if kind != "workers" else "active", server.process.pid, out)]
            targets = [("", server.port)]
            if kind == "workers":
                counted.append(Counted("worker", _worker_pid(server.process.pid), worker_out(out)))
                targets = [(" -> worker", server.worker_port), (" -> active", server.port)]
            for name, make in wires.items():
                for suffix, port in targets:
                    warm = functools.partial(_warm, name, port, make, connections)
                    warm()
                    if kind == "workers":
                        _until_caught_up(server, warm)
                    batch = make(f"127.0.0.1:{port}", requests)
                    results[name + suffix] = _count_row(name, port, batch, connections, counted, keep)
        finally:
            server.cleanup()
    return results


def _warm(name: str, port: int, make: Wires, connections: int) -> None:
    _expect(name, drive(port, make(f"127.0.0.1:{port}", WARM), WARM, connections))


def _count_row(
    name: str, port: int, batch: list[bytes], connections: int, counted: list[Counted], keep: Path | None
) -> dict[str, dict[str, float]]:
    """``batch`` sent to ``port``, counted in every process of ``counted``."""
    row = _slug(name + f" {port}")
    for proc in counted:
        _control(proc.pid, "--zero")
        _control(proc.pid, "--instr=on")
    _expect(name, drive(port, batch, len(batch), connections))
    figures: dict[str, dict[str, float]] = {}
    for proc in counted:
        _control(proc.pid, "--dump=" + row)
        _control(proc.pid, "--instr=off")
        dump = _newest(proc.out)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{row}.{proc.label}.callgrind").write_bytes(dump.read_bytes())
        figures[proc.label] = {k: v / len(batch) for k, v in _split(dump).items()}
        dump.unlink()
    return figures


def _counted_server(kind: str, out: Path, tree: Path, tmp: Path) -> CountedServer:
    if kind == "dev":
        return CountedServer(out, tree)
    config = _sqlite_config(tmp, free_port(), 2 if kind == "workers" else 1)
    return CountedServer(out, tree, config, free_port() if kind == "workers" else 0)


def _start(server: CountedServer) -> None:
    """Started, and for a config-mode server initialised and unsealed, ready to serve."""
    server.start()
    if server.config is None:
        return
    server.init()
    server.unseal()
    deadline = time.monotonic() + STARTUP_SECONDS
    while server.call("GET", "auth/token/lookup-self")[0] != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not become ready:\n{server.output()}")
        time.sleep(0.5)
    while server.worker_port and not _listening(server.worker_port):
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker did not listen:\n{server.output()}")
        time.sleep(0.5)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return False
    return True


def _worker_pid(active: int) -> int:
    """The worker process's pid: the active process's child (valgrind runs it in its own pid)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        children = _children(active)
        if children:
            return children[0]
        if time.monotonic() > deadline:
            raise SystemExit("the worker process did not start")
        time.sleep(0.5)


def _until_caught_up(server: CountedServer, warm: Callable[[], None]) -> None:
    """Warm the worker up until it has applied the active process's newest commit (it catches up
    when a request arrives; before it holds the keyring it hands every request over)."""
    from tessera.cluster.shared_state import SharedState

    assert isinstance(server.config, Path)
    shared = SharedState(str(server.config.parent / "tessera.db") + ".tessera-shm", create=False)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while shared.readers_seen() != [shared.read()[0]]:
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not catch up with the active process")
            warm()
    finally:
        shared.close()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _expect(name: str, statuses: dict[int, int]) -> None:
    if set(statuses) != {STATUSES.get(name, 200)}:
        raise SystemExit(f"{name}: unexpected answers: {statuses}")


def _newest(out: Path) -> Path:
    """The newest of ``out``'s numbered dumps (``cg.out.1``, ``cg.out.2``...)."""
    dumps = [p for p in out.parent.glob(out.name + ".*") if p.suffix[1:].isdigit()]
    if not dumps:
        raise SystemExit("callgrind wrote no dump")
    return max(dumps, key=lambda p: int(p.suffix[1:]))


_GROUPS = (  # first match wins: extension modules live under a python3.11 directory
    ("uvloop+libuv", ("/uvloop/",)),
    ("orjson", ("/orjson/",)),
    ("openssl", ("libssl", "libcrypto", "_openssl", "_rust")),
    ("libc", ("libc.so", "libc-", "ld-linux", "libm.so")),
    ("python", ("python3", "libpython")),
)
# Clock reads are system calls under valgrind only: natively the vDSO answers them in user space.
_VDSO = ("clock_gettime", "gettimeofday", "time_syscall")


def _split(dump: Path) -> dict[str, int]:
    """Totals (``Ir``; ``syscalls``, less the clock reads the vDSO answers natively) and self
    instructions by object group, read from the dump (callgrind's format, names compressed)."""
    self_cost = _self_costs(dump)
    split: dict[str, int] = defaultdict(int)
    for (obj, fn), (ir, calls) in self_cost.items():
        split[_group(obj)] += ir
        split["Ir"] += ir
        if not any(mark in fn for mark in _VDSO):
            split["syscalls"] += calls
    return dict(split)


def _self_costs(dump: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (object, function): self ``Ir`` and ``sysCount`` (a call line's inclusive cost skipped)."""
    names: dict[tuple[str, str], str] = {}
    costs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    events: list[str] = []
    obj = fn = ""
    skip = False
    for line in dump.read_text().splitlines():
        if not line:
            continue
        head = line[0]
        if head.isdigit() or head in "+-*":
            if skip:
                skip = False
                continue
            values = line.split()[1:]
            cost = costs[(obj, fn)]
            for i, event in enumerate(events[: len(values)]):
                if event == "Ir":
                    cost[0] += int(values[i])
                elif event == "sysCount":
                    cost[1] += int(values[i])
            continue
        key, _, value = line.partition("=")
        if key == "events" or line.startswith("events:"):
            events = line.split(":", 1)[1].split()
        elif key in ("ob", "fn", "cob", "cfn", "cfi", "cfl", "fl", "fi", "fe"):
            name = _named(names, key, value)
            if key == "ob":
                obj = name
            elif key == "fn":
                fn = name
        elif key == "calls":
            skip = True
    return {k: (v[0], v[1]) for k, v in costs.items()}


def _named(names: dict[tuple[str, str], str], key: str, value: str) -> str:
    """A compressed name: ``(id) name`` defines it, ``(id)`` refers to it (objects and files share
    one table each with their call forms)."""
    space = {"cob": "ob", "cfn": "fn", "cfi": "fl", "cfl": "fl", "fi": "fl", "fe": "fl"}.get(key, key)
    if not value.startswith("("):
        return value
    ident, _, name = value.partition(")")
    name = name.strip()
    if name:
        names[(space, ident)] = name
        return name
    return names.get((space, ident), ident)


def _group(obj: str) -> str:
    for group, marks in _GROUPS:
        if any(mark in obj for mark in marks):
            return group
    return "other"


def main(argv: list[str] | None = None) -> int:
    args_given = sys.argv[1:] if argv is None else argv
    if args_given[:1] == ["--serve"]:
        return serve(args_given[1:])
    if args_given[:1] == ["--serve-worker"]:
        return serve_worker()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--tree", type=Path, default=HERE)
    parser.add_argument("--objects", action="store_true", help="the split by object file too")
    parser.add_argument("--keep", type=Path, help="keep each scenario's callgrind dump here")
    parser.add_argument("--server", choices=SERVERS, default="dev", help="which server to count")
    parser.add_argument(
        "--scenarios", default=",".join(PATHS), help=f"comma-separated, among {', '.join((*PATHS, JWT))}"
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in (*PATHS, JWT)]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    results = count(args.tree.resolve(), args.requests, args.connections, args.keep, args.server, names)
    for row, processes in results.items():
        print(_line(row, processes), flush=True)
        if args.objects:
            for label, figures in processes.items():
                parts = {k: v for k, v in figures.items() if k not in ("Ir", "syscalls")}
                split = "  ".join(
                    f"{k} {v / 1000:.1f}k" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
                )
                print(f"    {label + ': ' if len(processes) > 1 else ''}{split}", flush=True)
    return 0


def _line(row: str, processes: dict[str, dict[str, float]]) -> str:
    """A row's instructions and system calls per request, all processes together (and each)."""
    total = sum(figures["Ir"] for figures in processes.values())
    calls = sum(figures.get("syscalls", 0) for figures in processes.values())
    line = f"{row:22} {total / 1000:8.1f}k instructions/request  {calls:5.2f} system calls"
    if len(processes) > 1:
        line += (
            "  ("
            + ", ".join(
                f"{label} {figures['Ir'] / 1000:.1f}k / {figures.get('syscalls', 0):.2f}"
                for label, figures in processes.items()
            )
            + ")"
        )
    return line


if __name__ == "__main__":
    sys.exit(main())

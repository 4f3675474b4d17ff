"""The whole server's instructions per request over real sockets, counted by callgrind.

    python -m bench.server_instructions [--requests 2000] [--connections 4] [--tree PATH] [--objects]

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
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tests.helpers.servers import TesseraServer

from .scenarios import BY_NAME, Request
from .state import State, prepare

HERE = Path(__file__).resolve().parents[1]
FLOOR = "404 outside /v1/"  # answered by App._serve's first checks: little but the front
HEALTH = "sys health"  # the cheapest request clients make (load balancers' probe)
PATHS = (FLOOR, HEALTH, "token create batch", "kv1 read batch")
STATUSES = {FLOOR: 404}  # every other scenario answers 200
WARM = 300
STARTUP_SECONDS = 600.0  # valgrind's start-up of a whole server, on a busy machine


class CountedServer(TesseraServer):
    """``TesseraServer`` under callgrind, instrumenting nothing until told (``callgrind_control``)."""

    def __init__(self, out: Path, tree: Path) -> None:
        env = {"PYTHONHASHSEED": "0", "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{HERE}"}
        super().__init__(env=env, startup_timeout=STARTUP_SECONDS, cwd=HERE)
        self.out = out

    def command(self) -> list[str]:
        tessera = super().command()
        assert tessera[1:3] == ["-m", "tessera"]
        return [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=no",
            "--collect-systime=yes",
            f"--callgrind-out-file={self.out}",
            sys.executable,
            "-m",
            "bench.server_instructions",
            "--serve",
            *tessera[3:],
        ]


def serve(argv: list[str]) -> int:
    """``python -m tessera ...argv`` with the dispatcher's "long request" threshold lifted: at
    valgrind's pace every request would count as long and go to the side pool, where under wrk
    they all run on the loop's thread."""
    from tessera import __main__ as entry
    from tessera.server import dispatch

    dispatch.LONG_SECONDS = 1e9
    sys.argv = ["tessera", *argv]
    return entry._main()


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


def drive(port: int, wire: bytes, total: int, connections: int) -> dict[int, int]:
    """Send ``wire`` ``total`` times over ``connections`` kept-alive connections, each waiting for
    its answer before the next request; the statuses answered."""
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
                conn.sock.sendall(wire)
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
                    conn.sock.sendall(wire)
                    sent += 1
    finally:
        selector.close()
        for conn in conns:
            conn.sock.close()
    return dict(statuses)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL, timeout=300)


def requests_of(state: State) -> dict[str, Request]:
    """Each scenario's request, in ``PATHS``' order (``path`` below /v1/, as in scenarios.py)."""
    extra = {FLOOR: Request("GET", "/nope"), HEALTH: Request("GET", "sys/health")}
    return {name: extra[name] if name in extra else BY_NAME[name].build(state) for name in PATHS}


def count(tree: Path, requests: int, connections: int, keep: Path | None) -> dict[str, dict[str, float]]:
    """Each scenario's counted dump, as totals per request (``Ir``, ``sysCount``) and per object."""
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tessera-server-instructions-") as tmp:
        out = Path(tmp) / "cg.out"
        server = CountedServer(out, tree)
        try:
            server.start()
            state = prepare(server)
            assert server.process is not None
            pid = server.process.pid
            host = f"127.0.0.1:{server.port}"
            for name, req in requests_of(state).items():
                wire = _wire(req, host)
                _expect(name, drive(server.port, wire, WARM, connections))
                _control(pid, "--zero")
                _control(pid, "--instr=on")
                _expect(name, drive(server.port, wire, requests, connections))
                _control(pid, "--dump=" + _slug(name))
                _control(pid, "--instr=off")
                dump = _newest(Path(tmp))
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / f"{_slug(name)}.callgrind").write_bytes(dump.read_bytes())
                results[name] = {k: v / requests for k, v in _split(dump).items()}
                dump.unlink()
        finally:
            server.cleanup()
    return results


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _expect(name: str, statuses: dict[int, int]) -> None:
    if set(statuses) != {STATUSES.get(name, 200)}:
        raise SystemExit(f"{name}: unexpected answers: {statuses}")


def _newest(tmp: Path) -> Path:
    dumps = [p for p in tmp.glob("cg.out.*") if p.suffix[1:].isdigit()]
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--tree", type=Path, default=HERE)
    parser.add_argument("--objects", action="store_true", help="the split by object file too")
    parser.add_argument("--keep", type=Path, help="keep each scenario's callgrind dump here")
    args = parser.parse_args(argv)
    results = count(args.tree.resolve(), args.requests, args.connections, args.keep)
    for name, figures in results.items():
        line = f"{name:22} {figures['Ir'] / 1000:8.1f}k instructions/request"
        line += f"  {figures.get('syscalls', 0):5.2f} system calls"
        print(line, flush=True)
        if args.objects:
            parts = {k: v for k, v in figures.items() if k not in ("Ir", "syscalls")}
            print(
                "    "
                + "  ".join(f"{k} {v / 1000:.1f}k" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

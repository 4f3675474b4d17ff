"""Instructions per cert login behind the TLS front, counted by callgrind: steady on a busy machine.

    python -m bench.cert_instructions [--logins 300] [--tree PATH] [--phases keep-alive,new,resumed]

The real :class:`TLSFrontServer` (``server/tls_front.py``) over the real :class:`App` and a dev
core with ``bench/cert_threads.py``'s ``cert`` mount (a CA entry, batch tokens), in a process run
under ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``). Its reactor turns run on the main
thread, and a curl process (C, outside valgrind: its work is not counted) logs in with a
client certificate, four transfers at once:

- ``keep-alive``: over kept-alive connections (what a client logging in again and again pays);
- ``new``: ``Connection: close`` and no session reuse: a full TLS 1.3 handshake per login;
- ``resumed``: ``Connection: close``, curl resuming its TLS session from the server's ticket.

Each phase's first logins warm up (connections made, caches filled); the reactor's turns for the
next ``--logins`` answers run inside one ``functools.reduce`` call, which callgrind alone
collects (``--toggle-collect``, per thread) and dumps as it returns. Printed: the reactor
thread's instructions per login (and the connections accepted meanwhile: with a new connection
per login, curl's parallel transfers sometimes open more than they use, which the figure
includes), TLS (OpenSSL inside pyOpenSSL's cffi calls), HTTP and the
login's pipeline together: the whole server-side CPU of a login, as the front runs its
requests inline. The dispatcher's "long request" threshold is lifted (callgrind runs everything
~50x slower, which would otherwise send every login to the side pool). ``--tree`` counts another
checkout's ``src`` with this harness, for a before/after pair. ~2-4 minutes a run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .instructions import _total, callgrind_dumps

HERE = Path(__file__).resolve().parents[1]
PHASES = ("keep-alive", "new", "resumed")
WARM = 60
CLIENTS = 4


def _curl(port: int, tls: list[str], count: int, phase: str, out: Path) -> subprocess.Popen[bytes]:
    """curl logging in ``count`` times, ``CLIENTS`` at once; each answer's status line to ``out``."""
    url = f"https://127.0.0.1:{port}/v1/auth/cert/login#[1-{count}]"
    cmd = ["curl", "--silent", "--http1.1", "--parallel", "--parallel-max", str(CLIENTS), *tls]
    cmd += ["-H", "Content-Type: application/json", "--data", '{"name":"bench-batch"}']
    if phase != "keep-alive":
        cmd += ["-H", "Connection: close"]
    if phase == "new":
        cmd += ["--no-sessionid"]
    cmd += ["-o", "/dev/null", "-w", "%{http_code} %{num_connects}\\n", url]
    with out.open("wb") as sink:
        return subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL)


def measured(logins: int, phases: list[str]) -> None:
    """The side callgrind runs: the front's turns for each phase's counted logins inside one
    ``functools.reduce``."""
    from tessera.server import dispatch, tls_front
    from tessera.server.config import ListenerConfig
    from tessera.server.front_connection import FrontConnection
    from tessera.server.tls_front import SWEEP, TLSFrontServer
    from tessera.storage.inmem import InmemPhysical
    from tests.helpers.pki import Issuer
    from tests.helpers.servers import free_port

    from .cert_threads import setup
    from .inproc import InProcess

    front_module = vars(tls_front)  # its FrontConnection is what _accept makes: counted below
    made, long_seconds = front_module["FrontConnection"], dispatch.LONG_SECONDS
    dispatch.LONG_SECONDS = 1e9  # valgrind's pace is not a long request
    work = Path(tempfile.mkdtemp(prefix="cert-instructions-"))
    root = Issuer.root(work)
    ca_file, server_pem, client_pem = root.write_ca(), root.server(), root.issue("bench-client")
    server = InProcess(InmemPhysical())
    setup(server, root)
    port = free_port()
    listener = ListenerConfig(
        address=f"127.0.0.1:{port}",
        tls_cert_file=str(server_pem.cert),
        tls_key_file=str(server_pem.key),
        tls_disable_client_certs=False,
    )
    front = TLSFrontServer(server.app, "127.0.0.1", port, listener)
    front._reactor_thread = threading.get_ident()  # the reactor's turns run on this thread
    answered = [0]
    statuses: dict[int, int] = {}
    delivered = front.delivered

    def counting(conn: Any, status: int, headers: Any, body: bytes) -> None:
        answered[0] += 1
        statuses[status] = statuses.get(status, 0) + 1
        delivered(conn, status, headers, body)

    front.delivered = counting  # type: ignore[method-assign]
    accepted = [0]

    def counted_connection(*args: Any) -> FrontConnection:
        """What ``_accept`` makes, counted (a factory: a compiled class takes no Python subclass)."""
        accepted[0] += 1
        return FrontConnection(*args)

    front_module["FrontConnection"] = counted_connection
    connections: dict[str, int] = {}
    tls = ["--cacert", str(ca_file), "--cert", str(client_pem.cert), "--key", str(client_pem.key)]
    next_sweep = [time.monotonic() + SWEEP]

    turn = getattr(front, "_turn", None) or functools.partial(_old_turn, front)

    def turns(until: int) -> None:
        while answered[0] < until:
            next_sweep[0] = turn(next_sweep[0])

    def counted(_: None, __: None) -> None:
        turns(WARM + logins)

    try:
        for phase in phases:
            answered[0] = 0
            curl = _curl(port, tls, WARM + logins + 2 * CLIENTS, phase, work / f"{phase}.out")
            try:
                turns(WARM)
                accepted[0] = 0
                functools.reduce(counted, (None,), None)
                connections[phase] = accepted[0]
            finally:
                curl.kill()
                curl.wait()
            for _ in range(20):  # the connections curl left: closed, outside the count
                next_sweep[0] = turn(next_sweep[0])
    finally:
        front.stopped.set()
        front._shut()
        server.core.shutdown()
        front_module["FrontConnection"], dispatch.LONG_SECONDS = made, long_seconds
    bad = {status: n for status, n in statuses.items() if status != 200}
    if bad:
        raise SystemExit(f"answers other than 200: {bad}")
    if os.environ.get("CERT_INSTRUCTIONS_CONNECTIONS"):
        Path(os.environ["CERT_INSTRUCTIONS_CONNECTIONS"]).write_text(json.dumps(connections))


def _old_turn(front: Any, next_sweep: float) -> float:
    """``TLSFrontServer._turn`` for a tree from before it had one (the body of its reactor loop)."""
    for key, _mask in front.selector.select(0 if front._later else 0.25):
        now = time.monotonic()
        if key.data is None:
            front._accept(now)
        elif key.data is front._wake_r:
            front._drain_wakes(now)
        else:
            front._ready(key.data, now)
    now = time.monotonic()
    if front._later:
        front._resume_queued(now)
    if now >= next_sweep:
        front._sweep(now)
        next_sweep = now + 0.25
    return next_sweep


def count(tree: Path, logins: int, phases: list[str]) -> dict[str, tuple[int, int]]:
    """Run :func:`measured` under callgrind on ``tree``'s sources; per phase, instructions per
    login and the connections accepted while counting."""
    with tempfile.TemporaryDirectory(prefix="tessera-cert-instructions-") as tmp:
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=f"{tree / 'src'}{os.pathsep}{HERE}")
        env["CERT_INSTRUCTIONS_CONNECTIONS"] = str(Path(tmp) / "connections.json")
        harness = [
            "bench.cert_instructions",
            "--measured",
            "--logins",
            str(logins),
            "--phases",
            ",".join(phases),
        ]
        dumps = callgrind_dumps(harness, env, Path(tmp), len(phases))
        if os.environ.get("CERT_INSTRUCTIONS_KEEP"):
            keep = Path(os.environ["CERT_INSTRUCTIONS_KEEP"])
            keep.mkdir(parents=True, exist_ok=True)
            for phase, dump in zip(phases, dumps, strict=True):
                (keep / f"{phase}.callgrind").write_bytes(dump.read_bytes())
        accepted = json.loads((Path(tmp) / "connections.json").read_text())
        return {
            name: (_total(dump) // logins, accepted[name]) for name, dump in zip(phases, dumps, strict=True)
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--tree", type=Path, default=HERE)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--measured", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    if unknown := set(phases) - set(PHASES):
        raise SystemExit(f"unknown phases: {sorted(unknown)}")
    if args.measured:
        measured(args.logins, phases)
        return 0
    for name, (instructions, accepted) in count(args.tree.resolve(), args.logins, phases).items():
        print(
            f"cert login, {name:11} {instructions / 1000:9.1f}k instructions/login"
            f"  ({accepted} connections for {args.logins} logins)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

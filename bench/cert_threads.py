"""Where a cert login's CPU goes behind the TLS front: CPU per login of each thread of the server.

    python -m bench.cert_threads [--seconds 8] [--clients 4] [--new-connections]

The real :class:`TLSFrontServer` (``server/tls_front.py``: pyOpenSSL, h11, one reactor thread)
over the real :class:`App` and a dev core, in this process, with the ``cert`` mount of
``bench/cert_bench.py``; a client process logs in over kept-alive connections (or a new TLS
connection per login). Printed: each server thread's CPU per login (from the kernel's
``/proc/self/task/<tid>/schedstat``, so a busy machine shows as waiting, not as CPU), which
splits the front's share (the reactor: handshakes, TLS records, HTTP parsing and writing) from
the runner's (the login itself, as ``bench.login_inproc`` times it without the front).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tessera.server.config import ListenerConfig
from tessera.server.tls_front import TLSFrontServer
from tessera.storage.inmem import InmemPhysical
from tests.helpers.pki import Issuer
from tests.helpers.servers import free_port

from .inproc import InProcess


def thread_cpu_ns() -> dict[str, int]:
    """CPU nanoseconds so far of each live thread of this process, by thread name."""
    out: dict[str, int] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/schedstat") as fh:
                out[thread.name] = out.get(thread.name, 0) + int(fh.read().split()[0])
        except (OSError, ValueError):
            continue
    return out


def profiled(run: Callable[[], None], profile: cProfile.Profile) -> Callable[[], None]:
    def wrapped() -> None:
        profile.enable()
        try:
            run()
        finally:
            profile.disable()

    return wrapped


def setup(server: InProcess, root: Issuer) -> None:
    for method, path, body in (
        ("POST", "sys/auth/cert", {"type": "cert"}),
        (
            "POST",
            "auth/cert/certs/bench-batch",
            {"certificate": root.pem, "token_type": "batch", "token_ttl": "5m"},
        ),
    ):
        status, answer, _ = server.call(method, path, json=body)
        if status not in (200, 204):
            raise SystemExit(f"{method} {path}: {status} {answer}")


CLIENT = """
import sys
from types import SimpleNamespace
sys.path.insert(0, {root!r})
from bench.cert_bench import client_context, run
server = SimpleNamespace(host="127.0.0.1", port={port})
ctx = client_context({ca!r}, SimpleNamespace(cert={cert!r}, key={key!r}))
r = run(server, ctx, "bench-batch", {fresh}, {seconds}, {clients})
print(r.requests, r.errors)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--new-connections", action="store_true", help="a full handshake per login")
    parser.add_argument("--profile", action="store_true", help="cProfile the reactor thread (its CPU time)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cert-threads-"))
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
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    if profile is not None:
        front._reactor = profiled(front._reactor, profile)  # type: ignore[method-assign]
    loop = threading.Thread(target=asyncio.run, args=(front.serve(),), name="asyncio", daemon=True)
    loop.start()

    def client(seconds: float) -> str:
        """The client process's code: ``bench.cert_bench.run`` for ``seconds``."""
        return CLIENT.format(
            root=str(Path(__file__).resolve().parents[1]),
            port=port,
            ca=str(ca_file),
            cert=str(client_pem.cert),
            key=str(client_pem.key),
            fresh=args.new_connections,
            seconds=seconds,
            clients=args.clients,
        )

    try:
        subprocess.run([sys.executable, "-c", client(1.0)], check=True, capture_output=True)  # warm up
        before, started = thread_cpu_ns(), time.process_time()
        done = subprocess.run(
            [sys.executable, "-c", client(args.seconds)], check=True, capture_output=True, text=True
        )
        after, used = thread_cpu_ns(), time.process_time() - started
    finally:
        front.stop()
        loop.join(5)
        server.core.shutdown()
    logins, errors = (int(x) for x in done.stdout.split())
    kind = "a new TLS connection per login" if args.new_connections else "kept-alive connections"
    print(
        f"cert login -> batch token, {kind}, {args.clients} clients, {args.seconds:.0f}s, {os.cpu_count()} CPUs"
    )
    print(
        f"{logins} logins ({logins / args.seconds:.0f}/s), {errors} errors; CPU per login by server thread:"
    )
    rows = sorted(((after.get(n, 0) - before.get(n, 0), n) for n in after), reverse=True)
    for ns, name in rows:
        if ns > 0:
            print(f"  {name:<24} {ns / 1000 / max(1, logins):8.1f} us")
    print(f"  {'process (all threads)':<24} {used * 1e6 / max(1, logins):8.1f} us")
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())

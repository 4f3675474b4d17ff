"""Memory under batch-token minting: a batch token is never stored, so RSS must stay flat.

    python -m bench.memory --tokens 10000000 [--via inproc|http] [--samples 10]

``--via inproc`` (default) mints through the real request path (``App.serve_threaded``, the
callback granian's worker calls, over a dev core) in this process and samples this process's
RSS; it is the steady way to reach 10 million on a 2-core machine. ``--via http`` starts a real
``tessera server -dev`` and has wrk mint through HTTP, sampling the server process's RSS. Each
sample prints tokens minted so far, RSS and its growth since the first sample (taken after a
warm-up, so imports and caches are already paid for).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import orjson

from .scenarios import BY_NAME

SCENARIO = "token create batch"


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size in KiB, from /proc (VmRSS)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def _report(minted: int, rss: int, first: int, started: float) -> None:
    rate = minted / max(1e-9, time.monotonic() - started)
    print(
        f"{minted:>12,} tokens  RSS {rss / 1024:8.1f} MiB  growth {(rss - first) / 1024:+7.1f} MiB  "
        f"({rate:,.0f} tokens/s)",
        flush=True,
    )


def via_inproc(total: int, samples: int) -> tuple[int, int]:
    from tessera.storage.inmem import InmemPhysical

    from .inproc import InProcess, _Proto
    from .state import prepare

    server = InProcess(InmemPhysical())
    state = prepare(server)  # type: ignore[arg-type]
    req = BY_NAME[SCENARIO].build(state)
    body = orjson.dumps(req.body)
    serve, proto = server.app.serve_threaded, _Proto()
    for _ in range(20_000):  # warm-up: caches, lazy imports, allocator arenas
        serve(proto, server.scope(req.method, req.path, req.token, body))
    gc.collect()
    first = rss_kib()
    print(f"before: RSS {first / 1024:.1f} MiB (after a 20,000-token warm-up)", flush=True)
    step, minted, bad, started = max(1, total // samples), 0, 0, time.monotonic()
    while minted < total:
        for _ in range(min(step, total - minted)):
            serve(proto, server.scope(req.method, req.path, req.token, body))
            bad += proto.status != 200
        minted += min(step, total - minted)
        _report(minted, rss_kib(), first, started)
    if bad:
        print(f"WARNING: {bad} requests were not 200")
    server.core.shutdown()
    return first, rss_kib()


def via_http(total: int, samples: int) -> tuple[int, int]:
    from .servers import start_tessera
    from .state import prepare
    from .wrk import WrkSettings
    from .wrk import run as run_wrk

    with tempfile.TemporaryDirectory(prefix="tessera-memory-") as tmp:
        server = start_tessera("memory", Path(tmp))
        try:
            assert server.process is not None
            pid = server.process.pid
            req = BY_NAME[SCENARIO].build(prepare(server))
            run_wrk(server.addr, req, WrkSettings(2, 16, 3.0))  # warm-up
            first = rss_kib(pid)
            print(f"before: RSS {first / 1024:.1f} MiB (after a 3 s warm-up)", flush=True)
            step, minted, started = max(1, total // samples), 0, time.monotonic()
            while minted < total:
                # wrk runs for a time, not a count: estimate the seconds one step takes.
                rate = minted / (time.monotonic() - started) if minted else 2_000
                result = run_wrk(server.addr, req, WrkSettings(2, 16, max(1.0, step / rate)))
                if result.failed:
                    print(f"WARNING: {result.failed} failed requests in this step")
                minted += result.requests - result.non2xx
                _report(minted, rss_kib(pid), first, started)
            return first, rss_kib(pid)
        finally:
            server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=10_000_000)
    parser.add_argument("--via", choices=("inproc", "http"), default="inproc")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args(argv)
    first, last = (via_inproc if args.via == "inproc" else via_http)(args.tokens, args.samples)
    print(
        f"after {args.tokens:,} batch tokens ({args.via}): RSS {first / 1024:.1f} -> {last / 1024:.1f} MiB "
        f"({(last - first) / 1024:+.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Instructions per request of the batch-token paths, counted by callgrind: steady on a busy machine.

    python -m bench.instructions [--requests 256] [--tree PATH]

Runs itself under ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``) over an in-process core
(``bench/inproc.py``'s, with ``bench/state.py``'s state): token create batch, AppRole login batch,
kv1 read batch, and an RS256 JWT login with a fresh token each time (``bench/login_inproc.py``'s).
Each path is warmed, then its timed requests run inside one ``functools.reduce`` call: callgrind
collects only inside that C function (``--toggle-collect``) and writes a dump as it returns
(``--dump-after``), so each dump holds one path's requests and nothing of the set-up. Printed:
instructions per request, HTTP layer included (the requests go through ``App`` as granian's worker
calls it). Request IDs and AES-GCM nonces are drawn 256 at a time, one of each a request: a count
of requests that is a multiple of 256 holds its share of draws wherever the window falls (200
held one draw or none, so a change to a draw's cost showed or not: ~10k a request). ``--tree`` counts another checkout's ``src`` (e.g. main's, for a before/after pair) with this
checkout's harness.
Callgrind runs ~50x slower than Python: a run takes 2-3 minutes.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

HERE = Path(__file__).resolve().parents[1]
PATHS = ("token create batch", "approle login batch", "kv1 read batch", "jwt RS256 fresh")
WARM = 300


def measured(requests: int) -> None:
    """The side callgrind runs: each path's timed requests inside one ``functools.reduce``."""
    from tessera.storage.inmem import InmemPhysical

    from .inproc import InProcess
    from .login_inproc import jwt_logins
    from .scenarios import BY_NAME
    from .state import prepare

    server = InProcess(InmemPhysical())
    state = prepare(server)  # type: ignore[arg-type]
    for name in PATHS[:3]:
        req = BY_NAME[name].build(state)
        server.time(req, WARM)
        _counted(functools.partial(server.time, req, requests))  # one answer object for all
    jwt_server = InProcess(InmemPhysical())
    login = jwt_logins(jwt_server, "RS256", requests + WARM, True)
    for i in range(WARM):
        login(requests + i)  # tokens of their own: none is seen again when counted
    _counted(functools.partial(_each, login, requests))


def _each(step: Callable[[int], object], requests: int) -> None:
    for i in range(requests):
        step(i)


def _counted(work: Callable[[], object]) -> None:
    """``work()`` inside one ``functools.reduce`` call: what callgrind counts. (The loop runs in
    ``work``: a harness object made per request, such as ``InProcess.time``'s ``threading.Event``,
    would be counted too.)"""

    def once(_: None, __: None) -> None:
        work()

    functools.reduce(once, (None,), None)


def count(tree: Path, requests: int) -> dict[str, int]:
    """Run :func:`measured` under callgrind on ``tree``'s sources; instructions per request."""
    with tempfile.TemporaryDirectory(prefix="tessera-instructions-") as tmp:
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(tree / "src"))
        harness = ["bench.instructions", "--measured", "--requests", str(requests)]
        dumps = callgrind_dumps(harness, env, Path(tmp), len(PATHS))
        return {name: _total(dump) // requests for name, dump in zip(PATHS, dumps, strict=True)}


def callgrind_dumps(harness: list[str], env: dict[str, str], tmp: Path, expected: int) -> list[Path]:
    """``python -m harness...`` (this checkout's, from its root) under callgrind, collecting only
    inside ``functools.reduce`` calls, a dump after each: the ``expected`` dumps, in order."""
    out = tmp / "cg.out"
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            "--dump-after=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            *harness,
        ],
        cwd=HERE,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measured run failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    dumps = sorted(tmp.glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
    if len(dumps) != expected:
        raise SystemExit(f"expected {expected} callgrind dumps, found {len(dumps)}")
    return dumps


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {dump}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=256)  # a multiple of the draws (above)
    parser.add_argument("--tree", type=Path, default=HERE)
    parser.add_argument("--measured", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measured:
        measured(args.requests)
        return 0
    for name, instructions in count(args.tree.resolve(), args.requests).items():
        print(f"{name:26} {instructions / 1000:8.1f}k instructions/request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A performance standby's own CPU per request: ``HARole.ready`` + ``answer`` in process.

    python -m bench.standby_role [--requests 20000] [--rounds 5]

Two HA nodes on a database of their own (``bench/pgdb.py``: ``TESSERA_BENCH_PG`` or the machine's
server), the active one with the mounts of ``bench/state.py``, the other a performance standby.
The standby's role is called as the HTTP layer calls it for a ``kv1`` read, with a ``serve`` that
does nothing, and the thread's CPU time per request is printed for each round; the lowest is the
figure. It measures what the standby adds before the pipeline (may it serve, the route, the
state's lock), far more steadily than a load test on a busy machine can.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # `python bench/standby_role.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tessera.cluster.ha import HARole, attach_ha
from tessera.core.core import Core, CoreConfig
from tessera.framework import Operation, Request
from tessera.storage.postgresql import PostgreSQLPhysical

from .pgdb import BenchDatabase

PATH = "/v1/kv1/bench"
MOUNTS = (("sys/mounts/kv1", "kv"), ("sys/mounts/secret", "kv"), ("sys/mounts/transit", "transit"))


def _node(dsn: str) -> tuple[Core, HARole]:
    physical = PostgreSQLPhysical({"connection_url": dsn, "ha_enabled": "true"})
    core = Core(physical, CoreConfig(storage_type="postgresql", api_addr="http://127.0.0.1:1"))
    return core, attach_ha(core, physical, "http://127.0.0.1:1", "https://127.0.0.1:2")


def _until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the nodes did not settle")
        time.sleep(0.02)


def measure(dsn: str, requests: int, rounds: int) -> tuple[list[float], int]:
    """µs of CPU per request in each round, and how many requests the standby served itself."""
    (active, active_role), (standby, role) = _node(dsn), _node(dsn)
    try:
        key = active.initialize(1, 1)["keys"][0]
        active.unseal(key)
        _until(lambda: active_role.node.active)
        root = active.create_root_token()
        for path, kind in (*MOUNTS, ("sys/auth/approle", "approle")):
            active.handle_request(
                Request(operation=Operation.UPDATE, path=path, data={"type": kind}, client_token=root)
            )
        standby.unseal(key)
        perf = role.node.perf
        assert perf is not None
        _until(lambda: perf.serving and perf.standby.follower.caught_up())
        _until(lambda: standby.router.match(PATH[4:]) is not None)
        return _rounds(role, root, requests, rounds)
    finally:
        for core, made in ((standby, role), (active, active_role)):
            made.close()
            core.shutdown()


def _rounds(role: HARole, token: str, requests: int, rounds: int) -> tuple[list[float], int]:
    served = [0]

    def serve(*_: object) -> int:
        served[0] += 1
        return 200

    args = (None, "GET", PATH, b"", {"x-vault-token": token}, None, "127.0.0.1", False)
    figures = []
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(requests):
            if role.ready("GET", PATH):
                role.answer(serve, args)
        figures.append((time.thread_time() - started) / requests * 1e6)
    return figures, served[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    database = BenchDatabase.create()
    try:
        figures, served = measure(database.dsn, args.requests, args.rounds)
    finally:
        database.drop()
    print("µs CPU per request:", " ".join(f"{f:.2f}" for f in figures), f"(lowest {min(figures):.2f})")
    print(f"served on the standby: {served} of {args.requests * args.rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

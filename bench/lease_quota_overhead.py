"""What lease-count quotas cost a token creation, in process (no HTTP, no fsync: the hook alone).

    python -m bench.lease_quota_overhead [--count 20000] [--rounds 5]

Creates ``--count`` service tokens through ``TokenStore.create`` on in-memory storage, best of
``--rounds``, with no lease-count rule and (when this tree has them) with a global rule large
enough never to refuse. Run it from another checkout's ``src`` (``PYTHONPATH=...``) for the
figure before the hook existed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/lease_quota_overhead.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from tessera.core.core import Core, CoreConfig
from tessera.storage.inmem import InmemPhysical
from tessera.tokens.entry import TokenEntry


def _per_token(core: Core, count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            core.tokens.create(TokenEntry(policies=["default"], ttl=3600, path="auth/token/create"))
        best = min(best, (time.perf_counter() - started) / count)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    core = Core(InmemPhysical(), CoreConfig())
    core.unseal(core.initialize(1, 1)["keys"][0])
    try:
        print(f"no lease-count rule:  {_per_token(core, args.count, args.rounds):6.1f} µs per token")
        manager = core.quotas
        if hasattr(manager, "save_lease_rule"):
            from tessera.core.lease_quotas import LeaseCountQuota

            manager.save_lease_rule(LeaseCountQuota(name="all", max_leases=10**9))
            manager.leases.settled.wait(60)
            print(f"a global rule:        {_per_token(core, args.count, args.rounds):6.1f} µs per token")
    finally:
        core.seal()
        core.shutdown()


if __name__ == "__main__":
    main()

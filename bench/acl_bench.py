"""How long one ACL check takes with a token holding 100 policies (target: under 20 µs).

    python bench/acl_bench.py [--policies 100] [--rounds 20000]

Every request pays for ``PolicyStore.acl(names)`` (a cached ACL) plus ``allow_operation``; both
are timed. "repeated" paths hit the ACL's per-path rule cache like a busy client does; "unique"
paths miss it and pay the full exact → prefix → segment-wildcard search.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tessera.policy.acl import ACL
from tessera.policy.parser import parse_policy
from tessera.policy.store import PolicyStore
from tessera.storage.base import Storage, TxnOp
from tessera.storage.inmem import InmemPhysical


class _Storage(Storage):
    def __init__(self) -> None:
        self.p = InmemPhysical()

    def get(self, key: str) -> bytes | None:
        return self.p.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.p.put(key, value)

    def delete(self, key: str) -> None:
        self.p.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.p.list(prefix)

    def transaction(self, ops: list[TxnOp]) -> None:
        self.p.transaction(ops)


def policy_text(i: int) -> str:
    """A realistic team policy: exact paths, globs, a ``+`` rule, parameters and a deny."""
    return f"""
path "secret/data/team{i}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "secret/metadata/team{i}/*" {{ capabilities = ["list", "read"] }}
path "secret/data/team{i}/locked" {{ capabilities = ["deny"] }}
path "kv/team{i}/config" {{ capabilities = ["read"] }}
path "kv/+/team{i}/shared" {{ capabilities = ["read", "list"] }}
path "database/creds/team{i}-*" {{ capabilities = ["read"] }}
path "transit/encrypt/team{i}" {{
  capabilities = ["update"]
  allowed_parameters = {{ "plaintext" = [], "context" = [], "key_version" = [] }}
}}
path "auth/approle/role/team{i}/secret-id" {{
  capabilities = ["update"]
  required_parameters = ["metadata"]
  denied_parameters = {{ "ttl" = [] }}
}}
path "sys/leases/renew" {{ capabilities = ["update"] }}
"""


def timed(label: str, rounds: int, fn: Callable[[int], object]) -> float:
    for i in range(min(rounds, 2000)):  # warm up
        fn(i)
    start = time.perf_counter()
    for i in range(rounds):
        fn(i)
    micro = (time.perf_counter() - start) / rounds * 1e6
    print(f"  {label:<52} {micro:7.2f} µs")
    return micro


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()
    n, rounds = args.policies, args.rounds

    start = time.perf_counter()
    policies = [parse_policy(policy_text(i), f"team{i}") for i in range(n)]
    parsed = time.perf_counter() - start
    start = time.perf_counter()
    acl = ACL(policies)
    built = time.perf_counter() - start
    print(f"{n} policies, {sum(len(p.paths) for p in policies)} rules: parsed in {parsed * 1e3:.1f} ms, ")
    print(f"compiled in {built * 1e3:.1f} ms")

    rng = random.Random(1)
    typical = [
        ("read", f"secret/data/team{rng.randrange(n)}/app/db", None),
        ("list", f"secret/metadata/team{rng.randrange(n)}/", None),
        ("read", f"secret/data/team{rng.randrange(n)}/locked", None),
        ("read", f"kv/eu/team{rng.randrange(n)}/shared", None),
        ("read", "secret/data/nobody/x", None),
        ("update", f"transit/encrypt/team{rng.randrange(n)}", {"plaintext": "aGk=", "context": "x"}),
        ("update", f"auth/approle/role/team{rng.randrange(n)}/secret-id", {"metadata": "{}"}),
        ("update", "sys/leases/renew", {"lease_id": "x"}),
    ]
    results = []
    print("allow_operation:")
    results.append(
        timed(
            "repeated typical paths (rule cache hit)",
            rounds,
            lambda i: acl.allow_operation(
                *typical[i % len(typical)][:2], typical[i % len(typical)][2], 0, False
            ),
        )
    )
    unique = [f"secret/data/team{i % n}/svc{i}/key" for i in range(rounds + 2000)]
    results.append(
        timed(
            "unique paths (full search: exact, prefix, +)",
            rounds,
            lambda i: acl.allow_operation("read", unique[i]),
        )
    )
    misses = [f"nowhere/{i}/x" for i in range(rounds + 2000)]
    results.append(
        timed("unique unmatched paths (denied)", rounds, lambda i: acl.allow_operation("read", misses[i]))
    )
    wild = [f"kv/r{i}/team{i % n}/shared" for i in range(rounds + 2000)]
    results.append(
        timed(
            "unique paths matched by a + rule", rounds, lambda i: acl.allow_operation("list", wild[i] + "/")
        )
    )
    print("capabilities:")
    timed("capabilities(path), unique paths", rounds, lambda i: acl.capabilities(unique[i]))

    store = PolicyStore(_Storage())
    store.setup()
    for i in range(n):
        store.set(f"team{i}", policy_text(i))
    names = tuple(f"team{i}" for i in range(n))
    store.acl(names)
    print("per request:")
    results.append(
        timed(
            "PolicyStore.acl(100 names) + allow_operation",
            rounds,
            lambda i: store.acl(names).allow_operation("read", unique[i]),
        )
    )
    worst = max(results)
    print(f"worst case {worst:.2f} µs per check: {'OK' if worst < 20 else 'over'} the 20 µs target")


if __name__ == "__main__":
    main()

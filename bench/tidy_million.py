"""auth/token/tidy and sys/leases/tidy over a million stored tokens and leases, timed in process.

    python -m bench.tidy_million [--count 1000000] [--storage sqlite|postgresql] [--dsn DSN]

The entries are written straight through the barrier (a million requests would take far longer
than the tidies): ``--count`` service tokens, each a child of one parent token, with its accessor
and parent index entries, and ``--count`` leases, each owned by one of those tokens. One in a
hundred of each is left dangling as a crash leaves them: an accessor and a parent entry whose
token is gone, a lease whose owner is gone, an owner-index entry whose lease is gone. Then both
tidies run as the HTTP handlers run them (``tokens.tidy.tidy`` and ``ExpirationManager.tidy``),
and the time, the rate and what each removed are printed; last, a global lease-count rule is
written and the time its counts take to rebuild (the same work as at an unseal) is printed. The reference cannot be loaded this way
(its storage is raft's, written through its own API), so there is no side-by-side figure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # `python bench/tidy_million.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import orjson

from tessera.core.core import Core, CoreConfig
from tessera.core.lease_quotas import LeaseCountQuota
from tessera.leases.manager import Lease
from tessera.storage.base import TxnOp
from tessera.tokens.entry import TokenEntry
from tessera.tokens.ids import new_accessor, new_service_id
from tessera.tokens.tidy import tidy as token_tidy

CHUNK = 20_000
DANGLING_EVERY = 100


def _physical(kind: str, directory: str, dsn: str) -> object:
    if kind == "postgresql":
        from tessera.storage.postgresql import PostgreSQLPhysical

        return PostgreSQLPhysical(dsn)
    from tessera.storage.sqlite import SQLitePhysical

    return SQLitePhysical(os.path.join(directory, "t.db"))


def _writer(core: Core) -> Callable[..., None]:
    physical, barrier = core.physical, core.barrier
    pending: list[TxnOp] = []

    def put(key: str, value: bytes, *, flush: bool = False) -> None:
        if key:
            pending.append(TxnOp(key, barrier.encrypt(key, value)))
        if pending and (flush or len(pending) >= CHUNK):
            physical.transaction(list(pending))
            pending.clear()

    return put


def write_tokens(core: Core, count: int, parent: TokenEntry) -> list[str]:
    """``count`` children of ``parent``; every DANGLING_EVERY-th leaves only its index entries."""
    put, store, now = _writer(core), core.tokens, time.time()
    owners: list[str] = []
    for i in range(count):
        token_id, accessor = new_service_id(), new_accessor()
        salted = store.salted(token_id)
        entry = TokenEntry(
            salted_id=salted,
            accessor=accessor,
            parent=parent.salted_id,
            policies=["default"],
            path="auth/token/create",
            display_name="token",
            ttl=86400,
            creation_ttl=86400,
            issue_time=now,
            creation_time=float(int(now)),
            expire_time=now + 86400,
            cubbyhole_id=f"cubby{i:08x}",
        )
        gone = i % DANGLING_EVERY == 0
        if not gone:
            put("sys/token/id/" + salted, orjson.dumps(entry.to_storage()))
            owners.append(salted)
        put(
            "sys/token/accessor/" + store.salted(accessor),
            orjson.dumps({"accessor": accessor, "salted_id": salted}),
        )
        put(f"sys/token/parent/{parent.salted_id}/{salted}", b"")
    put("", b"", flush=True)
    return owners


def write_leases(core: Core, count: int, owners: list[str]) -> None:
    """``count`` leases owned by ``owners``; some with a vanished owner, some index entries alone."""
    put, now = _writer(core), time.time()
    for i in range(count):
        lease_id = f"gone/creds/r/{i:08x}"
        owner = owners[i % len(owners)] if i % DANGLING_EVERY else "hvanished"
        index = f"sys/expire/token/{owner}/{hashlib.sha256(lease_id.encode()).hexdigest()}"
        put(index, lease_id.encode())
        if i % DANGLING_EVERY == 1:
            continue  # the index entry outlived its lease
        lease = Lease(
            lease_id=lease_id,
            path="gone/creds/r",
            mount_prefix="gone/",
            owner=owner,
            issue_time=now,
            expire_time=now + 86400,
            ttl=86400,
        )
        put("sys/expire/id/" + lease_id, lease.to_json())
    put("", b"", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--storage", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidy-million-") as directory:
        core = Core(_physical(args.storage, directory, args.dsn), CoreConfig())  # type: ignore[arg-type]
        core.unseal(core.initialize(1, 1)["keys"][0])
        try:
            parent = core.tokens.create(TokenEntry(policies=["default"], ttl=86400, path="auth/token/create"))
            started = time.monotonic()
            owners = write_tokens(core, args.count, parent)
            write_leases(core, args.count, owners)
            print(
                f"{args.count:,} tokens and {args.count:,} leases written in {time.monotonic() - started:.0f}s"
            )
            core.tokens.invalidate()  # tidy starts, as after a restart, with a cold cache

            started = time.monotonic()
            report = token_tidy(core)
            spent = time.monotonic() - started
            print(f"auth/token/tidy: {spent:.1f}s ({args.count / spent:,.0f} tokens/s): {report}")

            started = time.monotonic()
            removed = core.lease_manager.tidy()
            spent = time.monotonic() - started
            print(f"sys/leases/tidy: {spent:.1f}s ({args.count / spent:,.0f} leases/s): {removed:,} removed")

            started = time.monotonic()
            core.quotas.save_lease_rule(LeaseCountQuota(name="all", max_leases=10 * args.count))
            core.quotas.leases.settled.wait()
            spent = time.monotonic() - started
            counted = core.quotas.leases.count(core.quotas.leases.rules["all"])
            print(f"lease-count rule written, leases counted: {spent:.1f}s ({counted:,} leases and tokens)")
        finally:
            core.seal()
            core.shutdown()


if __name__ == "__main__":
    main()

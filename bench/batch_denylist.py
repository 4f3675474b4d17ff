"""Batch-token refusal costs (issue 23): validations with a deny-list, token length, creation.

    python -m bench.batch_denylist [--validations 1000000] [--denylist 100000] [--duration 10]

1. Validations, in process (``TokenStore.lookup`` of batch tokens, what every request with one
   pays): ``--validations`` per side with an empty deny-list, with ``--denylist`` entries revoked
   by token, and with as many revoked by ``token_sha256`` (added through the real
   ``revoke_batch``), in rotating rounds; the target is within 5%.
2. Batch-token length: the same tokens minted on the reference ``bao`` and on Tessera, side by side.
3. Creation: in process, the compact codec against the former JSON form (``batch.encode_json``,
   "before"); over HTTP, ``token create batch`` on the reference and on Tessera with wrk.

On a shared machine every figure is indicative; the ratio of alternating rounds is the robust one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # `python bench/batch_denylist.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tessera.core.core import Core
from tessera.framework import Operation, Request
from tessera.storage.inmem import InmemPhysical
from tessera.tokens import batch
from tessera.tokens.entry import BATCH, TokenEntry

from .scenarios import Request as HttpRequest
from .servers import ServerProcess, start_pair
from .wrk import WrkSettings, ensure_wrk
from .wrk import run as run_wrk

ROUNDS = 6  # alternating rounds per side in part 1
TOKENS = 1000  # distinct batch tokens validated in turn


def _core() -> tuple[Core, str]:
    core = Core(InmemPhysical())
    result = core.initialize(1, 1)
    core.unseal(result["keys"][0])
    return core, result["root_token"]


def _mint(core: Core, root: str, count: int) -> list[str]:
    out = []
    for _ in range(count):
        req = Request(
            operation=Operation.UPDATE,
            path="auth/token/create",
            data={"type": "batch", "policies": ["default", "x"], "ttl": "1h"},
            client_token=root,
            request_id="bench",
        )
        resp = core.handle_request(req)
        assert resp is not None and resp.auth is not None
        out.append(resp.auth.client_token)
    return out


def _per_second(count: int, fn: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def validations(total: int, entries: int) -> None:
    """Alternating rounds over the same tokens: an empty deny-list, ``entries`` revoked by value
    (GCM tags, what ``revoke-batch`` with a token stores), and ``entries`` revoked by
    ``token_sha256`` (each validation then also hashes the token)."""
    core, root = _core()
    try:
        tokens = _mint(core, root, TOKENS)
        store = core.tokens
        deny = store.denylist
        expiry = time.time() + 3600
        start = time.perf_counter()
        for _ in range(entries):
            store.revoke_batch(secrets.token_bytes(16), expiry)
        for _ in range(entries):
            store.revoke_batch(secrets.token_bytes(32), expiry)
        print(f"  filled the deny-list with 2 x {entries:,} entries in {time.perf_counter() - start:.1f} s")
        tags, digests = deny._tags, deny._digests
        sides = {
            "without deny-list": ({}, {}),
            f"{entries:,} revoked by token": (tags, {}),
            f"{entries:,} revoked by sha256": ({}, digests),
        }

        def validate(i: int) -> None:
            if store.lookup(tokens[i % TOKENS]) is None:
                raise AssertionError("a live batch token was refused")

        per_round = max(1, total // ROUNDS)
        rates: dict[str, list[float]] = {side: [] for side in sides}
        names = list(sides)
        for round_no in range(ROUNDS):
            for side in names[round_no % 3 :] + names[: round_no % 3]:  # rotate who goes first
                deny._tags, deny._digests = sides[side]
                rates[side].append(_per_second(per_round, validate))
        deny._tags, deny._digests = tags, digests
        base = statistics.median(rates[names[0]])
        print(f"  {per_round * ROUNDS:,} validations per side, {ROUNDS} rotating rounds (median):")
        for side in names:
            rate = statistics.median(rates[side])
            print(f"    {side:<28} {rate:>10,.0f} /s  ({1e6 / rate:6.2f} µs each)  ratio {rate / base:.3f}")
        print("    (target: ratio >= 0.95)")
    finally:
        core.shutdown()


def creation(count: int) -> None:
    core, _ = _core()
    try:
        store = core.tokens

        def create(i: int) -> None:
            store.create(
                TokenEntry(
                    type=BATCH,
                    policies=["default", "x"],
                    path="auth/token/create",
                    display_name="token",
                    ttl=900,
                )
            )

        new_encode = batch.encode
        rates: dict[str, list[float]] = {"before (JSON)": [], "after (compact)": []}
        for round_no in range(ROUNDS):
            for side in ("before (JSON)", "after (compact)")[:: 1 if round_no % 2 == 0 else -1]:
                batch.encode = batch.encode_json if side.startswith("before") else new_encode
                rates[side].append(_per_second(max(1, count // ROUNDS), create))
        batch.encode = new_encode
        for side, values in rates.items():
            print(f"    {side:<24} {statistics.median(values):>12,.0f} /s")
    finally:
        core.shutdown()


def _create(server: ServerProcess, path: str, body: dict, token: str | None = None) -> str:
    status, answer, _ = server.call("POST", path, json=body, token=token)
    assert status == 200, answer
    return str(answer["auth"]["client_token"])


def _approle_login(server: ServerProcess) -> str:
    server.call("POST", "sys/auth/approle", json={"type": "approle"})
    role = {"token_type": "batch", "token_policies": ["default", "x"], "token_ttl": "15m"}
    server.call("POST", "auth/approle/role/ci", json=role)
    role_id = server.call("GET", "auth/approle/role/ci/role-id")[1]["data"]["role_id"]
    secret_id = server.call("POST", "auth/approle/role/ci/secret-id")[1]["data"]["secret_id"]
    return _create(server, "auth/approle/login", {"role_id": role_id, "secret_id": secret_id}, token="")


def lengths_and_http(servers: list[tuple[str, ServerProcess]], duration: float) -> None:
    body = {"type": "batch", "policies": ["default", "x"], "ttl": "15m"}
    cases: list[tuple[str, Callable[[ServerProcess], str]]] = [
        ("[default, x] 15m, root parent", lambda s: _create(s, "auth/token/create", body)),
        (
            "[default, x] 15m, no parent",
            lambda s: _create(s, "auth/token/create", {**body, "no_parent": True}),
        ),
        (
            "[default, x] 15m, service parent",
            lambda s: _create(
                s, "auth/token/create", body, token=_create(s, "auth/token/create", {"policies": ["root"]})
            ),
        ),
        ("AppRole login, [default, x] 15m", _approle_login),
    ]
    print(f"  {'batch token':<36} {'reference':>10} {'tessera':>10}")
    for label, make in cases:
        ref, tes = (len(make(server)) for _, server in servers)
        print(f"  {label:<36} {ref:>10} {tes:>10}  {'ok' if tes <= ref else 'LONGER'}")
    if duration <= 0:
        return
    ensure_wrk()
    settings = WrkSettings(threads=2, connections=16, duration=duration)
    print(f"  token create batch over HTTP (wrk -t2 -c16 -d{duration:.0f}s, one server at a time):")
    for role, server in servers:
        req = HttpRequest("POST", "auth/token/create", str(server.root_token), body)
        result = run_wrk(server.addr, req, settings)
        print(
            f"    {role:<24} {result.ok_rps:>12,.0f} /s  (p50 {result.p50_ms:.2f} ms, failed {result.failed})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--validations", type=int, default=1_000_000)
    parser.add_argument("--denylist", type=int, default=100_000)
    parser.add_argument("--creations", type=int, default=60_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk load (0: skip)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average at start {load}")
    print("1. batch-token validations, in process")
    validations(args.validations, args.denylist)
    print("2. batch-token length (characters), same token on both servers")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        pair = start_pair("memory", Path(tmp))
        try:
            lengths_and_http(pair.servers(), args.duration)
        finally:
            pair.stop()
    print(f"3. batch-token creation, in process ({args.creations:,} per side, alternating rounds)")
    creation(args.creations)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

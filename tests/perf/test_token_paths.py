"""Token validation on the request path: what it may read, and what batch tokens never write."""

from __future__ import annotations

import gc
import hmac
import threading
import time
from pathlib import Path

from tessera.storage.sqlite import SQLitePhysical
from tessera.tokens.ids import Salt
from tests.perf.conftest import CountingPhysical, Server

POLICY = 'path "kv1/*" { capabilities = ["read", "update", "create"] }'


def _setup(server: Server) -> tuple[str, str]:
    """A policy, a secret, and a service and a batch token (children of root) holding it."""
    server.ok("PUT", "sys/policies/acl/reader", json={"policy": POLICY})
    server.ok("POST", "kv1/app", json={"password": "p"})
    tokens = []
    for kind in ("service", "batch"):
        body = server.ok("POST", "auth/token/create", json={"policies": ["reader"], "type": kind})
        tokens.append(body["auth"]["client_token"])
    return tokens[0], tokens[1]


def test_batch_token_requests_read_no_token_storage(server: Server) -> None:
    """Validation is a decrypt plus the parent's liveness from the entry cache: no storage read."""
    physical = server.physical
    assert isinstance(physical, CountingPhysical)
    _, batch = _setup(server)
    server.ok("GET", "kv1/app", batch)  # warm: the parent (root) is cached already
    physical.reset()
    for _ in range(200):
        server.ok("GET", "kv1/app", batch)
        server.ok("GET", "auth/token/lookup-self", batch)
    token_reads = {k: n for k, n in physical.gets.items() if k.startswith("sys/token/")}
    assert token_reads == {}
    assert physical.transactions == 0  # a batch token's request writes nothing either


def test_service_token_requests_read_no_token_storage_once_cached(server: Server) -> None:
    physical = server.physical
    assert isinstance(physical, CountingPhysical)
    service, _ = _setup(server)
    server.ok("GET", "kv1/app", service)
    physical.reset()
    for _ in range(200):
        server.ok("GET", "kv1/app", service)
    assert {k: n for k, n in physical.gets.items() if k.startswith("sys/token/")} == {}


def test_minting_batch_tokens_writes_nothing(server: Server) -> None:
    physical = server.physical
    assert isinstance(physical, CountingPhysical)
    physical.reset()
    for kind in ("create", "create-orphan"):
        for _ in range(100):
            server.ok("POST", f"auth/token/{kind}", json={"type": "batch", "policies": ["default"]})
    assert physical.transactions == 0


def test_fast_salted_ids_match_the_salt(server: Server) -> None:
    """The store hashes with prepared HMAC states; it must stay HMAC-SHA256 under the salt."""
    store = server.core.tokens
    key = store.storage.get("salt")
    assert key
    for value in ("root", "hvs.abcdefghijklmnopqrstuvwx", "é", ""):
        expected = "h" + hmac.digest(key, value.encode(), "sha256").hex()
        assert store.salted(value) == Salt(key).hash(value) == expected


def test_concurrent_service_token_creations_share_commits(tmp_path: Path) -> None:
    """Durable token creation batches: 16 concurrent creators need far fewer fsyncs than tokens.

    A lock held across the commit (as the token store once did) makes it one commit per token.
    Each commit is made 5 ms slower, a cloud disk's fsync, so that how many writers share one
    does not depend on how fast this machine's disk is.
    """
    physical = SQLitePhysical(str(tmp_path / "t.db"), before_commit=lambda: time.sleep(0.005))
    server = Server(physical)
    try:
        commits, transactions = physical.commits, physical.transactions
        errors: list[BaseException] = []

        def create_ten() -> None:
            try:
                for _ in range(10):
                    server.ok("POST", "auth/token/create", json={"policies": ["default"], "ttl": "1h"})
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=create_ten) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        created = physical.transactions - transactions
        assert created == 160  # one transaction per service token: entry, accessor, parent index
        assert physical.commits - commits <= created // 4
    finally:
        server.core.shutdown()


def test_cached_service_tokens_add_nothing_for_the_garbage_collector(server: Server) -> None:
    """Cached entries are tuples of plain values, which the collector stops tracking: full
    collections then do not grow with the number of tokens a server holds (they had paused a
    dev server for 155 ms at 60 000 tokens, about five tracked objects each)."""
    for _ in range(200):  # warm every path a creation touches
        server.ok("POST", "auth/token/create", json={"policies": ["default"], "ttl": "1h"})
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(2000):
        server.ok("POST", "auth/token/create", json={"policies": ["default"], "ttl": "1h"})
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert grown < 200, f"{grown} more tracked objects after 2000 service tokens"
    assert len(server.core.tokens._cache) >= 2000  # and they are cached all the same

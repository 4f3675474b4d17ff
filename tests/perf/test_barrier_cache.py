"""The barrier's read cache: hot reads reach no storage, and it never serves a replaced value."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable

import pytest

from tessera.barrier.aes_gcm import WRITE_THROUGH_MAX, Barrier
from tessera.storage.base import TxnOp
from tessera.storage.inmem import InmemPhysical
from tests.perf.conftest import CountingPhysical, Server


def _barrier(physical: InmemPhysical) -> Barrier:
    barrier = Barrier(physical)
    barrier.write_through = True  # the mechanics under test, as on PostgreSQL with HA
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    return barrier


def test_hot_requests_read_no_storage_at_all(server: Server) -> None:
    physical = server.physical
    assert isinstance(physical, CountingPhysical)
    server.ok("PUT", "sys/policies/acl/reader", json={"policy": 'path "kv1/*" { capabilities = ["read"] }'})
    server.ok("POST", "kv1/app", json={"password": "p"})
    batch = server.ok("POST", "auth/token/create", json={"policies": ["reader"], "type": "batch"})
    token = batch["auth"]["client_token"]
    server.ok("GET", "kv1/app", token)
    physical.reset()
    for _ in range(100):
        assert server.ok("GET", "kv1/app", token)["data"] == {"password": "p"}
    assert sum(physical.gets.values()) == 0


def test_writes_are_seen_at_once_and_sealing_empties_the_cache() -> None:
    barrier = _barrier(CountingPhysical())
    assert barrier.cache is not None
    assert barrier.get("k") is None  # an absence is cached too
    barrier.put("k", b"1")
    assert barrier.get("k") == b"1"
    barrier.transaction([TxnOp("k", b"2"), TxnOp("j", b"x")])
    assert barrier.get("k") == b"2" and barrier.get("j") == b"x"
    barrier.delete("k")
    assert barrier.get("k") is None
    assert len(barrier.cache) > 0
    barrier.seal()
    assert len(barrier.cache) == 0


def test_shared_storage_is_never_cached() -> None:
    class Shared(InmemPhysical):
        name = "postgresql"  # other nodes may write it

    barrier = _barrier(Shared())
    assert barrier.cache is None
    barrier.put("k", b"1")
    barrier.physical.put("k", barrier.encrypt("k", b"2"))  # another node's write
    assert barrier.get("k") == b"2"


class _Jittery(InmemPhysical):
    """Storage whose reads and writes take random time, to interleave readers with writers."""

    def get(self, key: str) -> bytes | None:
        time.sleep(random.random() * 0.0005)
        value = super().get(key)
        time.sleep(random.random() * 0.0005)
        return value

    def put(self, key: str, value: bytes) -> None:
        time.sleep(random.random() * 0.0005)
        super().put(key, value)
        time.sleep(random.random() * 0.0005)


def test_no_read_goes_back_in_time_under_concurrent_writes() -> None:
    """Each reader sees non-decreasing versions, and the last write once the writer is done."""
    barrier = _barrier(_Jittery())
    barrier.put("counter", b"0")
    done = threading.Event()
    regressions: list[tuple[int, int]] = []

    def reader() -> None:
        seen = 0
        while not done.is_set():
            value = int(barrier.get("counter") or b"0")
            if value < seen:
                regressions.append((seen, value))
            seen = value

    readers = [threading.Thread(target=reader) for _ in range(6)]
    for t in readers:
        t.start()
    last = 300
    for i in range(1, last + 1):
        barrier.put("counter", str(i).encode())
        assert int(barrier.get("counter") or b"0") == i  # a completed write is visible at once
    done.set()
    for t in readers:
        t.join()
    assert regressions == []
    assert barrier.get("counter") == str(last).encode()


def test_a_written_key_is_read_back_without_storage() -> None:
    """Write-through: a KV write's next existence check (a PostgreSQL round trip) reads nothing."""
    physical = CountingPhysical()
    barrier = _barrier(physical)
    physical.reset()
    barrier.put("k", b"1")
    barrier.transaction([TxnOp("a", b"x"), TxnOp("b", b"y"), TxnOp("c", None)])
    barrier.delete("k2")
    assert (barrier.get("k"), barrier.get("a"), barrier.get("b")) == (b"1", b"x", b"y")
    assert barrier.get("c") is None and barrier.get("k2") is None
    assert sum(physical.gets.values()) == 0
    bulk = [TxnOp(f"bulk/{i}", b"v") for i in range(WRITE_THROUGH_MAX + 1)]
    barrier.transaction(bulk)  # a bulk write leaves its keys to later reads
    assert barrier.get("bulk/0") == b"v"
    assert physical.gets["bulk/0"] == 1


def test_only_remote_storage_keeps_written_values() -> None:
    """A long run on local storage must not grow by every token it wrote (the soak test's RSS)."""

    class Remote(InmemPhysical):
        name = "postgresql"
        cacheable = True

    assert Barrier(Remote()).write_through
    assert not Barrier(InmemPhysical()).write_through
    physical = CountingPhysical()
    barrier = Barrier(physical)
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    barrier.put("k", b"1")
    physical.reset()
    assert barrier.get("k") == b"1"
    assert physical.gets["k"] == 1  # read back from storage, then cached as any read


def test_a_failed_write_fills_nothing() -> None:
    class Failing(InmemPhysical):
        def put(self, key: str, value: bytes) -> None:
            raise OSError("disk full")

    barrier = _barrier(Failing())
    barrier.transaction([TxnOp("k", b"old")])
    with pytest.raises(OSError):
        barrier.put("k", b"new")
    assert barrier.get("k") == b"old"


def test_sealing_during_a_write_leaves_no_plaintext() -> None:
    class SealedMidWrite(InmemPhysical):
        barrier: Barrier

        def put(self, key: str, value: bytes) -> None:
            super().put(key, value)
            self.barrier.seal()

    physical = SealedMidWrite()
    barrier = _barrier(physical)
    physical.barrier = barrier
    barrier.put("k", b"secret")
    assert barrier.cache is not None and len(barrier.cache) == 0


def test_an_invalidation_during_a_write_is_not_overwritten() -> None:
    """Another process's write (the change feed's invalidation) may have landed after ours."""

    class Racing(InmemPhysical):
        barrier: Barrier

        def put(self, key: str, value: bytes) -> None:
            super().put(key, value)
            super().put(key, self.barrier.encrypt(key, b"theirs"))
            assert self.barrier.cache is not None
            self.barrier.cache.invalidate(key)

    physical = Racing()
    barrier = _barrier(physical)
    physical.barrier = barrier
    barrier.put("k", b"ours")
    assert barrier.get("k") == b"theirs"


def test_concurrent_writers_leave_the_cache_equal_to_storage() -> None:
    """Writes of one key that overlap are not written through: storage's last one is unknown."""
    physical = _Jittery()
    barrier = _barrier(physical)
    cache = barrier.cache
    assert cache is not None
    for round_ in range(30):

        def writer(n: int, r: int = round_) -> None:
            for i in range(5):
                barrier.put("k", f"{r}-{n}-{i}".encode())

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = physical.get("k")
        assert stored is not None
        found, value = cache.lookup("k")
        assert not found or value == barrier.decrypt("k", stored)
        assert barrier.get("k") == barrier.decrypt("k", stored)


class _Held(CountingPhysical):
    """Counting storage whose writes of ``held`` wait for ``release`` (to overlap two writers)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = ""
        self.waiting = threading.Event()
        self.release = threading.Event()

    def _hold(self, key: str) -> None:
        if key == self.held:
            self.held = ""
            self.waiting.set()
            assert self.release.wait(10)

    def put(self, key: str, value: bytes) -> None:
        self._hold(key)
        super().put(key, value)

    def delete(self, key: str) -> None:
        self._hold(key)
        super().delete(key)


def _overlapped(physical: _Held, key: str, first: Callable[[], None], second: Callable[[], None]) -> None:
    """``first`` is held inside storage while ``second`` runs to its end; then ``first`` ends."""
    physical.held = key
    thread = threading.Thread(target=first)
    thread.start()
    assert physical.waiting.wait(10)
    second()
    physical.release.set()
    thread.join(10)
    physical.waiting.clear()
    physical.release.clear()


def test_a_key_written_by_overlapping_writers_is_known_to_exist() -> None:
    """Overlapping stores leave the value uncached, but each proves the key exists: a KV write's
    existence check under concurrent writes of one secret reads nothing."""
    physical = _Held()
    barrier = _barrier(physical)
    _overlapped(physical, "k", lambda: barrier.put("k", b"1"), lambda: barrier.put("k", b"2"))
    physical.reset()
    assert barrier.exists("k")
    assert physical.gets["k"] == 0
    assert barrier.get("k") == b"1"  # the value itself was not written through: read from storage
    assert physical.gets["k"] == 1


def test_a_delete_overlapping_a_store_leaves_existence_to_storage() -> None:
    """Storage's order of the two is unknown: the store's end proves nothing."""
    physical = _Held()
    barrier = _barrier(physical)
    barrier.put("k", b"0")
    _overlapped(physical, "k", lambda: barrier.delete("k"), lambda: barrier.put("k", b"1"))
    physical.reset()
    assert not barrier.exists("k")
    assert physical.gets["k"] == 1
    barrier.put("k", b"2")
    _overlapped(physical, "k", lambda: barrier.put("k", b"3"), lambda: barrier.delete("k"))
    assert barrier.exists("k")  # the store came last in storage
    assert physical.get("k") is not None


def test_a_delete_or_an_invalidation_ends_known_existence() -> None:
    physical = _Held()
    barrier = _barrier(physical)
    _overlapped(physical, "k", lambda: barrier.put("k", b"1"), lambda: barrier.put("k", b"2"))
    assert barrier.cache is not None and barrier.cache.exists("k")
    barrier.delete("k")
    assert not barrier.exists("k")
    _overlapped(physical, "k", lambda: barrier.put("k", b"1"), lambda: barrier.put("k", b"2"))
    barrier.cache.invalidate("k")  # another process's write: maybe a delete
    assert not barrier.cache.exists("k")
    physical.delete("k")
    assert not barrier.exists("k")
    barrier.seal()
    assert not barrier.cache.exists("k")


def test_local_storage_keeps_no_known_existence() -> None:
    """Without write-through (in memory, SQLite) nothing is remembered per written key."""
    physical = _Held()
    barrier = Barrier(physical)
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    _overlapped(physical, "k", lambda: barrier.put("k", b"1"), lambda: barrier.put("k", b"2"))
    assert barrier.cache is not None and not barrier.cache.exists("k")
    assert barrier.exists("k")

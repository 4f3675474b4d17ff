"""The replication log on real storage (SQLite file and in-memory): order, durability, retention, hash."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tessera.replication.keys import KeyClassifier
from tessera.replication.log import LOG_PREFIX, LogTruncated, ReplicationLog
from tessera.replication.merkle import KeyspaceHash
from tessera.server.config import ConfigError, parse_config
from tessera.storage.base import Physical, TxnOp
from tessera.storage.inmem import InmemPhysical
from tessera.storage.postgresql import PostgreSQLPhysical
from tessera.storage.sqlite import SQLitePhysical
from tessera.storage.tap import TappedPhysical
from tests.helpers.servers import hcl_config

MOUNTS = [("logical/kv/", "kv", False), ("logical/cubby/", "cubbyhole", True)]


def _mounts() -> list[tuple[str, str, bool]]:
    return list(MOUNTS)


@pytest.fixture(params=["sqlite", "inmem", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Physical]]:
    """Opens the same storage again (the SQLite file, the PostgreSQL table; the one in-memory store)."""
    shared = InmemPhysical()
    opened: list[Physical] = []
    pg = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    table = "tessera_rep_" + uuid.uuid4().hex[:8]

    def open_it() -> Physical:
        physical: Physical = shared
        if request.param == "sqlite":
            physical = SQLitePhysical(str(tmp_path / "t.db"))
        elif pg is not None:
            physical = PostgreSQLPhysical({"connection_url": pg.dsn, "table": table})
        opened.append(physical)
        return physical

    yield open_it
    for physical in opened:
        physical.close()
    if pg is not None:
        with pg.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _started(physical: Physical, retain: int = 1000) -> tuple[TappedPhysical, ReplicationLog]:
    tap = TappedPhysical(physical)
    log = ReplicationLog(tap, KeyClassifier(), _mounts, retain)
    log.start()
    return tap, log


def test_records_in_commit_order_with_classes(opener: Callable[[], Physical]) -> None:
    tap, log = _started(opener())
    tap.put("logical/kv/a", b"1")  # replicated
    tap.put("sys/token/id/h1", b"t")  # local
    tap.put("core/cluster", b"c")  # ignored: no record
    tap.transaction([TxnOp("logical/kv/b", b"2"), TxnOp("logical/cubby/x/y", b"3")])
    tap.delete("logical/kv/a")
    assert (log.last_wal, log.last_performance_wal) == (4, 3)
    records = log.since(0, 100)
    assert [r["wal"] for r in records] == [1, 2, 3, 4]
    assert [r["pwal"] for r in records] == [1, 1, 2, 3]
    assert records[1]["ops"] == [["sys/token/id/h1", "local", hashlib.sha256(b"t").hexdigest()]]
    assert [op[:2] for op in records[2]["ops"]] == [
        ["logical/kv/b", "replicated"],
        ["logical/cubby/x/y", "local"],
    ]
    assert records[3]["ops"] == [["logical/kv/a", "replicated", None]]
    assert [r["wal"] for r in log.since(2, 100)] == [3, 4]
    assert tap.get("logical/kv/b") == b"2"  # the data itself is written as asked


def test_log_resumes_after_reopening(opener: Callable[[], Physical]) -> None:
    tap, log = _started(opener())
    for i in range(5):
        tap.put(f"logical/kv/{i}", b"v")
    tap.put("sys/expire/id/x", b"lease")
    root = log.hash.root()
    log.stop()
    tap.put("logical/kv/after-stop", b"not logged")
    tap.delete("logical/kv/after-stop")
    if not isinstance(tap.inner, InmemPhysical):
        tap.inner.close()
    tap, log = _started(opener())
    assert (log.last_wal, log.last_performance_wal, log.first) == (6, 5, 1)
    assert log.hash.root() == root
    tap.put("logical/kv/next", b"v")
    assert log.since(5, 10)[-1]["wal"] == 7


def test_retention_keeps_the_newest_records(opener: Callable[[], Physical]) -> None:
    tap, log = _started(opener(), retain=5)
    for i in range(20):
        tap.put(f"logical/kv/{i}", b"v")
    assert log.last_wal == 20 and log.first == 16
    assert len(tap.list(LOG_PREFIX)) == 5
    with pytest.raises(LogTruncated):
        log.since(3, 10)
    assert [r["wal"] for r in log.since(15, 10)] == [16, 17, 18, 19, 20]


def _full_hash(physical: Physical) -> str:
    """The hash computed afresh from every replicated key's ciphertext."""
    classifier = KeyClassifier()
    classifier.update(MOUNTS)
    fresh = KeyspaceHash()
    for key in physical.list_all(""):
        value = physical.get(key)
        if value is not None and classifier.classify(key) == "replicated":
            fresh.set(key, hashlib.sha256(value).digest())
    return fresh.root()


def test_incremental_hash_equals_a_full_recount(opener: Callable[[], Physical]) -> None:
    physical = opener()
    tap, log = _started(physical)
    empty = log.hash.root()
    tap.put("logical/kv/a", b"1")
    tap.put("logical/kv/b", b"2")
    tap.put("logical/kv/a", b"3")  # overwritten
    tap.transaction([TxnOp("logical/kv/c", b"4"), TxnOp("logical/kv/b", None)])
    tap.put("sys/token/id/h", b"local: not hashed")
    assert log.hash.root() == _full_hash(physical) != empty
    tap.delete("logical/kv/a")
    tap.delete("logical/kv/c")
    assert log.hash.root() == _full_hash(physical) == empty


def test_the_hash_tells_a_different_value() -> None:
    one, two = KeyspaceHash(), KeyspaceHash()
    for key in ("a", "b", "c"):
        one.set(key, hashlib.sha256(key.encode()).digest())
        two.set(key, hashlib.sha256(key.encode()).digest())
    assert one.root() == two.root()
    two.set("b", hashlib.sha256(b"drift").digest())
    assert one.root() != two.root()
    assert sum(x != y for x, y in zip(one.buckets(), two.buckets(), strict=True)) == 1


def test_the_root_without_some_mounts_equals_the_hash_of_the_rest() -> None:
    """A path-filtered secondary's root, taken from the full hash, is the root of what it holds."""

    def digest(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    full, held = KeyspaceHash(), KeyspaceHash()
    keys = [f"logical/{m}/k{i}" for m in ("kept", "gone") for i in range(40)] + [
        "core/mounts",
        "sys/policy/p",
    ]
    for key in keys:
        full.set(key, digest(key))
        if "/gone/" not in key:
            held.set(key, digest("filtered table" if key == "core/mounts" else key))
    full.set("logical/gone/k3", None)  # deletions keep the per-mount XORs right
    full.set("logical/gone/k4", digest("changed"))
    swap: dict[str, bytes | None] = {"core/mounts": digest("filtered table")}
    assert full.root_without(["logical/gone/"], swap) == held.root() != full.root()
    assert full.root_without([], {}) == full.root()
    for i in range(40):
        full.set(f"logical/gone/k{i}", None)
    full.set("core/mounts", digest("filtered table"))
    assert full.root() == held.root()


def test_mount_table_writes_reload_the_classes(opener: Callable[[], Physical]) -> None:
    """A mount made local after start: its keys are logged as local from the next write on."""
    mounts = list(MOUNTS)
    tap = TappedPhysical(opener())
    log = ReplicationLog(tap, KeyClassifier(), lambda: mounts, 100)
    log.start()
    tap.put("logical/new/a", b"1")
    mounts.append(("logical/new/", "kv", True))
    tap.put("core/local-mounts", b"table")
    tap.put("logical/new/b", b"2")
    records = log.since(0, 10)
    assert [r["ops"][0][1] for r in records] == ["replicated", "local", "local"]


@pytest.mark.parametrize(("value", "expected"), [("", 0), ("replication_log_retention = 50\n", 50)])
def test_retention_setting(value: str, expected: int) -> None:
    text = hcl_config(8200) + value
    assert parse_config(text).replication_log_retention == expected


def test_retention_setting_must_be_a_count() -> None:
    text = hcl_config(8200) + 'replication_log_retention = "lots"\n'
    with pytest.raises(ConfigError, match="replication_log_retention"):
        parse_config(text)

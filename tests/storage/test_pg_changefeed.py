"""The PostgreSQL change feed: every fenced write records its keys, in its own transaction, and a
reader following the ``xmin`` watermark misses nothing, whatever order transactions commit in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tessera.storage.base import TxnOp
from tessera.storage.pg_changefeed import Pruner, current_position, read_changes
from tessera.storage.pg_fencing import Fenced
from tessera.storage.postgresql import PostgreSQLPhysical
from tessera.storage.sqlite_reader import StandbyWrite
from tests.helpers.pg_physical import active_physical
from tests.helpers.postgres import Postgres

DB = "changefeed_" + uuid.uuid4().hex[:8]  # the test server may be shared


@pytest.fixture
def active(postgres: Postgres) -> Iterator[PostgreSQLPhysical]:
    """An HA physical whose fencing holds the current epoch (what an active node has)."""
    physical = active_physical(postgres.create_database(DB))
    try:
        yield physical
    finally:
        physical.close()
        postgres.drop_database(DB)


def _reader(postgres: Postgres) -> psycopg.Connection:
    return postgres.connect(dbname=DB)


def test_writes_record_their_keys_and_notify(active: PostgreSQLPhysical, postgres: Postgres) -> None:
    with _reader(postgres) as conn:
        conn.execute(f"LISTEN {active.changes}")
        start = current_position(conn)
        active.put("a", b"1")
        active.transaction([TxnOp("b", b"2"), TxnOp("c", None), TxnOp("b", b"3")])
        active.delete("a")
        position, keys = read_changes(conn, active.changes, start)
        assert keys == ["a", "b", "c", "a"]
        assert position.xmax > start.xmax
        assert read_changes(conn, active.changes, position)[1] == []  # nothing twice
        notes = list(conn.notifies(timeout=1.0, stop_after=3))
        assert [n.channel for n in notes] == [active.changes] * 3


def test_a_fenced_write_records_nothing(active: PostgreSQLPhysical, postgres: Postgres) -> None:
    with _reader(postgres) as conn:
        start = current_position(conn)
        conn.execute(f"UPDATE {active.settings.ha_table} SET epoch = epoch + 1 WHERE id = 1")
        with pytest.raises(Fenced):
            active.put("late", b"1")
        assert read_changes(conn, active.changes, start)[1] == []


def test_a_reader_misses_no_transaction_that_commits_late(
    active: PostgreSQLPhysical, postgres: Postgres
) -> None:
    """Two writers: the one with the lower ``seq`` commits last. Following ``seq`` the reader
    would skip it; following the transactions its snapshot saw running, it reads each row once,
    the fast one at once and the slow one when it commits."""
    with _reader(postgres) as reader, _reader(postgres) as slow, _reader(postgres) as fast:
        position = current_position(reader)
        slow.execute("BEGIN")
        insert = f"INSERT INTO {active.changes}(key) VALUES (%s) RETURNING seq"
        slow_seq = slow.execute(insert, ("slow",)).fetchone()
        fast_seq = fast.execute(insert, ("fast",)).fetchone()  # committed at once
        assert slow_seq < fast_seq  # type: ignore[operator]
        position, keys = read_changes(reader, active.changes, position)
        assert keys == ["fast"]
        position, keys = read_changes(reader, active.changes, position)
        assert keys == []  # the slow one still runs; the fast one is not read twice
        slow.execute("COMMIT")
        position, keys = read_changes(reader, active.changes, position)
        assert keys == ["slow"]
        assert read_changes(reader, active.changes, position)[1] == []


def test_the_pruner_drops_rows_once_old_enough(active: PostgreSQLPhysical, postgres: Postgres) -> None:
    active.put("old", b"1")
    pruner = Pruner(active.changes, keep=0.0)
    with _reader(postgres) as conn:
        assert Pruner(active.changes, keep=3600).prune(conn) == 0  # too young
        assert pruner.prune(conn) == 1
        assert conn.execute(f"SELECT count(*) FROM {active.changes}").fetchone() == (0,)


def test_no_feed_without_ha(postgres: Postgres) -> None:
    name = "nofeed_" + uuid.uuid4().hex[:8]
    dsn = postgres.create_database(name)
    physical = PostgreSQLPhysical({"connection_url": dsn})
    try:
        physical.put("a", b"1")
        assert physical.changes == "" and not physical.cacheable
        with postgres.connect(dbname=name) as conn:
            assert conn.execute("SELECT to_regclass('tessera_kv_changes')").fetchone() == (None,)
    finally:
        physical.close()
        postgres.drop_database(name)


class _Words:
    """What a main process's mapped file takes (``cluster/shared_state.py``): the bumped word."""

    def __init__(self) -> None:
        self.published: list[int] = []

    def publish_sequence(self, seq: int) -> None:
        self.published.append(seq)

    def readers_seen(self) -> list[int]:
        return []


def test_without_ha_the_feed_records_writes_once_workers_follow_it(postgres: Postgres) -> None:
    """``workers = N`` without HA: every write records its keys and tells the workers; a reader
    (a worker's storage) refuses to write."""
    dsn = postgres.create_database(DB)
    physical = PostgreSQLPhysical({"connection_url": dsn})
    reader = PostgreSQLPhysical({"connection_url": dsn}, reader=True)
    try:
        physical.put("before", b"0")  # nobody follows yet: no feed table, nothing recorded
        assert physical.changes == ""
        words = _Words()
        physical.enable_change_feed(words)
        with _reader(postgres) as conn:
            start = current_position(conn)
            physical.put("a", b"1")
            physical.transaction([TxnOp("b", b"2"), TxnOp("a", None)])
            assert read_changes(conn, physical.changes, start)[1] == ["a", "b", "a"]
        assert words.published == [1, 2]
        assert physical.last_commit() is not None
        assert reader.get("b") == b"2" and reader.changes == physical.changes
        with pytest.raises(StandbyWrite):
            reader.put("c", b"3")
    finally:
        reader.close()
        physical.close()
        postgres.drop_database(DB)

"""Fenced writes on PostgreSQL: a node whose epoch is not the HA table's commits nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tessera.storage.pg_fencing import Fenced, Fencing
from tessera.storage.postgresql import PostgreSQLPhysical
from tessera.storage.sqlite_reader import StandbyWrite
from tests.helpers.pg_physical import bump_epoch
from tests.helpers.postgres import Postgres


@pytest.fixture
def database(postgres: Postgres) -> Iterator[tuple[str, str]]:
    """(name, DSN) of a database of this test's own."""
    with postgres.fresh_database("fencing") as made:
        yield made


@pytest.fixture
def ha_physical(database: tuple[str, str]) -> Iterator[PostgreSQLPhysical]:
    physical = PostgreSQLPhysical({"connection_url": database[1], "ha_enabled": "true"})
    try:
        yield physical
    finally:
        physical.close()


def test_unfenced_until_the_node_joins(ha_physical: PostgreSQLPhysical) -> None:
    ha_physical.put("a", b"1")  # sys/init and a sealed node: not in the election yet
    assert ha_physical.get("a") == b"1"


def test_a_standby_writes_nothing(ha_physical: PostgreSQLPhysical) -> None:
    ha_physical.fencing = Fencing(ha_physical.settings.ha_table)
    with pytest.raises(StandbyWrite):
        ha_physical.put("a", b"1")
    assert ha_physical.get("a") is None


def test_writes_need_the_current_epoch(ha_physical: PostgreSQLPhysical) -> None:
    fencing = Fencing(ha_physical.settings.ha_table)
    told: list[bool] = []
    fencing.on_fenced.append(lambda: told.append(True))
    ha_physical.fencing = fencing
    fencing.epoch = bump_epoch(ha_physical)
    ha_physical.put("mine", b"1")
    assert ha_physical.get("mine") == b"1"
    bump_epoch(ha_physical)  # another node took over
    with pytest.raises(Fenced):
        ha_physical.put("late", b"2")
    assert ha_physical.get("late") is None
    assert told == [True]


def test_a_takeover_waits_for_the_write_in_flight(
    ha_physical: PostgreSQLPhysical, postgres: Postgres, database: tuple[str, str]
) -> None:
    """The new leader's UPDATE waits for the old leader's share lock: the write in flight commits
    under the old epoch, before the takeover, never after it."""
    fencing = Fencing(ha_physical.settings.ha_table)
    ha_physical.fencing = fencing
    fencing.epoch = bump_epoch(ha_physical)
    conn, _ = ha_physical.connections.current()
    bumped = threading.Event()
    with conn.transaction():
        conn.execute(f"SELECT epoch FROM {fencing.ha_table} WHERE id = 1 FOR SHARE")

        def take_over() -> None:
            with postgres.connect(dbname=database[0]) as other:
                other.execute(f"UPDATE {fencing.ha_table} SET epoch = epoch + 1 WHERE id = 1")
            bumped.set()

        thread = threading.Thread(target=take_over)
        thread.start()
        time.sleep(0.3)
        assert not bumped.is_set()  # blocked by the write in flight
        conn.execute(f"INSERT INTO {ha_physical.table}(key, value) VALUES ('inflight', 'x')")
    thread.join(10)
    assert bumped.is_set()
    with pytest.raises(Fenced):
        ha_physical.put("after", b"x")
    assert ha_physical.get("inflight") == b"x"

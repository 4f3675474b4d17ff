"""PostgreSQL storage in the HA tests' roles: an active node's physical, and a new leader's epoch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tessera.storage.pg_fencing import Fencing
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.postgres import Postgres


@contextmanager
def ha_physical_on(postgres: Postgres, dbname: str) -> Iterator[PostgreSQLPhysical]:
    """An HA physical (holding no epoch yet) on a new database ``dbname``; both gone afterwards."""
    dsn = postgres.create_database(dbname)
    physical = PostgreSQLPhysical({"connection_url": dsn, "ha_enabled": "true"})
    try:
        yield physical
    finally:
        physical.close()
        postgres.drop_database(dbname)


def bump_epoch(physical: PostgreSQLPhysical) -> int:
    """What a new leader does (``cluster/ha/election.py``): the next epoch, returned."""
    conn, _ = physical.connections.current()
    row = conn.execute(
        f"UPDATE {physical.settings.ha_table} SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch"
    ).fetchone()
    assert row is not None
    return int(row[0])


def active_physical(dsn: str) -> PostgreSQLPhysical:
    """An HA physical on ``dsn`` whose fencing holds the current epoch (what an active node has):
    its writes commit and record their keys in the change feed."""
    physical = PostgreSQLPhysical({"connection_url": dsn, "ha_enabled": "true"})
    try:
        fencing = Fencing(physical.settings.ha_table, physical.changes)
        fencing.epoch = bump_epoch(physical)
        physical.fencing = fencing
    except BaseException:
        physical.close()
        raise
    return physical

"""PostgreSQL restarts under the write load of a three-node cluster: the nodes reconnect, one is
active again, and every write acknowledged before, during or after is there. The database is one
of this test's own (``own_postgres``: it restarts it), not the shared ``postgres`` fixture's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cluster.ha_cluster import WriteLoad, ha_cluster
from tests.helpers.postgres import Postgres, ThrowawayCluster
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres


def test_a_database_restart_loses_no_acknowledged_write(
    own_postgres: tuple[ThrowawayCluster, Postgres], tmp_path: Path
) -> None:
    database, postgres = own_postgres
    with ha_cluster(postgres, tmp_path) as cluster:
        active = cluster.active()
        with WriteLoad([node.addr for node in cluster.nodes], cluster.token) as load:
            until(lambda: len(load.acknowledged) >= 50, "writes before the restart", 30)
            started = time.monotonic()
            database._run(
                "pg_ctl",
                "-D",
                str(database.data),
                "-l",
                str(database.root / "log"),
                "-m",
                "fast",
                "-w",
                "restart",
            )
            restarted = time.monotonic() - started
            at_restart = len(load.acknowledged)
            until(lambda: len(load.acknowledged) > at_restart, "a write acknowledged after the restart", 30)
            back = time.monotonic() - started
            until(lambda: len(load.acknowledged) >= at_restart + 50, "writes after the restart", 30)
        successor = cluster.active(timeout=10)
        print(
            f"\nHA across a database restart ({restarted:.3f} s): writes acknowledged again after {back:.3f} s, "
            f"active: {'the same' if successor is active else 'another'} node; writes acknowledged "
            f"{len(load.acknowledged)}, failed {load.failed}"
        )
        missing = set(load.acknowledged) - cluster.stored_keys(successor)
        assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"
        assert sum(1 for node in cluster.nodes if cluster.leader(node)["is_self"]) == 1

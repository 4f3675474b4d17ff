"""PostgreSQL down for a while under a three-node cluster: clear 503s naming the cause, quick
health answers, every node process stays up, and once the database is back the cluster serves
again by itself and has lost no acknowledged write."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.ha_cluster import HACluster, WriteLoad, ha_cluster
from tests.helpers.postgres import Postgres, ThrowawayCluster
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres

UNAVAILABLE = "storage backend unavailable: "
QUICK = 3.0  # seconds: a refused connection is known at once; nothing waits for a timeout


def _timed(node: TesseraServer, method: str, path: str, **kwargs: Any) -> tuple[int, Any, float]:
    started = time.monotonic()
    status, body, _ = node.call(method, path, **kwargs)
    return status, body, time.monotonic() - started


def _assert_unavailable(
    cluster: HACluster, node: TesseraServer, method: str, path: str, **kwargs: Any
) -> None:
    status, body, took = _timed(node, method, path, token=cluster.token, **kwargs)
    assert status == 503, (node, method, path, status, body)
    (message,) = body["errors"]
    # "connection refused", or, for a session the shutdown ended, "terminating connection ...".
    assert message.startswith(UNAVAILABLE) and "connection" in message.lower(), message
    assert took < QUICK, (method, path, took)


def test_a_database_outage_answers_503_and_the_cluster_serves_again(
    own_postgres: tuple[ThrowawayCluster, Postgres], tmp_path: Path
) -> None:
    database, postgres = own_postgres
    with ha_cluster(postgres, tmp_path) as cluster:
        active = cluster.active()
        standby = cluster.standbys(active)[0]
        status, _, _ = active.call("PUT", "kv/before", json={"v": 1})
        assert status == 204
        with WriteLoad([node.addr for node in cluster.nodes], cluster.token) as load:
            until(lambda: len(load.acknowledged) >= 50, "writes before the outage", 30)
            database.stop_server("fast")
            stopped = time.monotonic()
            # A key no node has read or written: a written one is in the writer's read cache
            # (write-through), and a cached read needs no database.
            for node in (active, standby):  # at once, and after the election noticed
                _assert_unavailable(cluster, node, "GET", "kv/unread")
                _assert_unavailable(cluster, node, "PUT", "kv/during", json={"v": 1})
            time.sleep(2.5)
            for node in cluster.nodes:
                _assert_unavailable(cluster, node, "GET", "kv/unread")
                _assert_unavailable(cluster, node, "LIST", "kv/")
                for path in ("sys/health", "sys/seal-status"):  # each node's own, not forwarded
                    status, body, took = _timed(node, "GET", path, auth=False)
                    assert status == 503 and body["errors"][0].startswith(UNAVAILABLE), (path, status, body)
                    assert took < QUICK
                assert node.running()
            at_restart = len(load.acknowledged)
            database.start_server()
            outage = time.monotonic() - stopped
            restarted = time.monotonic()
            until(lambda: len(load.acknowledged) > at_restart, "a write acknowledged after the outage", 30)
            back = time.monotonic() - restarted
            until(lambda: len(load.acknowledged) >= at_restart + 50, "writes after the outage", 30)
        successor = cluster.active(timeout=15)
        cluster.wait_until_all_name(successor)
        print(
            f"\nHA across a {outage:.1f} s database outage: writes acknowledged again {back:.3f} s after "
            f"PostgreSQL was back; writes acknowledged {len(load.acknowledged)}, refused {load.failed}"
        )
        stored = cluster.stored_keys(successor)
        missing = set(load.acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"
        assert "before" in stored
        for node in cluster.nodes:
            status, body, _ = node.call("GET", "kv/before")
            assert (status, body["data"]) == (200, {"v": 1})
            # A performance standby answers 473 unless perfstandbyok (standbyok alone is for plain ones).
            params = {"standbyok": "true", "perfstandbyok": "true"}
            status, _, _ = node.call("GET", "sys/health", params=params, auth=False)
            assert status == 200

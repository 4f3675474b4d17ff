"""A performance primary that is a two-node HA cluster on PostgreSQL, its secondary on SQLite.

Only the active node keeps the log and serves the replication listener, on the replication set's
``primary_cluster_addr`` (one address for the cluster, as behind a load balancer that routes to the
active node). ``kill -9`` of the active node under a counted write load: the other node takes the
lock, resumes the log from the records in the database, listens in its place, and the secondary's
stream carries on from its index; every acknowledged write reaches the secondary.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cluster.ha_cluster import WriteLoad, ha_cluster
from tests.cluster.replication.pair import activate_ha_secondary, batch_token, make_secondary, on_sqlite
from tests.cluster.replication.pair import started as serving
from tests.cluster.replication.test_paths_filters import ADMIN, P, _in_sync
from tests.helpers.postgres import Postgres
from tests.helpers.servers import free_port, tessera_on_sqlite
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres


def test_the_secondary_follows_the_new_active_node_after_kill_9(postgres: Postgres, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    secondary = tessera_on_sqlite(tmp_path / "s")
    with ha_cluster(postgres, tmp_path, size=2) as cluster:
        try:
            active = cluster.active()
            survivor = cluster.standbys(active)[0]
            admin = batch_token(active, "admin", ADMIN)
            active.ok("PUT", "kv/before", {"v": "0"})
            # The node's own cluster address carries its HA forwarding: a clear 400, nothing enabled.
            status, answer, _ = active.call("POST", f"{P}/primary/enable")
            assert status == 400 and "give primary_cluster_addr" in answer["errors"][0], answer
            assert active.ok("GET", f"{P}/status")["data"] == {"mode": "disabled"}
            address = f"https://127.0.0.1:{free_port()}"
            active.ok("POST", f"{P}/primary/enable", {"primary_cluster_addr": address})
            secondary.start()
            secondary.init()
            secondary.unseal()
            make_secondary(active, secondary, "performance", "perf-ha")
            assert secondary.call("GET", "kv/before", token=admin)[1]["data"] == {"v": "0"}

            def on_secondary(key: str) -> bool:
                return secondary.call("GET", f"kv/{key}", token=admin)[0] == 200

            with WriteLoad([survivor.addr], cluster.token) as load:  # the standby forwards them
                until(lambda: len(load.acknowledged) >= 30, "writes before the kill", 30)
                until(lambda: on_secondary(load.acknowledged[0]), "them on the secondary", 20.0)
                started = time.monotonic()
                active.kill()
                assert cluster.active(among=[survivor], timeout=15) is survivor
                takeover = time.monotonic() - started
                at_takeover = len(load.acknowledged)
                until(lambda: len(load.acknowledged) >= at_takeover + 30, "writes after the takeover", 30)
                probe = load.acknowledged[-1]
                until(lambda: on_secondary(probe), "the secondary to follow the new active node", 30)
                following = time.monotonic() - started
            print(
                f"\nHA primary, kill -9 of the active node: takeover {takeover:.3f} s, the secondary "
                f"streaming from the new active node {following:.3f} s after the kill; writes "
                f"acknowledged {len(load.acknowledged)}, failed {load.failed}"
            )
            mark = time.time()
            until(lambda: _in_sync(survivor, secondary, mark), "the hashes to match", 30)
            listed = secondary.call("LIST", "kv/", token=admin)[1]["data"]["keys"]
            missing = set(load.acknowledged) - set(listed)
            assert not missing, f"{len(missing)} acknowledged writes never reached the secondary"
            status = survivor.ok("GET", f"{P}/status")["data"]
            assert status["mode"] == "primary" and status["known_secondaries"] == ["perf-ha"]
            assert status["secondaries"][0]["connection_status"] == "connected"
            assert "copying its data again" not in secondary.output()  # it resumed from its index
        finally:
            secondary.cleanup()


def test_an_ha_secondary_streams_from_its_active_node_and_resumes_after_kill_9(
    postgres: Postgres, tmp_path: Path
) -> None:
    """The secondary is the HA cluster: only its active node applies the stream; its successor
    resumes from the index kept in the database, with no new copy of the primary."""
    primary_server = on_sqlite(tmp_path / "p")
    with ha_cluster(postgres, tmp_path, size=2) as cluster, serving(primary_server) as (primary,):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        admin = batch_token(primary, "admin", ADMIN)
        enabled = cluster.active()
        other = cluster.standbys(enabled)[0]
        activate_ha_secondary(primary, enabled, other, "performance", "ha-sec")
        # The other node found a keyring its root key cannot open: it sealed too.
        assert "does not open with this node's root key" in other.output()
        # Both are unsealed with the primary's keys, the other node first: the enabled node keeps
        # the secondary's state in memory until its unseal writes it, and its pending-enable
        # marker keeps the other from leading meanwhile.
        other.unseal(primary.keys)
        enabled.unseal(primary.keys)
        assert cluster.active(among=[enabled], timeout=15) is enabled
        primary.ok("PUT", "kv/first", {"v": "1"})
        until(
            lambda: enabled.call("GET", "kv/first", token=admin)[0] == 200,
            "the stream on the active node",
            20.0,
        )
        until(
            lambda: other.call("GET", "kv/first", token=admin)[0] == 200,
            "the standby to read it too",
            20.0,
        )
        mark = time.time()
        until(lambda: _in_sync(primary, enabled, mark), "in sync", 30)
        time.sleep(2.5)  # the stream keeps its index every two seconds
        for i in range(20):
            primary.ok("PUT", f"kv/k{i}", {"v": i})
        started = time.monotonic()
        enabled.kill()
        assert cluster.active(among=[other], timeout=15) is other
        takeover = time.monotonic() - started
        primary.ok("PUT", "kv/after", {"v": "a"})
        until(
            lambda: other.call("GET", "kv/after", token=admin)[0] == 200,
            "the new active node to stream",
            20.0,
        )
        following = time.monotonic() - started
        print(
            f"\nHA secondary, kill -9 of its active node: takeover {takeover:.3f} s, streaming {following:.3f} s"
        )
        assert all(other.call("GET", f"kv/k{i}", token=admin)[0] == 200 for i in range(20))
        mark = time.time()
        until(lambda: _in_sync(primary, other, mark), "in sync after the takeover", 30)
        assert "copying its data again" not in other.output()

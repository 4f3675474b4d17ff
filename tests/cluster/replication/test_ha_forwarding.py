"""Writes sent to a performance secondary land on the primary when either side is an HA cluster.

An HA primary: the secondary forwards to the replication set's ``primary_cluster_addr``, the one
address that reaches whichever node is active, so after ``kill -9`` of the active node the
forwarded writes land on its successor; every write the client saw acknowledged is there and on
the secondary. An HA secondary: a write sent to a standby goes to its active node, which forwards
it to the primary; the client sees one API.
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
from tests.helpers.servers import TesseraServer, free_port, tessera_on_sqlite
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres


def _missing(server: TesseraServer, token: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` under ``kv/`` ``server`` does not list."""
    listed = server.call("LIST", "kv/", token=token)[1]["data"]["keys"]
    return set(keys) - set(listed)


def test_forwarded_writes_land_on_the_new_active_node_after_kill_9(
    postgres: Postgres, tmp_path: Path
) -> None:
    (tmp_path / "s").mkdir()
    secondary = tessera_on_sqlite(tmp_path / "s")
    with ha_cluster(postgres, tmp_path, size=2) as cluster:
        try:
            active = cluster.active()
            survivor = cluster.standbys(active)[0]
            admin = batch_token(active, "admin", ADMIN)
            address = f"https://127.0.0.1:{free_port()}"
            active.ok("POST", f"{P}/primary/enable", {"primary_cluster_addr": address})
            secondary.start()
            secondary.init()
            secondary.unseal()
            make_secondary(active, secondary, "performance", "perf")

            # One forwarded write, before any fault: the active node has it, the secondary reads it.
            assert secondary.call("PUT", "kv/first", json={"v": "1"}, token=admin)[0] == 204
            assert active.ok("GET", "kv/first", token=admin)["data"] == {"v": "1"}
            assert secondary.ok("GET", "kv/first", token=admin)["data"] == {"v": "1"}

            with WriteLoad([secondary.addr], admin) as load:  # every write forwarded
                until(lambda: len(load.acknowledged) >= 30, "forwarded writes before the kill", 30)
                started = time.monotonic()
                active.kill()
                assert cluster.active(among=[survivor], timeout=15) is survivor
                takeover = time.monotonic() - started
                at_takeover = len(load.acknowledged)
                until(
                    lambda: len(load.acknowledged) >= at_takeover + 30,
                    "forwarded writes to reach the new active node",
                    45,
                )
                forwarding = time.monotonic() - started
            print(
                f"\nHA primary, kill -9 of the active node under forwarded writes: takeover "
                f"{takeover:.3f} s, forwarding to the new active node {forwarding:.3f} s after the "
                f"kill; acknowledged {len(load.acknowledged)}, failed {load.failed}"
            )
            missing = _missing(survivor, admin, load.acknowledged)
            assert not missing, f"{len(missing)} acknowledged forwarded writes are not on the primary"
            mark = time.time()
            until(lambda: _in_sync(survivor, secondary, mark), "the hashes to match", 30)
            missing = _missing(secondary, admin, load.acknowledged)
            assert not missing, f"{len(missing)} acknowledged forwarded writes are not on the secondary"
            # After the takeover, one more: answered by the primary's new active node.
            assert secondary.call("PUT", "kv/last", json={"v": "z"}, token=admin)[0] == 204
            assert survivor.ok("GET", "kv/last", token=admin)["data"] == {"v": "z"}
            assert secondary.ok("GET", "kv/last", token=admin)["data"] == {"v": "z"}
        finally:
            secondary.cleanup()


def test_a_write_sent_to_a_standby_of_an_ha_secondary_lands_on_the_primary(
    postgres: Postgres, tmp_path: Path
) -> None:
    """Standby -> its active node -> the primary; then, under a counted load sent to the standby,
    ``kill -9`` of the secondary's active node: the standby takes over and forwards itself."""
    primary_server = on_sqlite(tmp_path / "p")
    with ha_cluster(postgres, tmp_path, size=2) as cluster, serving(primary_server) as (primary,):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        admin = batch_token(primary, "admin", ADMIN)
        enabled = cluster.active()
        standby = cluster.standbys(enabled)[0]
        activate_ha_secondary(primary, enabled, standby, "performance", "ha-sec")
        enabled.unseal(primary.keys)
        assert cluster.active(among=[enabled], timeout=15) is enabled
        standby.unseal(primary.keys)
        primary.ok("PUT", "kv/first", {"v": "1"})
        until(lambda: standby.call("GET", "kv/first", token=admin)[0] == 200, "the standby to read", 20.0)

        status, body, _ = standby.call("PUT", "kv/via-standby", json={"v": "s"}, token=admin)
        assert (status, body) == (204, None)
        assert primary.ok("GET", "kv/via-standby")["data"] == {"v": "s"}
        until(
            lambda: standby.call("GET", "kv/via-standby", token=admin)[0] == 200,
            "the standby to read its write",
            20.0,
        )
        assert enabled.ok("GET", "kv/via-standby", token=admin)["data"] == {"v": "s"}

        time.sleep(2.5)  # the stream keeps its index every two seconds
        with WriteLoad([standby.addr], admin) as load:
            until(lambda: len(load.acknowledged) >= 30, "writes through the standby", 30)
            started = time.monotonic()
            enabled.kill()
            assert cluster.active(among=[standby], timeout=15) is standby
            takeover = time.monotonic() - started
            at_takeover = len(load.acknowledged)
            until(lambda: len(load.acknowledged) >= at_takeover + 30, "writes after the takeover", 45)
            forwarding = time.monotonic() - started
        print(
            f"\nHA secondary, kill -9 of its active node under writes sent to the standby: "
            f"takeover {takeover:.3f} s, forwarding again {forwarding:.3f} s after the kill; "
            f"acknowledged {len(load.acknowledged)}, failed {load.failed}"
        )
        missing = _missing(primary, admin, load.acknowledged)
        assert not missing, f"{len(missing)} acknowledged writes are not on the primary"
        mark = time.time()
        until(lambda: _in_sync(primary, standby, mark), "in sync after the takeover", 30)
        missing = _missing(standby, admin, load.acknowledged)
        assert not missing, f"{len(missing)} acknowledged writes are not on the secondary"

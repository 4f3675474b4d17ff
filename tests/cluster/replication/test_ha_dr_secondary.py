"""A DR secondary that is a two-node HA cluster on PostgreSQL, its primary on SQLite.

A DR secondary answers no reads, so the stream is followed through its replication status
(``last_remote_wal`` and ``merkle_root`` against the primary's). ``kill -9`` of its active node
under a counted write load on the primary: the other node takes the lock and resumes the stream from
the index kept in the database, with no new copy; a DR operation batch token from the primary then
promotes it, every acknowledged write is readable there, and the killed node, restarted, joins
the promoted cluster as its standby.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cluster.ha_cluster import WriteLoad, ha_cluster
from tests.cluster.replication.pair import activate_ha_secondary, caught_up, on_sqlite
from tests.cluster.replication.pair import started as serving
from tests.cluster.replication.test_dr_promotion import PROMOTION_POLICY
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres

D = "sys/replication/dr"


def _dr_operation_token(primary: TesseraServer) -> str:
    """A batch token of the role ``failover-handler``, allowed only the promotion (seed 001)."""
    primary.ok("PUT", "sys/policies/acl/dr-secondary-promotion", {"policy": PROMOTION_POLICY})
    role = {"allowed_policies": "dr-secondary-promotion", "orphan": True, "renewable": False}
    primary.ok("POST", "auth/token/roles/failover-handler", {**role, "token_type": "batch"})
    created = primary.ok("POST", "auth/token/create/failover-handler", {"ttl": "8h"})
    return str(created["auth"]["client_token"])


def _enable_dr_secondary(primary: TesseraServer, enabled: TesseraServer, other: TesseraServer) -> None:
    """``enabled`` (the active node) made the primary's DR secondary; both nodes unsealed with the
    primary's keys (in either order: the enabled node alone may lead until it saved the state)."""
    activate_ha_secondary(primary, enabled, other, "dr", "dr-ha")
    for node in (enabled, other):
        node.unseal(primary.keys)
        node.root_token = primary.root_token


def _is_active(node: TesseraServer) -> bool:
    return node.call("GET", "sys/health", auth=False)[0] == 200


def test_the_other_node_unsealed_first_waits_for_the_enabled_node(postgres: Postgres, tmp_path: Path) -> None:
    """The enable's state is only in the enabled node's memory until its unseal: the other node,
    unsealed first, stays standby (the pending-enable marker) instead of running the primary's data
    as a cluster that is not a secondary; the enabled node then leads and the cluster follows."""
    primary_server = on_sqlite(tmp_path / "p")
    with ha_cluster(postgres, tmp_path, size=2) as cluster, serving(primary_server) as (primary,):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        enabled = cluster.active()
        other = cluster.standbys(enabled)[0]
        activate_ha_secondary(primary, enabled, other, "dr", "dr-ha-other-first")
        other.unseal(primary.keys)
        waiting = "holds a pending dr secondary enable"
        until(lambda: waiting in other.output() or _is_active(other), "the other node to wait or lead", 20.0)
        assert not _is_active(other), "the other node leads a cluster that is not the secondary"
        enabled.unseal(primary.keys)
        assert cluster.active(among=[enabled, other], timeout=15) is enabled
        until(lambda: caught_up(primary, enabled, "dr"), "the DR secondary to catch up", 20.0)
        assert enabled.call("GET", f"{D}/status", auth=False)[1]["data"]["mode"] == "secondary"
        assert "secondary enable on" not in enabled.output()  # saved, not lost


def test_an_ha_dr_secondary_resumes_after_kill_9_and_is_promoted(postgres: Postgres, tmp_path: Path) -> None:
    primary_server = on_sqlite(tmp_path / "p")
    with ha_cluster(postgres, tmp_path, size=2) as cluster, serving(primary_server) as (primary,):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        primary.ok("PUT", "kv/before", {"v": "0"})
        dr_token = _dr_operation_token(primary)
        enabled = cluster.active()
        other = cluster.standbys(enabled)[0]
        _enable_dr_secondary(primary, enabled, other)
        assert cluster.active(among=[enabled], timeout=15) is enabled
        until(lambda: caught_up(primary, enabled, "dr"), "the DR secondary to catch up", 20.0)
        status, body, _ = enabled.call("GET", "kv/before")
        assert (status, body) == (400, {"errors": ["path disabled in replication DR secondary mode"]})

        with WriteLoad([primary.addr], str(primary.root_token)) as load:
            until(lambda: len(load.acknowledged) >= 30, "writes before the kill", 30)
            time.sleep(2.5)  # the stream keeps its index every two seconds
            started = time.monotonic()
            enabled.kill()
            assert cluster.active(among=[other], timeout=15) is other
            takeover = time.monotonic() - started
            at_takeover = len(load.acknowledged)
            until(lambda: len(load.acknowledged) >= at_takeover + 30, "writes after the takeover", 30)
            wal = primary.ok("GET", f"{D}/status")["data"]["last_wal"]
            until(
                lambda: other.call("GET", f"{D}/status", auth=False)[1]["data"]["last_remote_wal"] >= wal,
                "the new active node to stream",
                30,
            )
            following = time.monotonic() - started
        until(lambda: caught_up(primary, other, "dr"), "in sync after the takeover", 30)
        assert "copying its data again" not in other.output()  # it resumed from its index
        print(
            f"\nHA DR secondary, kill -9 of its active node: takeover {takeover:.3f} s, streaming "
            f"{following:.3f} s after the kill; writes acknowledged {len(load.acknowledged)}, "
            f"failed {load.failed}"
        )

        primary.kill()
        promote = {"dr_operation_token": dr_token}
        other.ok("POST", f"{D}/secondary/promote", promote)
        assert other.call("GET", f"{D}/status", auth=False)[1]["data"]["mode"] == "primary"
        listed = set(other.ok("LIST", "kv/")["data"]["keys"])
        missing = set(load.acknowledged) - listed
        assert not missing, f"{len(missing)} acknowledged writes missing on the promoted cluster"
        assert other.ok("GET", "kv/before")["data"] == {"v": "0"}
        other.ok("PUT", "kv/after-promotion", {"v": "1"})  # it takes writes now

        # The killed node comes back as a standby of the promoted cluster, with the primary's keys.
        enabled.restart(graceful=False)
        enabled.unseal(primary.keys)
        cluster.wait_until_all_name(other)
        assert enabled.ok("GET", "kv/after-promotion")["data"] == {"v": "1"}
        assert enabled.call("GET", f"{D}/status", auth=False)[1]["data"]["mode"] == "primary"

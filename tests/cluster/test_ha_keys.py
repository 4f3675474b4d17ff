"""Keys across an HA cluster of three real nodes on PostgreSQL: a rotated keyring and a rekeyed
root key reach every node (one that takes over reads everything written before and after), and
sealing the active node hands over to another, as Vault's nodes do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.ha_cluster import HACluster, ha_cluster
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres

# OpenBao hides the unauthenticated rekey endpoints unless the listener allows them.
REKEY_ALLOWED = "  disable_unauthed_rekey_endpoints = false\n"


def _put(cluster: HACluster, node: TesseraServer, key: str) -> None:
    status, body, _ = node.call("PUT", f"kv/{key}", json={"key": key}, token=cluster.token)
    assert status == 204, (node, key, status, body)


def _assert_reads(cluster: HACluster, keys: list[str]) -> None:
    """Every running node (standbys forward) reads every key."""
    for node in cluster.nodes:
        if not node.running():
            continue
        for key in keys:
            status, body, _ = node.call("GET", f"kv/{key}", token=cluster.token)
            assert status == 200 and body["data"] == {"key": key}, (node, key, status, body)


def _term(cluster: HACluster, node: TesseraServer) -> int:
    status, body, _ = node.call("GET", "sys/key-status", token=cluster.token)
    assert status == 200, (status, body)
    return int(body["data"]["term"])


def test_a_node_that_takes_over_after_a_rotation_reads_every_term(postgres: Postgres, tmp_path: Path) -> None:
    with ha_cluster(postgres, tmp_path) as cluster:
        active = cluster.active()
        standby = cluster.standbys(active)[0]
        _put(cluster, active, "term-1")
        status, body, _ = standby.call(
            "POST", "sys/rotate", token=cluster.token
        )  # forwarded to the active node
        assert status == 204, (status, body)
        assert _term(cluster, active) == _term(cluster, standby) == 2
        _put(cluster, standby, "term-2")
        active.kill()  # kill -9: no chance to hand anything over
        successor = cluster.active(among=cluster.standbys(active))
        assert _term(cluster, successor) == 2
        _assert_reads(cluster, ["term-1", "term-2"])
        status, _, _ = successor.call("POST", "sys/rotate", token=cluster.token)
        assert status == 204
        _put(cluster, successor, "term-3")
        _assert_reads(cluster, ["term-1", "term-2", "term-3"])


def _rekey(cluster: HACluster, node: TesseraServer, shares: int, threshold: int) -> list[str]:
    """sys/rekey/init and update with the cluster's unseal keys (through ``node``): the new keys."""
    status, body, _ = node.call(
        "PUT", "sys/rekey/init", json={"secret_shares": shares, "secret_threshold": threshold}, auth=False
    )
    assert status == 200 and body["started"], (status, body)
    nonce = body["nonce"]
    for key in node.keys:
        status, body, _ = node.call("PUT", "sys/rekey/update", json={"key": key, "nonce": nonce}, auth=False)
        assert status == 200, (status, body)
    assert body["complete"] is True, body
    return list(body["keys"])


def _seal_status(node: TesseraServer) -> dict[str, object]:
    status, body, _ = node.call("GET", "sys/seal-status", auth=False)
    assert status == 200, (status, body)
    return dict(body)


def test_after_a_rekey_only_the_new_keys_unseal_and_an_older_standby_takes_over(
    postgres: Postgres, tmp_path: Path
) -> None:
    with ha_cluster(postgres, tmp_path, listener_options=REKEY_ALLOWED) as cluster:
        active = cluster.active()
        older, restarted = cluster.standbys(active)
        old_keys = list(active.keys)
        _put(cluster, active, "before-rekey")
        new_keys = _rekey(cluster, older, 3, 2)  # through a standby: forwarded to the active node
        assert len(new_keys) == 3 and not set(new_keys) & set(old_keys)
        _put(cluster, active, "after-rekey")

        restarted.restart()  # sealed again: it needs the new keys, the old ones open nothing
        status = _seal_status(restarted)
        assert (status["sealed"], status["t"], status["n"]) == (True, 2, 3)
        restarted.unseal([old_keys[0]])
        answer = restarted.call("PUT", "sys/unseal", json={"key": new_keys[0]}, auth=False)
        assert answer[0] == 400 and answer[1]["errors"], answer  # a share of the old split: no root key
        assert _seal_status(restarted)["sealed"] is True
        opened = restarted.unseal(new_keys[1:])
        assert opened["sealed"] is False, opened
        cluster.wait_until_all_name(active)

        restarted.terminate()  # so that the standby unsealed before the rekey is the one to take over
        active.kill()
        successor = cluster.active(among=[older])
        assert successor is older
        _assert_reads(cluster, ["before-rekey", "after-rekey"])
        _put(cluster, successor, "after-takeover")
        restarted.restart()
        restarted.unseal(new_keys[:2])
        until(lambda: cluster.leader(restarted)["leader_address"] == successor.addr, "the new leader", 10)
        _assert_reads(cluster, ["before-rekey", "after-rekey", "after-takeover"])


def test_sealing_the_active_node_hands_over(postgres: Postgres, tmp_path: Path) -> None:
    with ha_cluster(postgres, tmp_path) as cluster:
        active = cluster.active()
        _put(cluster, active, "before-seal")
        status, body, _ = active.call("PUT", "sys/seal", token=cluster.token)
        assert status == 204, (status, body)
        assert _seal_status(active)["sealed"] is True
        successor = cluster.active(among=cluster.standbys(active))
        for node in cluster.standbys(active):
            assert _seal_status(node)["sealed"] is False
        assert active.call("GET", "kv/before-seal", token=cluster.token)[0] == 503  # sealed: its own answer
        standby = next(node for node in cluster.standbys(active) if node is not successor)
        status, body, _ = standby.call("GET", "kv/before-seal", token=cluster.token)
        assert status == 200 and body["data"] == {"key": "before-seal"}
        active.unseal()
        cluster.wait_until_all_name(successor)  # the unsealed node is a standby now
        assert cluster.leader(active)["is_self"] is False
        _put(cluster, active, "after-unseal")
        _assert_reads(cluster, ["before-seal", "after-unseal"])
        ids = {_seal_status(node)["cluster_id"] for node in cluster.nodes}
        assert len(ids) == 1 and "" not in ids

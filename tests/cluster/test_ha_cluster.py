"""Three Tessera nodes on one PostgreSQL: one active, standbys that forward, Vault's HA answers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cluster.ha_cluster import HACluster, cli, ha_cluster, put_from, table_rows
from tests.helpers.postgres import Postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HACluster]:
    with ha_cluster(postgres, tmp_path_factory.mktemp("ha")) as made:
        yield made


def test_writes_through_any_node_are_read_on_all(cluster: HACluster) -> None:
    for number, node in enumerate(cluster.nodes):
        status, body, _ = node.call("PUT", f"kv/from-{number}", json={"node": number}, token=cluster.token)
        assert status == 204, (status, body)
    active = cluster.active()
    for reader, node in enumerate(cluster.nodes):
        for number in range(len(cluster.nodes)):
            # At once on the active node and where the write was made (read-your-writes); another
            # performance standby follows the change feed a few milliseconds later, as Vault's.
            deadline = time.monotonic() + (0 if node is active or reader == number else 3.0)
            while True:
                status, body, _ = node.call("GET", f"kv/from-{number}", token=cluster.token)
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert status == 200 and body["data"] == {"node": number}, (node, status, body)


def test_a_standby_returns_the_active_nodes_errors_unchanged(cluster: HACluster) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    here = active.call("GET", "kv/missing", token=cluster.token)
    there = standby.call("GET", "kv/missing", token=cluster.token)
    assert there[0] == here[0] == 404 and there[1] == here[1] == {"errors": []}
    denied = standby.call("GET", "kv/x", token="hvs.nonsense")
    assert denied[0] == 403 and denied[1] == {"errors": ["permission denied"]}
    created = standby.call("POST", "auth/token/create", json={"policies": ["default"]}, token=cluster.token)
    assert created[0] == 200 and created[1]["auth"]["client_token"]
    looked = active.call("GET", "auth/token/lookup-self", token=created[1]["auth"]["client_token"])
    assert looked[0] == 200, looked


def test_leader_answers(cluster: HACluster) -> None:
    active = cluster.active()
    mine = cluster.leader(active)
    assert mine["ha_enabled"] is True and mine["is_self"] is True
    assert mine["leader_address"] == active.addr
    assert str(mine["leader_cluster_address"]).startswith("https://127.0.0.1:")
    assert mine["active_time"] != "0001-01-01T00:00:00Z"
    for standby in cluster.standbys(active):
        theirs = cluster.leader(standby)
        assert theirs["is_self"] is False and theirs["active_time"] == "0001-01-01T00:00:00Z"
        assert theirs["leader_address"] == active.addr
        assert theirs["leader_cluster_address"] == mine["leader_cluster_address"]


def test_health_codes(cluster: HACluster) -> None:
    active = cluster.active()
    status, body, _ = active.call("GET", "sys/health", auth=False)
    assert status == 200 and body["standby"] is False
    for standby in cluster.standbys(active):
        # Performance standbys (the default): 473 unless perfstandbyok; see test_ha_perf_standby.py
        # for plain standbys' 429.
        status, body, _ = standby.call("GET", "sys/health", auth=False)
        assert status == 473 and body["standby"] is True and body["sealed"] is False
        assert body["performance_standby"] is True
        assert standby.call("GET", "sys/health", auth=False, params={"standbyok": "true"})[0] == 473
        assert standby.call("GET", "sys/health", auth=False, params={"perfstandbyok": "true"})[0] == 200
        params = {"performancestandbycode": "299"}
        assert standby.call("GET", "sys/health", auth=False, params=params)[0] == 299


def test_ha_status_lists_every_node(cluster: HACluster) -> None:
    active = cluster.active()
    for node in cluster.nodes:  # a standby forwards it to the active node
        status, body, _ = node.call("GET", "sys/ha-status", token=cluster.token)
        assert status == 200, (status, body)
        nodes = body["data"]["nodes"]
        assert sorted(n["api_address"] for n in nodes) == sorted(n.addr for n in cluster.nodes)
        assert nodes[0]["active_node"] is True and nodes[0]["api_address"] == active.addr
        assert nodes[0]["last_echo"] is None
        assert all(n["last_echo"] and not n["active_node"] for n in nodes[1:])
        assert all(n["cluster_address"].startswith("https://") for n in nodes)


def test_standby_refuses_to_seal(cluster: HACluster) -> None:
    standby = cluster.standbys(cluster.active())[0]
    status, body, _ = standby.call("PUT", "sys/seal", token=cluster.token)
    assert status == 500
    assert body == {"errors": ["vault cannot seal when in standby mode; please restart instead"]}
    assert standby.seal_status()["sealed"] is False


def test_operator_members_through_a_standby(cluster: HACluster) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    lines = cli(standby.addr, "operator", "members", token=cluster.token).splitlines()
    assert lines[0].split() == [
        "Host", "Name", "API", "Address", "Cluster", "Address", "Active", "Node", "Version", "Upgrade",
        "Version", "Last", "Echo",
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == len(cluster.nodes)
    assert rows[0][1] == active.addr and rows[0][3] == "true"
    assert sorted(row[1] for row in rows) == sorted(node.addr for node in cluster.nodes)
    assert all(row[3] == "false" and row[-1].endswith("Z") for row in rows[1:])


def test_status_command(cluster: HACluster) -> None:
    active = cluster.active()
    rows = table_rows(cli(active.addr))
    assert rows["HA Enabled"] == "true" and rows["HA Mode"] == "active"
    assert rows["HA Cluster"].startswith("https://127.0.0.1:") and rows["Active Since"]
    standby = cluster.standbys(active)[0]
    rows = table_rows(cli(standby.addr))
    assert rows["HA Enabled"] == "true" and rows["HA Mode"] == "standby"
    assert rows["Active Node Address"] == active.addr
    assert rows["HA Cluster"].startswith("https://127.0.0.1:")


def test_the_active_node_sees_the_clients_address_not_the_standbys(cluster: HACluster) -> None:
    """A token bound to 127.0.0.2 works from there through a standby (which calls from 127.0.0.1),
    and not from 127.0.0.1: the active node checked the client's address."""
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    policy = {"policy": 'path "kv/*" { capabilities = ["create", "update"] }'}
    assert standby.call("PUT", "sys/policies/acl/kv-writer", json=policy, token=cluster.token)[0] == 204
    role = {"token_bound_cidrs": ["127.0.0.2/32"], "token_ttl": "1h", "allowed_policies": ["kv-writer"]}
    assert standby.call("POST", "auth/token/roles/bound", json=role, token=cluster.token)[0] == 204
    status, body, _ = standby.call(
        "POST", "auth/token/create/bound", json={"policies": ["kv-writer"]}, token=cluster.token
    )
    assert status == 200, (status, body)
    bound = body["auth"]["client_token"]
    assert put_from(standby.addr, "127.0.0.2", bound, "bound-ok") == 204
    assert put_from(standby.addr, "127.0.0.1", bound, "bound-refused") == 403
    assert put_from(active.addr, "127.0.0.2", bound, "bound-direct") == 204
    spoofed = {"X-Vault-Token": bound, "X-Tessera-Forward": "guess", "X-Tessera-Client": "127.0.0.2"}
    assert active.call("PUT", "kv/spoofed", json={"v": 1}, headers=spoofed, auth=False)[0] == 403

"""Vault's ``X-Vault-Index`` on three real nodes on PostgreSQL: the active node's answer to a write
carries it, a performance standby given it serves the request with that write applied (not
forwarded: the active node is paused), a forged index is refused with 412, and
``X-Vault-Inconsistent: forward-active-node`` asks for the active node only when the index is
not reached."""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator

import pytest
import requests

from tests.cluster.ha_cluster import HACluster, get, ha_cluster, paused
from tests.helpers.http import expect
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer

pytestmark = pytest.mark.postgres

INDEX = "X-Vault-Index"
MISSING = {"errors": ["required index state not present"]}


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HACluster]:
    with ha_cluster(postgres, tmp_path_factory.mktemp("xindex")) as made:
        made.wait_performance_standbys(made.active())
        yield made


def _put(addr: str, path: str, token: str, data: dict[str, object]) -> requests.Response:
    answer = requests.put(f"{addr}/v1/{path}", headers={"X-Vault-Token": token}, json=data, timeout=10)
    assert answer.status_code == 204, answer.text
    return answer


def test_a_write_on_the_active_node_answers_its_index(cluster: HACluster) -> None:
    active = cluster.active()
    index = _put(active.addr, "kv/idx", cluster.token, {"v": 1}).headers[INDEX]
    state = base64.b64decode(index).decode()
    assert state.startswith("v1:") and len(state.split(":")) == 5
    assert INDEX not in get(active, "kv/idx", cluster.token).headers  # a read wrote nothing
    later = _put(active.addr, "kv/idx", cluster.token, {"v": 2}).headers[INDEX]
    assert int(base64.b64decode(later).decode().split(":")[2]) > int(state.split(":")[2])
    # A write forwarded by a standby: the active node's answer carries it too.
    standby = cluster.standbys(active)[0]
    assert INDEX in _put(standby.addr, "kv/idx", cluster.token, {"v": 3}).headers


def test_a_standby_given_the_index_serves_the_write(cluster: HACluster) -> None:
    active = cluster.active()
    standbys = cluster.standbys(active)
    for n in range(40):
        index = _put(active.addr, "kv/fresh", cluster.token, {"n": n}).headers[INDEX]
        for node in standbys:
            answer = get(node, "kv/fresh", cluster.token, **{INDEX: index})
            assert answer.status_code == 200 and answer.json()["data"] == {"n": n}, (n, answer.text)


def test_served_on_the_standby_itself_with_the_active_node_paused(cluster: HACluster) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    index = _put(active.addr, "kv/local", cluster.token, {"v": "here"}).headers[INDEX]
    with paused(active):
        answer = get(standby, "kv/local", cluster.token, timeout=5, **{INDEX: index})
        assert answer.json()["data"] == {"v": "here"}
        # With forward-active-node: the state is here, so it is served here too.
        answer = get(
            standby,
            "kv/local",
            cluster.token,
            timeout=5,
            **{INDEX: index, "X-Vault-Inconsistent": "forward-active-node"},
        )
        assert answer.json()["data"] == {"v": "here"}


def test_a_forged_index_is_refused(cluster: HACluster) -> None:
    active = cluster.active()
    index = _put(active.addr, "kv/forged", cluster.token, {"v": 1}).headers[INDEX]
    version, cluster_id, xid, replicated, mac = base64.b64decode(index).decode().split(":")
    later = f"{version}:{cluster_id}:{int(xid) + 10**9}:{replicated}:{mac}"  # a future index, same HMAC
    resigned = f"{version}:{cluster_id}:{int(xid) + 10**9}:{replicated}:{'0' * 64}"
    forged = [base64.b64encode(s.encode()).decode() for s in (later, resigned)] + ["not base64!", ""]
    for node in cluster.nodes:
        for value in forged:
            answer = get(node, "kv/forged", cluster.token, **{INDEX: value})
            assert answer.status_code == 412 and answer.json() == MISSING, (node.addr, value, answer.text)
        # The genuine one, next to a forged one: refused as well.
        answer = get(node, "kv/forged", cluster.token, **{INDEX: f"{index}, {forged[0]}"})
        assert answer.status_code == 412
        assert get(node, "kv/forged", cluster.token, **{INDEX: index}).status_code == 200


def test_the_index_is_cluster_wide_across_standbys(cluster: HACluster) -> None:
    active = cluster.active()
    first, second = cluster.standbys(active)[:2]
    for n in range(20):
        index = _put(first.addr, "kv/across", cluster.token, {"n": n}).headers[INDEX]
        answer = get(second, "kv/across", cluster.token, **{INDEX: index})
        assert answer.json()["data"] == {"n": n}, (n, answer.text)
    assert expect(active.call("GET", "kv/across", token=cluster.token))["data"] == {"n": 19}


def _get_with_indexes(node: TesseraServer, path: str, token: str, indexes: list[str]) -> int:
    """A GET with each index as a header of its own (as Vault's Go client sends several)."""
    conn = http.client.HTTPConnection(node.addr.split("//")[1], timeout=10)
    try:
        conn.putrequest("GET", f"/v1/{path}")
        conn.putheader("X-Vault-Token", token)
        for index in indexes:
            conn.putheader(INDEX, index)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_every_index_header_counts(cluster: HACluster) -> None:
    active = cluster.active()
    index = _put(active.addr, "kv/many", cluster.token, {"v": 1}).headers[INDEX]
    version, cluster_id, xid, replicated, mac = base64.b64decode(index).decode().split(":")
    forged = base64.b64encode(
        f"{version}:{cluster_id}:{int(xid) + 10**9}:{replicated}:{mac}".encode()
    ).decode()
    for node in cluster.nodes:
        assert _get_with_indexes(node, "kv/many", cluster.token, [index, index]) == 200
        assert _get_with_indexes(node, "kv/many", cluster.token, [forged, index]) == 412
        assert _get_with_indexes(node, "kv/many", cluster.token, [index, forged]) == 412

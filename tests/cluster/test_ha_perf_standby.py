"""Performance standbys on PostgreSQL: three real nodes; the standbys serve reads from their own
state, kept exact by the change feed, and forward writes (read back at once where they were made).

"Served here" is proven by pausing the active node (SIGSTOP): a request a standby forwarded would
hang, one it serves itself answers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.cluster.ha_cluster import HACluster, cli, get, ha_cluster, health, paused, table_rows
from tests.helpers.http import expect
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres

BOUND = 3.0  # seconds within which a standby must see a commit of the active node


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HACluster]:
    with ha_cluster(postgres, tmp_path_factory.mktemp("perf")) as made:
        made.wait_performance_standbys(made.active())
        yield made


def _until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Wait for ``condition``; the seconds it took."""
    started = time.monotonic()
    until(condition, what, timeout, 0.002)
    return time.monotonic() - started


def test_health_leader_and_status_on_a_performance_standby(cluster: HACluster) -> None:
    active = cluster.active()
    assert "performance_standby" not in health(active)[1]
    assert expect(active.call("GET", "sys/leader", auth=False))["performance_standby"] is False
    for node in cluster.standbys(active):
        status, body = health(node)
        assert status == 473 and body["standby"] is True and body["performance_standby"] is True
        assert health(node, perfstandbyok="true")[0] == 200
        assert health(node, performancestandbycode="298")[0] == 298
        assert expect(node.call("GET", "sys/leader", auth=False))["performance_standby"] is True
    rows = table_rows(cli(cluster.standbys(active)[0].addr))
    assert rows["HA Mode"] == "standby" and rows["Performance Standby Node"] == "true"
    assert "Performance Standby Node" not in table_rows(cli(active.addr))


def test_writes_on_the_active_node_reach_the_standbys(cluster: HACluster) -> None:
    active = cluster.active()
    standbys = cluster.standbys(active)
    lags: list[float] = []
    for n in range(50):
        expect(active.call("PUT", "kv/lag", json={"n": n}, token=cluster.token), 204)
        for node in standbys:

            def seen(node: TesseraServer = node, n: int = n) -> bool:
                return bool(get(node, "kv/lag", cluster.token).json().get("data", {}).get("n") == n)

            lags.append(_until(seen, BOUND, f"write {n} on {node.addr}"))
    lags.sort()
    print(
        f"\nperf standby lag over {len(lags)} reads: p50 {statistics.median(lags) * 1000:.1f} ms, "
        f"p90 {lags[int(len(lags) * 0.9)] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms"
    )


def test_reads_are_served_on_the_standby_itself(cluster: HACluster) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    expect(active.call("PUT", "kv/here", json={"v": 1}, token=cluster.token), 204)
    _until(lambda: get(standby, "kv/here", cluster.token).status_code == 200, BOUND, "the write")
    with paused(active):
        assert get(standby, "kv/here", cluster.token, timeout=5).json()["data"] == {"v": 1}
        assert get(standby, "auth/token/lookup-self", cluster.token, timeout=5).status_code == 200
        with pytest.raises(requests.Timeout):  # asked to go to the active node: it does
            get(
                standby,
                "kv/here",
                cluster.token,
                timeout=1,
                **{"X-Vault-Inconsistent": "forward-active-node"},
            )


def test_a_write_through_a_standby_is_read_back_there_at_once(cluster: HACluster) -> None:
    standby = cluster.standbys(cluster.active())[0]
    for n in range(30):
        expect(standby.call("PUT", "kv/ryw", json={"n": n}, token=cluster.token), 204)
        assert expect(standby.call("GET", "kv/ryw", token=cluster.token))["data"] == {"n": n}


def test_a_batch_token_made_on_a_standby_works_everywhere(cluster: HACluster) -> None:
    active = cluster.active()
    standby = cluster.standbys(active)[0]
    policy = 'path "kv/*" { capabilities = ["read"] }'
    expect(
        active.call("PUT", "sys/policies/acl/batch-reader", json={"policy": policy}, token=cluster.token), 204
    )
    expect(active.call("PUT", "kv/batch", json={"v": "b"}, token=cluster.token), 204)
    made = {"type": "batch", "policies": ["batch-reader"]}
    _until(
        lambda: get(standby, "sys/policies/acl/batch-reader", cluster.token).status_code == 200,
        BOUND,
        "policy",
    )
    _until(lambda: get(standby, "kv/batch", cluster.token).status_code == 200, BOUND, "kv/batch")
    with paused(active):  # made here: the active node could not answer
        answer = requests.post(
            f"{standby.addr}/v1/auth/token/create",
            json=made,
            headers={"X-Vault-Token": cluster.token},
            timeout=5,
        )
    assert answer.status_code == 200, answer.text
    token = answer.json()["auth"]["client_token"]
    assert token.startswith("hvb.")
    for node in cluster.nodes:
        assert get(node, "kv/batch", token).json()["data"] == {"v": "b"}, node.addr
        assert get(node, "auth/token/lookup-self", token).json()["data"]["type"] == "batch"


def test_revocations_and_policy_changes_reach_the_standbys(cluster: HACluster) -> None:
    active = cluster.active()
    standbys = cluster.standbys(active)
    expect(active.call("PUT", "kv/guarded", json={"v": 1}, token=cluster.token), 204)
    allow = 'path "kv/guarded" { capabilities = ["read"] }'
    expect(active.call("PUT", "sys/policies/acl/guard", json={"policy": allow}, token=cluster.token), 204)
    created = expect(
        active.call("POST", "auth/token/create", json={"policies": ["guard"]}, token=cluster.token)
    )
    token = created["auth"]["client_token"]
    for node in standbys:  # known (and cached) on each standby first
        _until(lambda node=node: get(node, "kv/guarded", token).status_code == 200, BOUND, "the token")  # type: ignore[misc]
    deny = 'path "kv/other" { capabilities = ["read"] }'
    expect(active.call("PUT", "sys/policies/acl/guard", json={"policy": deny}, token=cluster.token), 204)
    policy_lag = [
        _until(lambda node=node: get(node, "kv/guarded", token).status_code == 403, BOUND, "the policy")  # type: ignore[misc]
        for node in standbys
    ]
    expect(active.call("PUT", "sys/policies/acl/guard", json={"policy": allow}, token=cluster.token), 204)
    for node in standbys:
        _until(lambda node=node: get(node, "kv/guarded", token).status_code == 200, BOUND, "the policy back")  # type: ignore[misc]
    expect(active.call("POST", "auth/token/revoke", json={"token": token}, token=cluster.token), 204)
    revoke_lag = [
        _until(lambda node=node: get(node, "kv/guarded", token).status_code == 403, BOUND, "the revocation")  # type: ignore[misc]
        for node in standbys
    ]
    print(
        f"\npolicy change refused on standbys after {[round(x * 1000, 1) for x in policy_lag]} ms, "
        f"revocation after {[round(x * 1000, 1) for x in revoke_lag]} ms"
    )


def test_a_dropped_feed_connection_is_caught_up(cluster: HACluster) -> None:
    active = cluster.active()
    standbys = cluster.standbys(active)
    expect(active.call("PUT", "kv/dropped", json={"n": 0}, token=cluster.token), 204)
    for node in standbys:
        _until(
            lambda node=node: get(node, "kv/dropped", cluster.token).status_code == 200, BOUND, "kv/dropped"
        )  # type: ignore[misc]
    ended = cluster.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tessera-ha-feed' "
        "AND datname = %s",
        cluster.dbname,
    )
    assert len(ended) == len(standbys)
    expect(active.call("PUT", "kv/dropped", json={"n": 1}, token=cluster.token), 204)  # perhaps missed
    for node in standbys:  # forwarding meanwhile (429), then following again (473)
        _until(lambda node=node: health(node)[0] == 473, 10, "the feed to reconnect")  # type: ignore[misc]
    for n in range(1, 4):
        if n > 1:
            expect(active.call("PUT", "kv/dropped", json={"n": n}, token=cluster.token), 204)
        for node in standbys:

            def seen(node: TesseraServer = node, n: int = n) -> bool:
                return bool(get(node, "kv/dropped", cluster.token).json().get("data", {}).get("n") == n)

            _until(seen, BOUND, f"write {n} after the feed's connection was cut")
    with paused(active):  # and served there, from the rebuilt state
        for node in standbys:
            assert get(node, "kv/dropped", cluster.token, timeout=5).json()["data"] == {"n": 3}


def test_plain_standbys_with_performance_standby_disabled(postgres: Postgres, tmp_path: Path) -> None:
    with ha_cluster(postgres, tmp_path, size=2, extra="disable_performance_standby = true\n") as cluster:
        active = cluster.active()
        standby = cluster.standbys(active)[0]
        status, body = health(standby)
        assert status == 429 and "performance_standby" not in body
        assert expect(standby.call("GET", "sys/leader", auth=False))["performance_standby"] is False
        expect(active.call("PUT", "kv/plain", json={"v": 1}, token=cluster.token), 204)
        assert get(standby, "kv/plain", cluster.token).status_code == 200
        with paused(active), pytest.raises(requests.Timeout):  # forwarded: no state of its own
            get(standby, "kv/plain", cluster.token, timeout=1)


def test_a_standby_takes_over_with_fresh_state(postgres: Postgres, tmp_path: Path) -> None:
    with ha_cluster(postgres, tmp_path) as cluster:
        active = cluster.active()
        standbys = cluster.standbys(active)
        for node in standbys:
            _until(lambda node=node: health(node)[0] == 473, 15, "performance standbys")  # type: ignore[misc]
        for n in range(20):
            expect(active.call("PUT", f"kv/k{n}", json={"n": n}, token=cluster.token), 204)
        for node in standbys:  # read (and cached) there
            _until(lambda node=node: get(node, "kv/k19", cluster.token).status_code == 200, BOUND, "kv/k19")  # type: ignore[misc]
        expect(active.call("PUT", "kv/k0", json={"n": "last"}, token=cluster.token), 204)
        active.kill()
        successor = cluster.active(among=standbys, timeout=15)
        other = next(node for node in standbys if node is not successor)
        assert get(successor, "kv/k0", cluster.token).json()["data"] == {"n": "last"}
        expect(successor.call("PUT", "kv/k1", json={"n": "new"}, token=cluster.token), 204)
        _until(lambda: health(other)[0] == 473, 15, "the other standby to follow the new active node")
        _until(
            lambda: get(other, "kv/k1", cluster.token).json().get("data") == {"n": "new"}, BOUND + 5, "kv/k1"
        )
        assert get(other, "kv/k0", cluster.token).json()["data"] == {"n": "last"}
        with paused(successor):  # served by the remaining standby itself
            assert get(other, "kv/k5", cluster.token, timeout=5).json()["data"] == {"n": 5}


def test_revoked_batch_tokens_and_cut_issuers_are_refused_on_every_node(cluster: HACluster) -> None:
    """Issue 23 on HA: the deny-list and issuer epochs follow the feed; the standbys refuse on
    their own (the active node paused), while other tokens and fresh ones work there."""
    active = cluster.active()
    standbys = cluster.standbys(active)
    allow = 'path "kv/*" { capabilities = ["read"] }'
    expect(active.call("PUT", "sys/policies/acl/leak", json={"policy": allow}, token=cluster.token), 204)
    expect(active.call("PUT", "kv/leak", json={"v": 1}, token=cluster.token), 204)
    made = {"type": "batch", "policies": ["leak"], "no_parent": True}

    def mint() -> str:
        answer = active.call("POST", "auth/token/create", json=made, token=cluster.token)
        return str(expect(answer)["auth"]["client_token"])

    leaked, kept = mint(), mint()
    for node in standbys:
        _until(lambda node=node: get(node, "kv/leak", leaked).status_code == 200, BOUND, "the policy")  # type: ignore[misc]
    expect(active.call("POST", "auth/token/revoke-batch", json={"token": leaked}, token=cluster.token), 204)
    for node in standbys:
        _until(lambda node=node: get(node, "kv/leak", leaked).status_code == 403, BOUND, "the deny-list")  # type: ignore[misc]
    with paused(active):  # refused and served by the standbys themselves
        for node in standbys:
            assert get(node, "kv/leak", leaked, timeout=3).status_code == 403
            assert get(node, "kv/leak", kept, timeout=3).status_code == 200
    expect(active.call("POST", "sys/token-issuers/auth/token/create/bump", token=cluster.token))
    fresh = mint()
    for node in standbys:
        _until(lambda node=node: get(node, "kv/leak", kept).status_code == 403, BOUND, "the cut")  # type: ignore[misc]
        _until(lambda node=node: get(node, "kv/leak", fresh).status_code == 200, BOUND, "a fresh token")  # type: ignore[misc]

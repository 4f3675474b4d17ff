"""Two HA nodes in one process on PostgreSQL: what the election does to each core, and fencing
when the old leader has not noticed yet that it lost the lock (deterministic: its election
looks only every 60 s, unless a refused write wakes it)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tessera.cluster.cluster_tls import make_ca
from tessera.cluster.ha import HANode
from tessera.cluster.ha.node_tls import CA_KEY
from tessera.core.config import CoreConfig
from tessera.core.core import Core
from tessera.framework import Operation, Request
from tessera.storage.pg_fencing import Fenced
from tessera.storage.postgresql import PostgreSQLPhysical
from tessera.storage.sqlite_reader import StandbyWrite
from tests.helpers.postgres import Postgres
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres
SLOW = 60.0  # an election that would not notice anything during the test by itself
FAST = 0.1


def _node(dsn: str, number: int, interval: float) -> tuple[Core, HANode]:
    physical = PostgreSQLPhysical({"connection_url": dsn, "ha_enabled": "true"})
    core = Core(physical, CoreConfig(storage_type="postgresql", api_addr=f"http://127.0.0.1:{9000 + number}"))
    return core, HANode(core, physical, core.config.api_addr, "", interval=interval)


@pytest.fixture
def database(postgres: Postgres) -> Iterator[tuple[str, str]]:
    with postgres.fresh_database("ha_nodes") as made:
        yield made


@pytest.fixture
def pair(database: tuple[str, str]) -> Iterator[tuple[Core, HANode, Core, HANode]]:
    dsn = database[1]
    first, first_node = _node(dsn, 1, FAST)
    second, second_node = _node(dsn, 2, FAST)
    try:
        keys = first.initialize(1, 1)["keys"]
        first.unseal(keys[0])
        until(lambda: first_node.active, "the first node to become active")
        second.unseal(keys[0])
        yield first, first_node, second, second_node
    finally:
        for core, node in ((first, first_node), (second, second_node)):
            node.close()
            core.shutdown()


def _cut_lock_connection(postgres: Postgres, database: tuple[str, str], node: HANode) -> None:
    """End ``node``'s lock session from PostgreSQL once its election stopped checking it by itself."""
    node._election.interval = SLOW  # type: ignore[union-attr]
    node._election.check_now()  # type: ignore[union-attr]
    time.sleep(3 * FAST)
    assert postgres.terminate(database[0], f"tessera-ha-{node.info.node_id}") == 1


def test_one_active_node_and_a_standby_without_state(
    pair: tuple[Core, HANode, Core, HANode],
) -> None:
    first, first_node, second, second_node = pair
    time.sleep(3 * FAST)
    assert first_node.active and not second_node.active
    assert first.tokens is not None and first._ticker is not None
    assert second.tokens is None and second._ticker is None  # a standby builds nothing, expires nothing
    assert not second.sealed and second.cluster_id == first.cluster_id
    leader = second_node.leader()
    assert leader is not None and leader.api_addr == "http://127.0.0.1:9001"


def test_sealing_the_active_node_hands_over(pair: tuple[Core, HANode, Core, HANode]) -> None:
    first, first_node, second, second_node = pair
    first.seal()
    until(lambda: second_node.active)
    assert not first_node.active and not first_node.joined
    assert second.tokens is not None
    second.barrier.put("test/after", b"x")


def test_an_old_leader_that_has_not_noticed_writes_nothing(
    pair: tuple[Core, HANode, Core, HANode], postgres: Postgres, database: tuple[str, str]
) -> None:
    first, first_node, second, second_node = pair
    first.barrier.put("test/before", b"x")
    _cut_lock_connection(postgres, database, first_node)
    until(lambda: second_node.active)
    assert first_node.active  # not noticed yet: its election sleeps
    with pytest.raises(Fenced):
        first.barrier.put("test/late", b"x")
    until(lambda: not first_node.active, timeout=5)  # the refused write woke its election
    assert second.barrier.get("test/late") is None
    assert second.barrier.get("test/before") == b"x"
    until(lambda: first.tokens is None, timeout=5)  # its active-only state goes next


def test_a_fenced_write_is_handed_over_and_the_node_stops_serving_at_once(
    pair: tuple[Core, HANode, Core, HANode], postgres: Postgres, database: tuple[str, str]
) -> None:
    """Fenced is a StandbyWrite: the HTTP layer hands the request to the active node (as a
    standby's write), where an ``except Exception`` could have answered it; and the node forwards
    the requests after it without waiting for its election's next round."""
    first, first_node, _, second_node = pair
    _cut_lock_connection(postgres, database, first_node)
    until(lambda: second_node.active)
    assert first_node.active
    with pytest.raises(StandbyWrite):
        first.barrier.put("test/late", b"x")
    assert not first_node.active


def test_a_request_on_the_old_leader_fails_without_writing(
    pair: tuple[Core, HANode, Core, HANode], postgres: Postgres, database: tuple[str, str]
) -> None:
    """Through the whole pipeline: a KV write on the old leader is an error, and nothing is stored."""
    first, first_node, second, second_node = pair
    root = first.create_root_token()
    mount = Request(operation=Operation.UPDATE, path="sys/mounts/kv", data={"type": "kv"}, client_token=root)
    first.handle_request(mount)
    _cut_lock_connection(postgres, database, first_node)
    until(lambda: second_node.active)
    put = Request(operation=Operation.UPDATE, path="kv/late", data={"v": 1}, client_token=root)
    with pytest.raises(Fenced):
        first.handle_request(put)
    read = Request(operation=Operation.READ, path="kv/late", client_token=root)
    assert second.handle_request(read) is None


def test_a_standby_that_takes_over_after_a_key_rotation_reads_the_new_terms(
    pair: tuple[Core, HANode, Core, HANode],
) -> None:
    first, _, second, second_node = pair
    first.barrier.rotate()  # sys/rotate on the active node: the standby's keyring is older
    first.barrier.put("test/new-term", b"secret")
    ca = make_ca("", time.time())
    first.barrier.put_json(CA_KEY, ca.stored())
    mine = second_node.tls.material()  # a standby reads the CA across it, and signs with it
    assert mine is not None and mine.ca == ca.cert
    first.seal()
    until(lambda: second_node.active)
    assert second.barrier.get("test/new-term") == b"secret"
    assert second.tokens is not None

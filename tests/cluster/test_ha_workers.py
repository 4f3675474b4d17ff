"""Two HA nodes on PostgreSQL, each with ``workers = 2``: four processes that serve one cluster.

Each node's worker listens on an address of its own (``TESSERA_WORKER_LISTEN``): a write through
any process is read at once on every other, and killing the active node's main process (kill -9)
under write load takes its worker with it, while the standby takes over with every acknowledged
write in place.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cluster.ha_cluster import HACluster, WriteLoad, ha_cluster
from tests.helpers.http import call
from tests.helpers.postgres import Postgres
from tests.helpers.servers import free_port
from tests.helpers.workers import process_state, worker_pids

pytestmark = pytest.mark.postgres

TAKEOVER_LIMIT = 10.0


@contextmanager
def _cluster(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[HACluster, dict[str, str]]]:
    """The cluster, and each node's worker address by the node's address."""
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    with ha_cluster(
        postgres, tmp_path, size=2, extra="workers = 2\n", env=lambda n: {"TESSERA_WORKER_LISTEN": workers[n]}
    ) as cluster:
        addrs = {node.addr: "http://" + worker for node, worker in zip(cluster.nodes, workers, strict=True)}
        for worker in addrs.values():
            _wait_for(lambda: _health(worker) in (200, 429, 473), 30, f"the worker {worker}")  # noqa: B023
        yield cluster, addrs


def _everywhere(cluster: HACluster, workers: dict[str, str]) -> list[str]:
    return [addr for node in cluster.nodes for addr in (node.addr, workers[node.addr])]


def _get(addr: str, path: str, token: str, **kw: object) -> tuple[int, object]:
    status, body, _ = call(addr, "GET", path, token=token, **kw)
    return status, body


def test_a_write_through_any_process_is_read_at_once_on_all(postgres: Postgres, tmp_path: Path) -> None:
    with _cluster(postgres, tmp_path) as (cluster, workers):
        addrs = _everywhere(cluster, workers)
        token = cluster.token
        for n in range(12):
            writer = addrs[n % len(addrs)]
            status, body, _ = call(writer, "PUT", f"kv/any-{n}", token=token, json={"n": n})
            assert status == 204, (writer, status, body)
            for reader in addrs:
                status, out = _get(reader, f"kv/any-{n}", token)
                assert status == 200 and out["data"] == {"n": n}, (writer, reader, status, out)  # type: ignore[index]
        standby = cluster.standbys(cluster.active())[0]
        assert standby.process is not None
        os.kill(standby.process.pid, signal.SIGSTOP)  # its worker reads the database itself
        try:
            status, out = _get(workers[standby.addr], "kv/any-11", token)
            assert status == 200 and out["data"] == {"n": 11}, out  # type: ignore[index]
        finally:
            os.kill(standby.process.pid, signal.SIGCONT)


def test_the_index_of_a_write_through_a_worker_is_honoured_everywhere(
    postgres: Postgres, tmp_path: Path
) -> None:
    """The answer to a write through a worker carries the active node's ``X-Vault-Index``; a
    request presenting it is served after that write on every process (a forged one: 412)."""
    with _cluster(postgres, tmp_path) as (cluster, workers):
        active = cluster.active()
        standby = cluster.standbys(active)[0]
        token = cluster.token
        for source in (workers[standby.addr], workers[active.addr]):
            status, _, headers = call(source, "PUT", "kv/indexed", token=token, json={"from": source})
            assert status == 204
            index = headers.get("X-Vault-Index")
            assert index, headers
            for reader in _everywhere(cluster, workers):
                status, out = _get(reader, "kv/indexed", token, headers={"X-Vault-Index": index})
                assert status == 200 and out["data"] == {"from": source}, (reader, status, out)  # type: ignore[index]
        for reader in (workers[standby.addr], workers[active.addr]):
            assert _get(reader, "kv/indexed", token, headers={"X-Vault-Index": "Zm9yZ2Vk"})[0] == 412


def test_kill_the_active_main_process_under_write_load(postgres: Postgres, tmp_path: Path) -> None:
    with _cluster(postgres, tmp_path) as (cluster, workers):
        active = cluster.active()
        standby = cluster.standbys(active)[0]
        doomed = worker_pids(active)
        assert len(doomed) == 1, doomed
        addrs = [standby.addr, workers[standby.addr], workers[active.addr]]
        with WriteLoad(addrs, cluster.token, writers=3) as load:
            _wait_for(lambda: len(load.acknowledged) >= 60, 30, "writes before the kill")
            started = time.monotonic()
            assert active.process is not None
            os.kill(active.process.pid, signal.SIGKILL)  # the main process alone: not its group
            assert cluster.active(among=[standby], timeout=TAKEOVER_LIMIT + 5) is standby
            takeover = time.monotonic() - started
            _wait_for(lambda: process_state(doomed[0]) == "Z", 15, "the killed node's worker to exit")
            at_takeover = len(load.acknowledged)
            _wait_for(lambda: len(load.acknowledged) >= at_takeover + 60, 30, "writes after the takeover")
        print(
            f"\nHA takeover after kill -9 of the active main process (workers = 2): {takeover:.3f} s; "
            f"writes acknowledged {len(load.acknowledged)}, failed {load.failed}"
        )
        assert takeover < TAKEOVER_LIMIT
        for reader in (standby.addr, workers[standby.addr]):
            missing = set(load.acknowledged) - _stored(reader, cluster.token)
            assert not missing, f"{reader}: {len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"


def _health(addr: str) -> int:
    """The status of ``sys/health`` (a standby's main process answers it: 429 or 473); 0 when
    nothing answers yet."""
    try:
        return call(addr, "GET", "sys/health")[0]
    except OSError:
        return 0


def _stored(addr: str, token: str) -> set[str]:
    status, body, _ = call(addr, "LIST", "kv/", token=token)
    assert status == 200, (status, body)
    return set(body["data"]["keys"])


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)

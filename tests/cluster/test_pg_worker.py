"""Worker processes on PostgreSQL without HA (``workers = 2``, ``cluster/pg_worker.py``).

Every test acts on one process and checks the other at once, with no sleep: a worker that
answered from a stale cache (a revoked token, an old policy) fails here. The worker listens on an
address of its own (``TESSERA_WORKER_LISTEN``) so that each request goes where the test means.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.ha_cluster import WriteLoad
from tests.helpers.postgres import Postgres, ThrowawayCluster
from tests.helpers.workers import Pair, process_state, running_pair

pytestmark = pytest.mark.postgres

FEED_APPLICATION = "tessera-ha-feed"  # the feed connection's application_name (cluster/ha/feed.py)


@pytest.fixture(scope="module")
def database(postgres: Postgres) -> Iterator[tuple[Postgres, str, str]]:
    name = "pgw_" + uuid.uuid4().hex[:12]
    dsn = postgres.create_database(name)
    try:
        yield postgres, name, dsn
    finally:
        postgres.drop_database(name)


@pytest.fixture(scope="module")
def pair(database: tuple[Postgres, str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("pgworkers"), database[2]) as p:
        assert p.on("active", "POST", "sys/mounts/kv", json={"type": "kv"})[0] == 204
        yield p


def _token(p: Pair, where: str = "active", **body: Any) -> str:
    status, out = p.on(where, "POST", "auth/token/create", json=body)
    assert status == 200, out
    return str(out["auth"]["client_token"])


def test_writes_through_either_process_are_read_at_once_on_both(pair: Pair) -> None:
    for n in range(20):
        writer, other = ("worker", "active") if n % 2 else ("active", "worker")
        assert pair.on(writer, "PUT", f"kv/ryw-{n}", json={"n": n})[0] == 204
        for where in (writer, other):
            status, out = pair.on(where, "GET", f"kv/ryw-{n}")
            assert status == 200 and out["data"] == {"n": n}, (where, status, out)
        assert pair.on(other, "DELETE", f"kv/ryw-{n}")[0] == 204
        assert pair.on(writer, "GET", f"kv/ryw-{n}")[0] == 404


def test_the_worker_serves_reads_and_batch_tokens_itself(pair: Pair) -> None:
    """With the main process stopped, the worker still reads the database and mints tokens."""
    assert pair.on("active", "PUT", "kv/alone", json={"v": 1})[0] == 204
    parent = _token(pair, policies=["default"])
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=parent)[0] == 200
    assert pair.server.process is not None
    os.kill(pair.server.process.pid, signal.SIGSTOP)
    try:
        status, out = pair.on("worker", "GET", "kv/alone")
        assert status == 200 and out["data"] == {"v": 1}
        batch = _token(pair, "worker", type="batch", policies=["default"])
        assert pair.on("worker", "GET", "auth/token/lookup-self", token=batch)[0] == 200
    finally:
        os.kill(pair.server.process.pid, signal.SIGCONT)
    assert pair.on("active", "GET", "auth/token/lookup-self", token=batch)[0] == 200


def test_batch_tokens_work_on_the_process_that_did_not_mint_them(pair: Pair) -> None:
    for minter, checker in (("worker", "active"), ("active", "worker")):
        batch = _token(pair, minter, type="batch", policies=["default"])
        status, out = pair.on(checker, "GET", "auth/token/lookup-self", token=batch)
        assert status == 200 and out["data"]["type"] == "batch", (minter, out)


def _refused_after(pair: Pair, change: Any, token: str, path: str) -> float:
    """Seconds from ``change``'s answer to the worker's refusal of ``token`` on ``path`` (its
    first request after the change must be refused: the lag is that request's own time)."""
    change()
    started = time.monotonic()
    status, out = pair.on("worker", "GET", path, token=token)
    lag = time.monotonic() - started
    assert status == 403, (status, out)
    return lag


def test_a_revoked_token_and_a_changed_policy_are_refused_by_the_worker_at_once(pair: Pair) -> None:
    assert pair.on("active", "PUT", "kv/guarded", json={"v": 1})[0] == 204
    policy = 'path "kv/guarded" { capabilities = ["read"] }'
    assert pair.on("active", "PUT", "sys/policies/acl/reader", json={"policy": policy})[0] == 204
    token = _token(pair, policies=["reader"])
    batch = _token(pair, type="batch", policies=["reader"])
    for t in (token, batch):
        assert pair.on("worker", "GET", "kv/guarded", token=t)[0] == 200  # cached on the worker now

    def narrow() -> None:
        body = {"policy": 'path "kv/other" { capabilities = ["read"] }'}
        assert pair.on("active", "PUT", "sys/policies/acl/reader", json=body)[0] == 204

    policy_lag = _refused_after(pair, narrow, batch, "kv/guarded")

    def revoke() -> None:
        assert pair.on("active", "POST", "auth/token/revoke", json={"token": token})[0] == 204

    revoke_lag = _refused_after(pair, revoke, token, "auth/token/lookup-self")
    print(
        f"\nworker's first request after the change: policy {policy_lag * 1000:.1f} ms, revoke {revoke_lag * 1000:.1f} ms"
    )


def test_the_worker_follows_a_broken_feed_without_serving_stale_reads(
    pair: Pair, database: tuple[Postgres, str, str]
) -> None:
    """Its feed connection ended by the server: what was written meanwhile is read at once."""
    postgres, name, _ = database
    for n in range(5):
        deadline = time.monotonic() + 10
        while not _end_feed_connections(postgres, name):  # the feed reconnects after 0.5 s
            assert time.monotonic() < deadline, "no feed connection to end"
            time.sleep(0.05)
        assert pair.on("active", "PUT", "kv/cut", json={"n": n})[0] == 204
        status, out = pair.on("worker", "GET", "kv/cut")
        assert status == 200 and out["data"] == {"n": n}, out


def _end_feed_connections(postgres: Postgres, name: str) -> int:
    with postgres.connect(dbname=name) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (FEED_APPLICATION,),
        ).fetchall()
    return len(rows)


def test_the_worker_exits_when_the_main_process_is_killed(
    database: tuple[Postgres, str, str], tmp_path: Path
) -> None:
    postgres, _, _ = database
    name = "pgw_" + uuid.uuid4().hex[:12]
    dsn = postgres.create_database(name)
    try:
        with running_pair(tmp_path, dsn) as p:
            worker = p.worker_pid()
            assert p.server.process is not None
            os.kill(p.server.process.pid, signal.SIGKILL)
            deadline = time.monotonic() + 15
            while process_state(worker) != "Z":
                assert time.monotonic() < deadline, "the worker outlived its main process"
                time.sleep(0.1)
    finally:
        postgres.drop_database(name)


def test_status_and_banner_show_the_workers(pair: Pair) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["VAULT_ADDR"] = pair.active
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    rows = dict(
        line.split(None, 1) for line in out.stdout.splitlines() if line.startswith(("Workers", "Storage"))
    )
    assert rows["Workers"].strip() == "2", out.stdout
    assert "Workers: 2" in pair.server.output()
    assert pair.on("worker", "GET", "sys/seal-status")[1]["tessera_workers"] == 2


def test_a_database_restart_under_write_load_loses_nothing_and_leaves_no_stale_worker(
    own_postgres: tuple[ThrowawayCluster, Postgres], tmp_path: Path
) -> None:
    """Writes through both processes while PostgreSQL restarts: every acknowledged one is read
    afterwards on both, and a write after the restart is read at once on the worker (its feed
    reconnected with a gap, and it rebuilt rather than trust what it had)."""
    cluster, postgres = own_postgres
    dsn = postgres.create_database("pgw_restart")
    with running_pair(tmp_path, dsn) as p:
        assert p.on("active", "POST", "sys/mounts/kv", json={"type": "kv"})[0] == 204
        with WriteLoad([p.active, p.worker], p.root) as load:
            _wait(lambda: len(load.acknowledged) >= 40, "writes before the restart")
            cluster.stop_server("fast")
            cluster.start_server()
            at_restart = len(load.acknowledged)
            _wait(lambda: len(load.acknowledged) >= at_restart + 40, "writes after the restart")
        print(f"\nacknowledged {len(load.acknowledged)}, failed {load.failed} across the restart")
        for where in ("active", "worker"):
            status, out = p.on(where, "LIST", "kv/")
            assert status == 200, out
            missing = set(load.acknowledged) - set(out["data"]["keys"])
            assert not missing, f"{where}: {len(missing)} acknowledged writes missing"
        for n in range(5):
            assert p.on("active", "PUT", "kv/after", json={"n": n})[0] == 204
            assert p.on("worker", "GET", "kv/after")[1]["data"] == {"n": n}


def _wait(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_an_audit_device_makes_the_worker_hand_every_request_over(pair: Pair, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    body = {"type": "file", "options": {"file_path": str(log)}}
    assert pair.on("active", "PUT", "sys/audit/file", json=body)[0] == 204
    try:
        assert pair.on("worker", "GET", "kv/audited")[0] == 404
        assert "kv/audited" in log.read_text()  # the main process served it, and audited it
    finally:
        assert pair.on("active", "DELETE", "sys/audit/file")[0] == 204


def test_a_seal_reaches_the_worker_and_an_unseal_brings_it_back(pair: Pair) -> None:
    assert pair.on("active", "PUT", "sys/seal")[0] == 204
    status, out = pair.on(
        "worker", "POST", "auth/token/create", json={"type": "batch", "policies": ["default"]}
    )
    assert status == 503 and out["errors"] == ["Vault is sealed"]
    pair.server.unseal()
    assert pair.on("worker", "GET", "auth/token/lookup-self")[0] == 200

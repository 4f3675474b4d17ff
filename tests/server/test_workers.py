"""Worker processes (``workers = 2``): a second process serves from the same SQLite file.

Every test acts on one process and checks the other at once, with no sleep: a worker that
answered from a stale cache (a revoked token, an old policy, a sealed server's keys) fails here.
The worker listens on an address of its own (``TESSERA_WORKER_LISTEN``) so that each request goes
where the test means it to.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http import call
from tests.helpers.workers import Pair, process_state, running_pair, start_pair, wait_worker


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("workers")) as p:
        yield p


def _token(p: Pair, where: str = "active", **body: Any) -> str:
    status, out = p.on(where, "POST", "auth/token/create", json=body)
    assert status == 200, out
    return str(out["auth"]["client_token"])


def test_batch_tokens_are_made_by_the_worker_alone(pair: Pair) -> None:
    """With the active process stopped, the worker still creates and checks batch tokens."""
    parent = _token(pair, policies=["default"])
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=parent)[0] == 200  # warm the caches
    assert pair.server.process is not None
    os.kill(pair.server.process.pid, signal.SIGSTOP)
    try:
        batch = _token(pair, "worker", type="batch", policies=["default"])
        assert batch.startswith("hvb.")
        status, out = pair.on("worker", "GET", "auth/token/lookup-self", token=batch)
        assert status == 200 and out["data"]["type"] == "batch"
    finally:
        os.kill(pair.server.process.pid, signal.SIGCONT)
    assert pair.on("active", "GET", "auth/token/lookup-self", token=batch)[0] == 200


def test_writes_on_the_worker_are_made_by_the_active_process(pair: Pair) -> None:
    service = _token(pair, "worker", policies=["default"])
    assert service.startswith("hvs.")
    status, out = pair.on("active", "GET", "auth/token/lookup-self", token=service)
    assert status == 200 and out["data"]["policies"] == ["default"]
    assert pair.on("worker", "POST", "secret-w/a", json={"v": 1})[0] in (404, 400)  # no such mount yet
    assert pair.on("active", "POST", "sys/mounts/secret-w", json={"type": "kv"})[0] == 204
    assert pair.on("worker", "POST", "secret-w/a", json={"v": 1})[0] == 204
    status, out = pair.on("active", "GET", "secret-w/a")
    assert status == 200 and out["data"] == {"v": 1}


def test_a_revocation_reaches_the_worker_before_its_answer(pair: Pair) -> None:
    for _ in range(5):
        token = _token(pair, policies=["default"])
        assert pair.on("worker", "GET", "auth/token/lookup-self", token=token)[0] == 200
        assert pair.on("active", "POST", "auth/token/revoke", json={"token": token})[0] == 204
        assert pair.on("worker", "GET", "auth/token/lookup-self", token=token)[0] == 403


def test_a_batch_token_dies_with_its_parent_on_the_worker(pair: Pair) -> None:
    creator = 'path "auth/token/create" { capabilities = ["update"] }'
    assert pair.on("active", "PUT", "sys/policies/acl/creator", json={"policy": creator})[0] == 204
    parent = _token(pair, policies=["creator"])
    status, out = pair.on("worker", "POST", "auth/token/create", token=parent, json={"type": "batch"})
    assert status == 200, out
    batch = out["auth"]["client_token"]
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=batch)[0] == 200
    assert pair.on("active", "POST", "auth/token/revoke", json={"token": parent})[0] == 204
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=batch)[0] == 403


def test_policy_and_mount_changes_reach_the_worker(pair: Pair) -> None:
    assert pair.on("active", "POST", "sys/mounts/kv-p", json={"type": "kv"})[0] == 204
    assert pair.on("active", "POST", "kv-p/x", json={"v": "1"})[0] == 204
    allow = 'path "kv-p/*" { capabilities = ["read"] }'
    assert pair.on("active", "PUT", "sys/policies/acl/reader", json={"policy": allow})[0] == 204
    token = _token(pair, policies=["reader"])
    status, out = pair.on("worker", "GET", "kv-p/x", token=token)
    assert status == 200 and out["data"] == {"v": "1"}
    deny = 'path "kv-p/*" { capabilities = ["deny"] }'
    assert pair.on("active", "PUT", "sys/policies/acl/reader", json={"policy": deny})[0] == 204
    assert pair.on("worker", "GET", "kv-p/x", token=token)[0] == 403
    assert pair.on("active", "POST", "kv-p/x", json={"v": "2"})[0] == 204
    assert pair.on("worker", "GET", "kv-p/x")[1]["data"] == {"v": "2"}
    assert pair.on("active", "DELETE", "sys/mounts/kv-p")[0] == 204
    assert pair.on("worker", "GET", "kv-p/x")[0] == 404


def test_transit_rotation_reaches_the_worker(pair: Pair) -> None:
    assert pair.on("active", "POST", "sys/mounts/transit", json={"type": "transit"})[0] == 204
    assert pair.on("active", "POST", "transit/keys/k")[0] in (200, 204)
    body = {"plaintext": "aGVsbG8="}
    status, out = pair.on("worker", "POST", "transit/encrypt/k", json=body)
    assert status == 200 and out["data"]["ciphertext"].startswith("vault:v1:")
    assert pair.on("active", "POST", "transit/keys/k/rotate")[0] in (200, 204)
    status, out = pair.on("worker", "POST", "transit/encrypt/k", json=body)
    assert status == 200 and out["data"]["ciphertext"].startswith("vault:v2:")
    status, out = pair.on(
        "active", "POST", "transit/decrypt/k", json={"ciphertext": out["data"]["ciphertext"]}
    )
    assert status == 200 and out["data"]["plaintext"] == "aGVsbG8="


def test_limited_use_tokens_are_spent_once_across_processes(pair: Pair) -> None:
    token = _token(pair, policies=["default"], num_uses=3)
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=token)[0] == 200
    assert pair.on("active", "GET", "auth/token/lookup-self", token=token)[0] == 200
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=token)[0] == 200
    assert pair.on("worker", "GET", "auth/token/lookup-self", token=token)[0] == 403
    assert pair.on("active", "GET", "auth/token/lookup-self", token=token)[0] == 403


def test_a_key_rotation_reaches_the_worker(pair: Pair) -> None:
    assert pair.on("active", "POST", "sys/rotate")[0] == 204
    assert pair.on("active", "POST", "sys/mounts/kv-r", json={"type": "kv"})[0] == 204
    assert pair.on("active", "POST", "kv-r/after", json={"v": "rotated"})[0] == 204
    assert pair.on("worker", "GET", "kv-r/after")[1]["data"] == {"v": "rotated"}
    batch = _token(pair, "worker", type="batch", policies=["default"])
    status, out = pair.on("active", "GET", "auth/token/lookup-self", token=batch)
    assert status == 200 and out["data"]["type"] == "batch"


def test_approle_batch_login_on_the_worker(pair: Pair) -> None:
    assert pair.on("active", "POST", "sys/auth/approle", json={"type": "approle"})[0] == 204
    role = {"token_type": "batch", "token_policies": ["default"], "secret_id_bound_cidrs": ["127.0.0.1/32"]}
    assert pair.on("active", "POST", "auth/approle/role/r", json=role)[0] == 204
    role_id = pair.on("active", "GET", "auth/approle/role/r/role-id")[1]["data"]["role_id"]
    secret_id = pair.on("active", "POST", "auth/approle/role/r/secret-id")[1]["data"]["secret_id"]
    login = {"role_id": role_id, "secret_id": secret_id}
    for _ in range(3):
        status, out = pair.on("worker", "POST", "auth/approle/login", json=login)
        assert status == 200 and out["auth"]["client_token"].startswith("hvb."), out
    # A spoofed client address on the public listener changes nothing.
    spoof = {"X-Tessera-Forward": "guess", "X-Tessera-Client": "10.9.9.9"}
    assert pair.on("worker", "POST", "auth/approle/login", json=login, headers=spoof)[0] == 200
    assert pair.on("active", "POST", "auth/approle/login", json=login, headers=spoof)[0] == 200
    assert pair.on("active", "POST", "auth/approle/role/r", json={**role, "token_type": "service"})[0] == 204
    status, out = pair.on("worker", "POST", "auth/approle/login", json=login)
    assert status == 200 and out["auth"]["client_token"].startswith("hvs.")
    assert pair.on("active", "GET", "auth/token/lookup-self", token=out["auth"]["client_token"])[0] == 200


def test_audit_devices_make_the_worker_hand_everything_over(pair: Pair, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    assert (
        pair.on("active", "PUT", "sys/audit/file", json={"type": "file", "options": {"file_path": str(log)}})[
            0
        ]
        == 204
    )
    try:
        batch = _token(pair, "worker", type="batch", policies=["default"], display_name="audited")
        assert batch.startswith("hvb.")
        assert "auth/token/create" in log.read_text()
    finally:
        assert pair.on("active", "DELETE", "sys/audit/file")[0] == 204


def test_a_seal_reaches_the_worker_and_an_unseal_brings_it_back(pair: Pair) -> None:
    assert pair.on("active", "PUT", "sys/seal")[0] == 204
    status, out = pair.on(
        "worker", "POST", "auth/token/create", json={"type": "batch", "policies": ["default"]}
    )
    assert status == 503 and out["errors"] == ["Vault is sealed"]
    pair.server.unseal()
    # At once: through the active process until the worker has the new keyring, then by itself.
    for _ in range(20):
        status, out = pair.on(
            "worker", "POST", "auth/token/create", json={"type": "batch", "policies": ["default"]}
        )
        assert status == 200, out
        assert pair.on("active", "GET", "auth/token/lookup-self", token=out["auth"]["client_token"])[0] == 200


def test_the_worker_leaves_with_the_active_process(tmp_path: Path) -> None:
    p = start_pair(tmp_path, TESSERA_SCHED_BATCH="0")
    server = p.server
    try:
        _wait_worker_any(p.worker)
        pid = p.worker_pid()
        assert _policies(pid) == {os.SCHED_OTHER}  # TESSERA_SCHED_BATCH=0 keeps the default
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and process_state(pid) != "Z":
            assert time.monotonic() < deadline, "the worker outlived the active process"
            time.sleep(0.1)
    finally:
        server.cleanup()


def _wait_worker_any(addr: str, timeout: float = 30.0) -> None:
    """Until the worker answers at all (a sealed server's health is 503)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call(addr, "GET", "sys/health")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'storage "inmem" {}\nworkers = 2\n',
            '^workers = 2 needs storage "sqlite" or "postgresql" \\(worker processes share its data\\)$',
        ),
        ('storage "sqlite" { path = "x.db" }\nworkers = 0\n', "between 1 and 64"),
        ('storage "sqlite" { path = "x.db" }\nworkers = "many"\n', "whole number"),
    ],
)
def test_worker_settings_are_checked(text: str, message: str) -> None:
    from tessera.server.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config(text + 'listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n')


def test_a_worker_that_dies_is_started_again_with_the_keyring(tmp_path: Path) -> None:
    p = start_pair(tmp_path)
    server = p.server
    try:
        server.init()
        server.unseal()
        wait_worker(p.worker)
        first = p.worker_pid()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if p.worker_pid() != first:
                    break
            except (AssertionError, OSError):
                pass
            assert time.monotonic() < deadline, "no new worker"
            time.sleep(0.2)
        wait_worker(p.worker)
        body = {"type": "batch", "policies": ["default"]}
        assert p.on("worker", "POST", "auth/token/create", json=body)[0] == 200
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)  # the new worker holds the keyring itself
        try:
            status, out = p.on("worker", "POST", "auth/token/create", json=body)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert status == 200 and out["auth"]["client_token"].startswith("hvb."), out
    finally:
        server.cleanup()


def test_the_internal_listener_serves_only_forwarded_requests(pair: Pair) -> None:
    """Plain HTTP on loopback: without the workers' secret it answers nothing, so it cannot be a
    way around the public listener's TLS or client certificates."""
    text = pair.server.log_path.read_text()
    internal = "http://" + text.split("forwarded requests arrive on ", 1)[1].split()[0]
    status, out, _ = call(internal, "GET", "auth/token/lookup-self", token=pair.root)
    assert status == 403 and out == {"errors": ["permission denied"]}
    spoof = {"X-Tessera-Forward": "0" * 64, "X-Tessera-Client": "10.0.0.1"}
    status, _, _ = call(internal, "GET", "auth/token/lookup-self", token=pair.root, headers=spoof)
    assert status == 403


def _policies(pid: int) -> set[int]:
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def _prompt_threads(pid: int) -> int:
    return sum(os.sched_getscheduler(int(t)) == os.SCHED_OTHER for t in os.listdir(f"/proc/{pid}/task"))


def test_worker_mode_runs_its_threads_under_batch_scheduling(pair: Pair) -> None:
    """Wake-ups do not preempt a request in the middle (runtime/scheduling.py says what it measured),
    except those that send answers: the active's SQLite committer and a worker's relay."""
    assert pair.server.process is not None
    assert os.SCHED_BATCH in _policies(pair.server.process.pid)
    assert _prompt_threads(pair.server.process.pid) == 1  # the committer
    _token(pair, "worker", policies=["default"])  # a write: the worker's relay thread starts
    worker = pair.worker_pid()
    assert os.SCHED_BATCH in _policies(worker)
    assert _prompt_threads(worker) == 1  # the relay


def test_the_change_log_is_trimmed_once_the_worker_has_seen_it(pair: Pair) -> None:
    """The active process drops log rows every worker reports as applied, long before KEEP."""
    import sqlite3

    from tessera.storage import changefeed

    assert pair.server.config is not None
    db = pair.server.config.parent / "t.db"
    writes = 3 * changefeed.PRUNE_EVERY
    assert pair.on("active", "POST", "sys/mounts/trimkv", json={"type": "kv"})[0] == 204
    for i in range(writes):
        assert pair.on("active", "POST", f"trimkv/k{i % 20}", json={"v": str(i)})[0] == 204
        if i % 25 == 0:  # the worker catches up (and says so) before serving
            assert pair.on("worker", "GET", f"trimkv/k{i % 20}")[0] == 200
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        oldest, newest = conn.execute(f"SELECT min(seq), max(seq) FROM {changefeed.CHANGES_TABLE}").fetchone()
    finally:
        conn.close()
    assert newest - oldest < 2 * changefeed.PRUNE_EVERY, (oldest, newest)


def test_a_worker_never_serves_from_half_rebuilt_state(tmp_path: Path) -> None:
    """Writes through the worker make it rebuild its state as the active process commits them, while
    other requests run on other threads (granian's intake threads): none may see a half-built state
    (a 404 for a mounted path, a 500 from a store not yet rebuilt)."""
    from concurrent.futures import ThreadPoolExecutor

    with running_pair(tmp_path) as pair:
        assert pair.on("active", "POST", "sys/mounts/kvw", json={"type": "kv"})[0] == 204

        host, port = pair.worker.removeprefix("http://").split(":")
        body = json.dumps({"value": "v" * 64})
        headers = {"X-Vault-Token": pair.root, "Content-Type": "application/json"}

        def writes(n: int) -> list[int]:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)  # kept alive: many at once
            out = []
            for _ in range(400):
                conn.request("POST", f"/v1/kvw/k{n % 4}", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                out.append(response.status)
            conn.close()
            return out

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = [s for batch in pool.map(writes, range(16)) for s in batch]
        assert set(statuses) == {204}, {s: statuses.count(s) for s in set(statuses)}
        assert "Traceback" not in pair.server.output()


def test_workers_on_postgresql_are_accepted() -> None:
    from tessera.server.config import parse_config

    text = 'storage "postgresql" { connection_url = "host=127.0.0.1" }\nworkers = 3\n'
    cfg = parse_config(text + 'listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n')
    assert cfg.workers == 3

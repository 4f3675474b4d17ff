"""A worker's role (cluster/standby.py), in one process: an active core on a SQLite file, a worker
core reading it, the change feed between them; no listeners."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tessera.cluster.feed import SQLiteChangeFeed
from tessera.cluster.interfaces import HandedOver
from tessera.cluster.shared_state import SharedState
from tessera.cluster.standby import Standby
from tessera.core import registry
from tessera.core.core import Core, CoreConfig
from tessera.routing.mounts import MountEntry
from tessera.storage.sqlite import SQLitePhysical
from tessera.storage.sqlite_reader import SQLiteReader


@dataclass
class Forwarded:
    """A forwarder that remembers what it was handed."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def forward(self, request: HandedOver) -> None:
        self.requests.append((request.method, request.raw_path))


@dataclass
class Pair:
    active: Core
    worker: Core
    standby: Standby
    shared: SharedState


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    registry.import_all()
    db = str(tmp_path / "t.db")
    active = Core(SQLitePhysical(db), CoreConfig(storage_type="sqlite"))
    keys = active.initialize(1, 1)["keys"]
    active.unseal(keys[0])
    shared = SharedState(str(tmp_path / "shm"), create=True)
    active.physical.enable_change_feed(shared)  # type: ignore[attr-defined]
    reader = SQLiteReader(db)
    worker = Core(reader, CoreConfig(storage_type="sqlite"))
    feed = SQLiteChangeFeed(SharedState(str(tmp_path / "shm"), create=False), reader, slot=0)
    standby = Standby(worker, feed, Forwarded())
    standby.follower.offer_keyring(1, active.barrier.keyring().serialize())
    shared.publish_epoch(1)
    try:
        yield Pair(active, worker, standby, shared)
    finally:
        worker.shutdown()
        active.shutdown()


def test_a_worker_serves_once_caught_up_and_forwards_sys(pair: Pair) -> None:
    assert pair.standby.ready("GET", "/v1/auth/token/lookup-self")
    assert not pair.standby.ready("GET", "/v1/sys/mounts")
    pair.shared.publish_epoch(0)  # the active process sealed
    assert not pair.standby.ready("GET", "/v1/auth/token/lookup-self")
    assert pair.worker.sealed


def test_a_new_mount_reaches_the_worker_through_the_change_feed(pair: Pair) -> None:
    assert pair.worker.router.match("kvw/a") is None
    pair.active.mount(MountEntry.new("secret", "kvw/", "kv"))
    pair.active.physical.wait_durable()  # type: ignore[attr-defined]
    assert pair.standby.ready("GET", "/v1/kvw/a")
    assert pair.worker.router.match("kvw/a") is not None


def _whole(core: Core) -> bool:
    """Everything a request uses is there: the stores, and the token mount routed."""
    return (
        core.tokens is not None
        and core.policy_store is not None
        and core.quotas is not None
        and core.router.match("auth/token/lookup-self") is not None
    )


def test_a_request_never_sees_a_half_rebuilt_state(pair: Pair) -> None:
    """Rebuilds (as after the active process changes its mount table) while requests run on
    other threads: each request, from start to end, sees the whole state and the same one."""
    standby, core = pair.standby, pair.worker
    stop = threading.Event()
    broken: list[str] = []
    served = [0]

    def request(*args: Any) -> int:
        tokens = core.tokens
        for _ in range(50):
            if not _whole(core) or core.tokens is not tokens:
                broken.append("state changed under a request")
                return 500
        served[0] += 1
        return 200

    def requests() -> None:
        args = (None, "GET", "/v1/auth/token/lookup-self", b"", {}, None, "127.0.0.1", False)
        while not stop.is_set():
            standby.answer(request, args)

    threads = [threading.Thread(target=requests, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 1.5
    rebuilds = 0
    while time.monotonic() < deadline:
        standby.follower.reload()
        rebuilds += 1
    stop.set()
    for thread in threads:
        thread.join(10)
    assert rebuilds >= 3 and served[0] > 0
    assert broken == []


def test_a_request_to_a_mount_that_keeps_state_runs_alone(pair: Pair) -> None:
    """A write a transit request tries may change its cached key before storage refuses it: no
    other request may run until the rebuild undoes that."""
    pair.active.mount(MountEntry.new("secret", "transit/", "transit"))
    pair.active.mount(MountEntry.new("secret", "kv/", "kv"))
    pair.active.physical.wait_durable()  # type: ignore[attr-defined]
    assert pair.standby.ready("GET", "/v1/transit/keys")
    lock = pair.standby.follower.lock
    seen: dict[str, bool] = {}

    def request(proto: Any, method: str, path: str, *rest: Any) -> int:
        seen[path] = lock._writer == threading.get_ident()
        return 200

    for path in ("/v1/transit/encrypt/k", "/v1/kv/a", "/v1/auth/token/create", "/v1/nowhere"):
        pair.standby.answer(request, (None, "POST", path, b"", {}, None, "127.0.0.1", False))
    assert seen == {
        "/v1/transit/encrypt/k": True,
        "/v1/kv/a": False,
        "/v1/auth/token/create": False,
        "/v1/nowhere": True,
    }


def test_a_request_is_handed_over_whole(pair: Pair) -> None:
    request = (None, "POST", "/v1/sys/mounts/x", b"a=1", {"x-vault-token": "t"}, b"{}", "10.0.0.1", True)
    assert pair.standby.forward(request) == 0
    assert pair.standby.forwarder.requests == [("POST", "/v1/sys/mounts/x")]  # type: ignore[attr-defined]

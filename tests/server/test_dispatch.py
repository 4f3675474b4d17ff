"""The runner and its side pool (server/dispatch.py), and answers held until writes are durable."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from tessera.server.dispatch import Dispatcher, RouteHistory, Runner, SidePool, parent_of
from tessera.storage.base import TxnOp
from tessera.storage.inmem import InmemPhysical
from tessera.storage.sqlite import SQLitePhysical
from tests.perf.conftest import Server, _Body, _Proto


def test_parent_of() -> None:
    assert parent_of("/v1/kv/a") == "/v1/kv/"
    assert parent_of("/v1/kv/a/") == "/v1/kv/"
    assert parent_of("/v1") == "/v1"


def test_history_learns_routes_that_wait_and_forgets_them() -> None:
    history = RouteHistory()
    assert not history.waits("POST", "/v1/kv/a")  # never seen: the runner serves it
    history.record("POST", "/v1/kv/a", True)
    assert history.waits("POST", "/v1/kv/a")
    assert history.waits("POST", "/v1/kv/b")  # a new name in the same folder: learned by parent
    assert not history.waits("GET", "/v1/kv/a")  # per method
    for _ in range(3):
        history.record("POST", "/v1/kv/a", False)
    assert not history.waits("POST", "/v1/kv/a")  # stopped waiting: back on the runner


def test_history_is_bounded() -> None:
    history = RouteHistory(max_routes=10)
    for i in range(100):
        history.record("POST", f"/v1/kv/{i}/x", True)
        assert len(history._scores) <= 10


def test_side_pool_runs_work_on_its_own_threads_and_grows_to_its_size() -> None:
    pool = SidePool(3)
    started = threading.Barrier(4)
    names: list[str] = []

    def job() -> None:
        names.append(threading.current_thread().name)
        started.wait(10)

    for _ in range(3):
        pool.submit(job)
    started.wait(10)  # three jobs ran at once: three threads
    assert pool.threads() == 3
    assert all(n.startswith("tessera-side-") for n in names)
    done = threading.Event()
    pool.submit(done.set)  # a fourth job reuses a thread
    assert done.wait(10)
    assert pool.threads() == 3
    pool.close()


def _call(server: Server, method: str, path: str, body: Any = None) -> _Proto:
    raw = b"" if body is None else orjson.dumps(body)
    scope = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/v1/" + path,
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": _Body(raw),
        "HTTP_X_VAULT_TOKEN": server.root,
        "CONTENT_LENGTH": str(len(raw)),
    }
    proto = _Proto()
    server.app.serve_threaded(proto, scope)
    return proto


def test_long_requests_move_to_the_side_pool(tmp_path: Path) -> None:
    """An RSA key generation runs long on the CPU: after the first, they leave the runner."""
    server = Server(SQLitePhysical(str(tmp_path / "t.db")))
    server.app.dispatcher = Dispatcher(4)
    try:
        server.ok("POST", "sys/mounts/transit", json={"type": "transit"})
        assert server.app.dispatcher.handed_over == 0
        first = _call(server, "POST", "transit/keys/one", {"type": "rsa-2048"})
        assert first.answered.wait(30) and first.status == 200
        assert server.app.dispatcher.handed_over == 0  # the first ran on the runner
        second = _call(server, "POST", "transit/keys/two", {"type": "rsa-2048"})
        assert second.answered.wait(30) and second.status == 200
        assert server.app.dispatcher.handed_over == 1  # learned by the folder: to the pool
        read = _call(server, "GET", "transit/keys/one")
        assert read.answered.wait(30) and read.status == 200
        assert server.app.dispatcher.handed_over == 1  # reads stay on the runner
    finally:
        server.app.dispatcher.pool.close()
        server.core.shutdown()


def test_answers_wait_for_the_fsync_of_what_they_wrote_or_read(tmp_path: Path) -> None:
    """On the threaded listener a write returns at once; its answer, and the answer of a read
    that may have seen it, leave only after the commit (here held by the test)."""
    gate = threading.Event()
    gate.set()
    calls: list[int] = []

    def held_commit() -> None:
        calls.append(1)
        assert gate.wait(30)

    server = Server(SQLitePhysical(str(tmp_path / "t.db"), before_commit=held_commit))
    try:
        server.ok("POST", "kv1/seed", json={"v": "0"})
        gate.clear()  # from now on the commit waits for the test
        write = _call(server, "POST", "kv1/app", {"v": "1"})  # returns: the thread is free
        read = _call(server, "GET", "kv1/app")
        assert not write.answered.wait(0.3) and not read.answered.wait(0)
        gate.set()
        assert write.answered.wait(30) and read.answered.wait(30)
        assert write.status == 204 and read.status == 200
        assert orjson.loads(read.body)["data"] == {"v": "1"}
        assert calls
    finally:
        gate.set()
        server.core.shutdown()


class _ThreadNoting(InmemPhysical):
    """In-memory storage noting the thread of every call that reaches it: the thread a request's
    core work ran on, for any route (prepared or generic). Named as no local backend is, so the
    barrier keeps no read cache in front of it and every read reaches it too."""

    name = "thread-noting"

    def __init__(self) -> None:
        super().__init__()
        self.noted: list[str] = []

    def _note(self) -> None:
        self.noted.append(threading.current_thread().name)

    def get(self, key: str) -> bytes | None:
        self._note()
        return super().get(key)

    def put(self, key: str, value: bytes) -> None:
        self._note()
        super().put(key, value)

    def transaction(self, ops: list[TxnOp]) -> None:
        self._note()
        super().transaction(ops)


class _Served:
    """Requests made through ``_call``, and the thread each one's storage work ran on (``on``)."""

    def __init__(self, server: Server, physical: _ThreadNoting) -> None:
        self.server, self.physical = server, physical
        # Where a request may run; storage calls of any other thread are background work.
        self.candidates = {"tessera-runner", threading.current_thread().name}
        self.on: list[str] = []

    def start(self, method: str, path: str, body: Any = None) -> tuple[_Proto, int]:
        mark = len(self.physical.noted)
        return _call(self.server, method, path, body), mark

    def finish(self, started: tuple[_Proto, int]) -> _Proto:
        proto, mark = started
        assert proto.answered.wait(10)
        names = set(self.physical.noted[mark:]) & self.candidates
        assert len(names) == 1, names
        self.on.append(names.pop())
        return proto


def test_only_requests_with_a_body_run_on_the_calling_thread_and_only_while_the_runner_is_idle() -> None:
    """A body just read runs here when the runner is idle; a bodiless request always goes to the
    runner (run on granian's threads, reads under load lost ~35% of their throughput)."""
    physical = _ThreadNoting()
    server = Server(physical)
    server.app.runner = runner = Runner()
    served = _Served(server, physical)
    try:
        for method, body in (("GET", None), ("POST", {"a": "1"}), ("GET", None)):
            proto = served.finish(served.start(method, "kv1/x", body))
            assert proto.status in (200, 204, 404)
        here = threading.current_thread().name
        assert served.on == ["tessera-runner", here, "tessera-runner"]
        release, busy = threading.Event(), threading.Event()

        def hold() -> None:
            busy.set()
            release.wait(10)

        runner.submit(hold, ())
        assert busy.wait(10)
        started = served.start("POST", "kv1/x", {"a": "2"})
        assert not started[0].answered.wait(0.2)  # queued behind the runner's work, not run here
        release.set()
        assert served.finish(started).status in (200, 204)
        assert served.on[-1] == "tessera-runner"
    finally:
        server.core.shutdown()


def test_bodies_on_runner_sends_requests_with_a_body_to_the_idle_runner() -> None:
    """``TESSERA_HTTP_BODIES_ON_RUNNER=1``: a write goes to the runner even when it is idle."""
    physical = _ThreadNoting()
    server = Server(physical)
    server.app.runner = Runner()
    server.app.bodies_on_runner = True
    served = _Served(server, physical)
    try:
        for method, body in (("POST", {"a": "1"}), ("GET", None)):
            assert served.finish(served.start(method, "kv1/x", body)).status in (200, 204)
        assert served.on == ["tessera-runner", "tessera-runner"]
    finally:
        server.core.shutdown()

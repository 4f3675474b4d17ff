"""A dev core behind the real App, called as granian's threaded worker calls it, with storage I/O counted.

These tests guard the properties the performance work relies on (what is read, written and
fsynced per request), never timings: they run in CI, the benchmarks in ``bench/`` do not.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tessera.core.core import Core, CoreConfig
from tessera.routing.mounts import MountEntry
from tessera.server.app import App
from tessera.storage.base import Physical, TxnOp
from tessera.storage.inmem import InmemPhysical


class CountingPhysical(InmemPhysical):
    """In-memory storage that counts reads per key and write transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.gets: Counter[str] = Counter()
        self.transactions = 0
        self._count_lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._count_lock:
            self.gets[key] += 1
        return super().get(key)

    def transaction(self, ops: list[TxnOp]) -> None:
        with self._count_lock:
            self.transactions += 1
        super().transaction(ops)

    def reset(self) -> None:
        with self._count_lock:
            self.gets.clear()
            self.transactions = 0


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        out, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return out


class _Proto:
    """granian's protocol object: the answer may come later, from the storage's syncer thread."""

    status = 0
    body = b""

    def __init__(self) -> None:
        self.answered = threading.Event()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.body = status, body
        self.answered.set()


class Server:
    """``call(method, path, token, json)`` through ``App.serve_threaded``; returns (status, body)."""

    def __init__(self, physical: Physical) -> None:
        self.physical = physical
        self.core = Core(physical, CoreConfig(dev=True))
        result = self.core.initialize(1, 1)
        self.core.unseal(result["keys"][0])
        self.root = result["root_token"]
        self.core.mount(MountEntry.new("secret", "kv1/", "kv", options={"version": "1"}))
        self.app = App(self.core, inline=True)

    def call(self, method: str, path: str, token: str | None = None, json: Any = None) -> tuple[int, Any]:
        body = b"" if json is None else orjson.dumps(json)
        scope: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": "/v1/" + path,
            "QUERY_STRING": "",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": _Body(body),
            "HTTP_X_VAULT_TOKEN": self.root if token is None else token,
        }
        if body:
            scope["CONTENT_TYPE"] = "application/json"
            scope["CONTENT_LENGTH"] = str(len(body))
        proto = _Proto()
        self.app.serve_threaded(proto, scope)
        assert proto.answered.wait(30), "no answer"
        return proto.status, (orjson.loads(proto.body) if proto.body else None)

    def ok(self, method: str, path: str, token: str | None = None, json: Any = None) -> Any:
        status, body = self.call(method, path, token, json)
        assert 200 <= status < 300, (method, path, status, body)
        return body


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(CountingPhysical())
    try:
        yield s
    finally:
        s.core.shutdown()

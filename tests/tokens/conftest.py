"""An in-process Core over in-memory storage: the token store without HTTP in between."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

import pytest

from tessera.core.core import Core
from tessera.framework import Operation, Request, Response
from tessera.storage.base import TxnOp
from tessera.storage.inmem import InmemPhysical


class RecordingPhysical(InmemPhysical):
    """In-memory storage that notes each write reaching it, below the barrier: ``(kind,
    operations)``. A seam that holds when the barrier and the stores are compiled, where their
    methods cannot be replaced on an instance."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, int]] = []

    def put(self, key: str, value: bytes) -> None:
        self.writes.append(("put", 1))
        super().put(key, value)

    def delete(self, key: str) -> None:
        self.writes.append(("delete", 1))
        super().delete(key)

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        self.writes.append(("transaction", len(ops)))
        super().transaction(ops)


class CoreHarness:
    """A real Core, initialised and unsealed, with a root token and a request helper."""

    def __init__(self, physical: InmemPhysical | None = None) -> None:
        self.physical = physical or InmemPhysical()
        self.core = Core(self.physical)
        result = self.core.initialize(1, 1)
        self.key = result["keys"][0]
        self.core.unseal(self.key)
        self.root = result["root_token"]

    @property
    def store(self) -> Any:
        return self.core.tokens

    def request(
        self,
        operation: Operation,
        path: str,
        token: str | None = None,
        data: dict[str, Any] | None = None,
        wrap_ttl: int = 0,
    ) -> Response | None:
        req = Request(
            operation=operation,
            path=path,
            data=dict(data or {}),
            client_token=self.root if token is None else token,
            wrap_ttl=wrap_ttl,
            request_id="test",
        )
        return self.core.handle_request(req)

    def create(self, token: str | None = None, path: str = "auth/token/create", **data: Any) -> str:
        resp = self.request(Operation.UPDATE, path, token, data)
        assert resp is not None and resp.auth is not None
        return resp.auth.client_token

    def close(self) -> None:
        self.core.shutdown()


@pytest.fixture
def harness() -> Iterator[CoreHarness]:
    h = CoreHarness()
    try:
        yield h
    finally:
        h.close()

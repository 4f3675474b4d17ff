"""An in-process Core over in-memory storage: the token store without HTTP in between."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tessera.core.core import Core
from tessera.framework import Operation, Request, Response
from tessera.storage.inmem import InmemPhysical


class CoreHarness:
    """A real Core, initialised and unsealed, with a root token and a request helper."""

    def __init__(self) -> None:
        self.physical = InmemPhysical()
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

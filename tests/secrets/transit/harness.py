"""Transit without a server: the backend over a real barrier, driven like the HTTP layer drives it.

Used by the unit tests (fast, no subprocess) and to compare with the reference while the full server
is not needed. Requests go through the framework's routing, existence check and field validation,
and answers are rendered with the server's own renderer, so status codes and bodies are the real ones.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from tessera.barrier.aes_gcm import Barrier
from tessera.framework import Operation, Request, VaultError
from tessera.framework.envelope import render_error, render_logical
from tessera.secrets.transit import factory
from tessera.storage.base import StorageView
from tessera.storage.inmem import InmemPhysical

_METHODS = {
    "GET": Operation.READ,
    "POST": Operation.UPDATE,
    "PUT": Operation.UPDATE,
    "DELETE": Operation.DELETE,
    "LIST": Operation.LIST,
}


class InProcessTransit:
    """One transit mount in this process; ``call`` mirrors ``tests.helpers.http.call``'s answers."""

    def __init__(self) -> None:
        self.physical = InmemPhysical()
        self.barrier = Barrier(self.physical)
        unseal_key = os.urandom(32)
        self.barrier.initialize(unseal_key)
        self.barrier.unseal(unseal_key)
        self.storage = StorageView(self.barrier, "logical/transit-test/")
        self.backend = factory(None, None)

    def call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        op = _METHODS[method.upper()]
        if op == Operation.LIST and not path.endswith("/"):
            path += "/"
        data = dict(json or {}) if op != Operation.DELETE else {}
        req = Request(operation=op, path=path, data=data, storage=self.storage, mount_point="transit/")
        try:
            if op == Operation.UPDATE:
                has_check, exists = self.backend.existence(req)
                if has_check and not exists:
                    req.operation = Operation.CREATE
            resp = self.backend.handle_request(req)
            status, body = render_logical(
                resp, req.operation, path, "00000000-0000-0000-0000-000000000000", "transit"
            )
        except VaultError as exc:
            status, body = render_error(exc)
        return status, (orjson.loads(body) if body else None)

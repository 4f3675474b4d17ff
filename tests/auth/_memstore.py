"""An in-memory ``Storage`` and a request helper for calling auth backends without a server."""

from __future__ import annotations

from typing import Any

from tessera.framework import Backend, Operation, Request, Response, VaultError
from tessera.storage.base import Storage, TxnOp, children


class MemStorage(Storage):
    """A dict behind the Storage interface (what a mount's storage view offers)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        return children(prefix, [k for k in self.data if k.startswith(prefix)])

    def transaction(self, ops: list[TxnOp]) -> None:
        for op in ops:
            if op.value is None:
                self.delete(op.key)
            else:
                self.put(op.key, op.value)


def call(
    backend: Backend,
    storage: Storage,
    op: str,
    path: str,
    data: dict[str, Any] | None = None,
    *,
    remote_addr: str = "127.0.0.1",
    mount_type: str = "approle",
) -> tuple[int, Response | None, str]:
    """(status, response, error text) the way the core would see the backend answer."""
    operation = Operation(op)
    req = Request(
        operation=operation,
        path=path,
        data=dict(data or {}),
        remote_addr=remote_addr,
        storage=storage,
        mount_type=mount_type,
        mount_accessor=f"auth_{mount_type}_test",
        mount_point=f"auth/{mount_type}/",
    )
    try:
        if operation == Operation.UPDATE:
            has_check, exists = backend.existence(req)
            if has_check and not exists:
                req.operation = Operation.CREATE
        resp = backend.handle_request(req)
    except VaultError as exc:
        errors = exc.errors()
        return exc.status, None, errors[0] if errors else ""
    if resp is not None and resp.status:
        return resp.status, resp, ""
    return (200 if resp is not None else 204), resp, ""

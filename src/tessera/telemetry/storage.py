"""Storage timings: ``vault.<storage>.get|put|delete|list``, as each of Vault's backends names its own."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from time import perf_counter
from typing import Any

from ..storage.base import Physical
from . import metrics

# Vault's PostgreSQL backend reports as vault.postgres.*.
_VAULT_NAMES = {"postgresql": "postgres"}


class TimedPhysical(Physical):
    """The barrier's view of the physical storage, timing each operation it passes on.

    A ``Physical`` (the barrier takes one; a compiled build checks it) that passes on what it
    does not time: ``Physical``'s own defaults must never answer for the backend below.
    """

    def __init__(self, physical: Physical, storage_type: str) -> None:
        self._physical = physical
        self.name = physical.name  # type: ignore[misc]  # its own, shadowing the class's (storage/base.py)
        self.cacheable = physical.cacheable  # type: ignore[misc]
        name = _VAULT_NAMES.get(storage_type, storage_type) or "inmem"
        self._timers = metrics.storage_timers(name)

    def get(self, key: str) -> Any:
        start = perf_counter()
        try:
            return self._physical.get(key)
        finally:
            self._timers["get"].since(start)

    def put(self, key: str, value: bytes) -> None:
        start = perf_counter()
        try:
            self._physical.put(key, value)
        finally:
            self._timers["put"].since(start)

    def delete(self, key: str) -> None:
        start = perf_counter()
        try:
            self._physical.delete(key)
        finally:
            self._timers["delete"].since(start)

    def list(self, prefix: str) -> Any:
        start = perf_counter()
        try:
            return self._physical.list(prefix)
        finally:
            self._timers["list"].since(start)

    def list_all(self, prefix: str) -> Any:
        start = perf_counter()
        try:
            return self._physical.list_all(prefix)
        finally:
            self._timers["list"].since(start)

    def transaction(self, ops: Any) -> None:
        start = perf_counter()
        try:
            self._physical.transaction(ops)
        finally:
            self._timers["put"].since(start)

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        return self._physical.scan(prefix, after, limit)

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        start = perf_counter()
        try:
            return self._physical.get_many(keys)
        finally:
            self._timers["get"].since(start)

    def list_many(self, prefixes: builtins.list[str]) -> dict[str, builtins.list[str]]:
        return self._physical.list_many(prefixes)

    def after_durable(self, ready: Callable[[BaseException | None], None]) -> bool:
        return self._physical.after_durable(ready)

    def close(self) -> None:
        self._physical.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._physical, name)

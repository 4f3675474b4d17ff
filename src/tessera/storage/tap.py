"""A Physical that shows every write to an observer, which may add writes to the same transaction.

Replication (``replication/``) keeps its log this way: a log entry is committed with the write it
records or not at all, on any backend. With no observer the tap passes every call straight on,
so a server that does not replicate pays one attribute test per write.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from typing import Any, Protocol

from .base import Physical, TxnOp


class ForwardToPrimary(BaseException):
    """A request tried to write replicated data on a performance secondary: the primary serves it
    (raised by ``replication/guard.py``, the observer of a secondary's tap).

    A BaseException, as the storage's ``StandbyWrite``: no handler's ``except Exception`` turns it
    into an answer. The pipeline names the caller's token entry on it (``entry``), so that the
    primary acts for the token this secondary resolved.
    """

    def __init__(self) -> None:
        super().__init__("a write of replicated data: forward it to the primary")
        self.entry: Any = None


class WriteObserver(Protocol):
    def extra_ops(self, ops: builtins.list[TxnOp]) -> builtins.list[TxnOp]:
        """What to commit with ``ops`` (called under the tap's lock, in commit order)."""
        ...

    def committed(self, ops: builtins.list[TxnOp], extra: builtins.list[TxnOp]) -> None:
        """``ops`` and ``extra`` were handed to the backend (still under the lock)."""
        ...


class TappedPhysical(Physical):
    """Wraps a Physical; reads pass through, writes go past the observer when one is set."""

    def __init__(self, inner: Physical) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # its own, shadowing the class's (base.py)
        # Class attributes the wrapper would otherwise answer for itself (``__getattr__`` is only
        # asked for names it lacks): PostgreSQL with HA is cacheable, and the barrier asks here.
        self.cacheable = inner.cacheable  # type: ignore[misc]
        self.observer: WriteObserver | None = None
        # Reads are the inner backend's own bound methods: no extra call on the hot path.
        self.get = inner.get  # type: ignore[method-assign]
        self.list = inner.list  # type: ignore[method-assign]
        self.list_all = inner.list_all  # type: ignore[method-assign]
        self.scan = inner.scan  # type: ignore[method-assign]
        self.list_many = inner.list_many  # type: ignore[method-assign]
        self.get_many = inner.get_many  # type: ignore[method-assign]
        self.after_durable = inner.after_durable  # type: ignore[method-assign]
        # Writes are numbered in the order they reach the backend: one at a time while observed.
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self.inner.get(key)

    def list(self, prefix: str) -> builtins.list[str]:
        return self.inner.list(prefix)

    def list_all(self, prefix: str) -> builtins.list[str]:
        return self.inner.list_all(prefix)

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        return self.inner.scan(prefix, after, limit)

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        return self.inner.get_many(keys)

    def list_many(self, prefixes: builtins.list[str]) -> dict[str, builtins.list[str]]:
        return self.inner.list_many(prefixes)

    def put(self, key: str, value: bytes) -> None:
        if self.observer is None:
            self.inner.put(key, value)
        else:
            self._observed([TxnOp(key, value)])

    def delete(self, key: str) -> None:
        if self.observer is None:
            self.inner.delete(key)
        else:
            self._observed([TxnOp(key, None)])

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        if self.observer is None:
            self.inner.transaction(ops)
        else:
            self._observed(ops)

    def _observed(self, ops: builtins.list[TxnOp]) -> None:
        with self.lock:
            observer = self.observer
            if observer is None:
                self.inner.transaction(ops)
                return
            extra = observer.extra_ops(ops)
            self.inner.transaction(ops + extra)
            observer.committed(ops, extra)

    def after_durable(self, ready: Callable[[BaseException | None], None]) -> bool:
        return self.inner.after_durable(ready)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (SQLite's reader pool, the change feed's publisher) stay reachable.
        return getattr(self.inner, name)

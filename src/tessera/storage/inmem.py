"""In-memory physical storage: the dev server's default, gone at exit."""

from __future__ import annotations

import builtins
import itertools
import threading

from mypy_extensions import mypyc_attr
from sortedcontainers import SortedList  # type: ignore[import-untyped]

from .base import Physical, TxnOp, children


@mypyc_attr(allow_interpreted_subclasses=True)
class InmemPhysical(Physical):
    name = "inmem"

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        # Sorted, for prefix scans. A plain list's insort moved every later key on each new one:
        # a dev server minting service tokens slowed down with every token it held.
        self._keys: SortedList = SortedList()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def _put(self, key: str, value: bytes) -> None:
        if key not in self._data:
            self._keys.add(key)
        self._data[key] = value

    def _delete(self, key: str) -> None:
        if key in self._data:
            del self._data[key]
            self._keys.remove(key)

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._put(key, value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._delete(key)

    def _range(self, prefix: str) -> list[str]:
        return list(self._keys.irange(prefix, prefix + "\U0010ffff", inclusive=(True, False)))

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            return children(prefix, self._range(prefix))

    def list_all(self, prefix: str) -> builtins.list[str]:
        with self._lock:
            return list(self._range(prefix))

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        with self._lock:
            found = self._keys.irange(
                max(after, prefix), prefix + "\U0010ffff", inclusive=(after < prefix, False)
            )
            keys = list(itertools.islice(found, limit))
            return [(k, self._data[k]) for k in keys], (keys[-1] if len(keys) == limit else None)

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        with self._lock:
            for op in ops:
                if op.value is None:
                    self._delete(op.key)
                else:
                    self._put(op.key, op.value)

    def size(self) -> int:
        """Total bytes held (tests use it to prove that batch tokens write nothing)."""
        with self._lock:
            return sum(len(k) + len(v) for k, v in self._data.items())

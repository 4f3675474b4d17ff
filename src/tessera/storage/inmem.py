"""In-memory physical storage: the dev server's default, gone at exit."""

from __future__ import annotations

import bisect
import threading

from .base import Physical, TxnOp, children


class InmemPhysical(Physical):
    name = "inmem"

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._keys: list[str] = []  # sorted, for prefix scans
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def _put(self, key: str, value: bytes) -> None:
        if key not in self._data:
            bisect.insort(self._keys, key)
        self._data[key] = value

    def _delete(self, key: str) -> None:
        if key in self._data:
            del self._data[key]
            idx = bisect.bisect_left(self._keys, key)
            del self._keys[idx]

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._put(key, value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._delete(key)

    def _range(self, prefix: str) -> list[str]:
        lo = bisect.bisect_left(self._keys, prefix)
        hi = bisect.bisect_left(self._keys, prefix + "\U0010ffff")
        return self._keys[lo:hi]

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            return children(prefix, self._range(prefix))

    def list_all(self, prefix: str) -> list[str]:
        with self._lock:
            return list(self._range(prefix))

    def transaction(self, ops: list[TxnOp]) -> None:
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

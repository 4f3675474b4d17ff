"""The batch-token deny-list: SHA-256 hashes of revoked batch tokens, until those would expire.

Batch tokens are never stored, so revoking one means remembering it. Each entry is a normal
storage key (``sys/token/denylist/<sha256 hex>`` → its expiry) behind the barrier, so it survives
restarts and travels wherever storage does (worker processes through the change feed; HA and
replication later). In memory it is one dict of 32-byte digests: a validation costs one SHA-256
and one set look-up, and nothing when the list is empty.
"""

from __future__ import annotations

import hashlib
import heapq
import threading
import time

from ..storage.base import Storage

PREFIX = "denylist/"


def token_digest(token_id: str) -> bytes:
    return hashlib.sha256(token_id.encode()).digest()


class DenyList:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._expiry: dict[bytes, float] = {}  # digest -> expiry (0: never)
        self._heap: list[tuple[float, bytes]] = []  # pruning order; stale items are skipped
        self._lock = threading.Lock()

    def load(self) -> None:
        """Read every entry (at unseal, and when another process rewrote the list)."""
        entries: dict[bytes, float] = {}
        for key in self.storage.list(PREFIX):
            digest = _digest_of(key)
            doc = self.storage.get_json(PREFIX + key)
            if digest is not None and doc is not None:
                entries[digest] = float(doc.get("expire_time", 0))
        with self._lock:
            self._expiry = entries
            self._heap = [(when, d) for d, when in entries.items() if when > 0]
            heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._expiry)

    def denied(self, token_id: str) -> bool:
        """Checked on every batch-token validation; free while the list is empty."""
        return bool(self._expiry) and token_digest(token_id) in self._expiry

    def add(self, digest: bytes, expire_time: float) -> None:
        """Deny a token until ``expire_time`` (when it would have expired anyway)."""
        self.storage.put_json(PREFIX + digest.hex(), {"expire_time": expire_time})
        self._remember(digest, expire_time)

    def _remember(self, digest: bytes, expire_time: float) -> None:
        with self._lock:
            self._expiry[digest] = expire_time
            if expire_time > 0:
                heapq.heappush(self._heap, (expire_time, digest))

    def prune(self, now: float | None = None) -> int:
        """Drop entries whose tokens have expired (the active process's ticker); how many."""
        now = now if now is not None else time.time()
        due: list[bytes] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                when, digest = heapq.heappop(self._heap)
                if self._expiry.get(digest) == when:
                    due.append(digest)
        for digest in due:
            self.storage.delete(PREFIX + digest.hex())
            with self._lock:
                self._expiry.pop(digest, None)
        return len(due)

    def invalidate(self, key: str) -> None:
        """Another process wrote ``denylist/<key>``: take its current value from storage."""
        digest = _digest_of(key)
        if digest is None:
            return
        doc = self.storage.get_json(PREFIX + key)
        if doc is None:
            with self._lock:
                self._expiry.pop(digest, None)
        else:
            self._remember(digest, float(doc.get("expire_time", 0)))


def _digest_of(key: str) -> bytes | None:
    try:
        digest = bytes.fromhex(key)
    except ValueError:
        return None
    return digest if len(digest) == 32 else None

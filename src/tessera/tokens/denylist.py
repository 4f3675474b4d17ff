"""The batch-token deny-list: revoked batch tokens, each kept until it would have expired.

Batch tokens are never stored, so revoking one means remembering it. A token revoked by value is
named by its AES-GCM tag (16 bytes: unforgeable, unique per token, the same under either prefix);
one revoked by ``token_sha256`` (an operator who should not paste it) by the SHA-256 of its
``hvb.`` spelling. Each entry is a normal storage key (``sys/token/denylist/<hex>`` → its expiry)
behind the barrier, so it survives restarts and travels wherever storage does (worker processes
through the change feed; HA and replication later). In memory: two dicts of bytes. A validation
costs one dict look-up, plus one SHA-256 only while some entry was made from a hash.
"""

from __future__ import annotations

import hashlib
import heapq
import threading
import time

from ..storage.base import Storage

PREFIX = "denylist/"
TAG_SIZE = 16
DIGEST_SIZE = 32


def token_digest(token_id: str) -> bytes:
    return hashlib.sha256(token_id.encode()).digest()


class DenyList:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._tags: dict[bytes, float] = {}  # GCM tag -> expiry (0: never)
        self._digests: dict[bytes, float] = {}  # SHA-256 of the hvb. spelling -> expiry
        self._heap: list[tuple[float, bytes]] = []  # pruning order; stale items are skipped
        self._lock = threading.Lock()

    def load(self) -> None:
        """Read every entry (at unseal)."""
        tags: dict[bytes, float] = {}
        digests: dict[bytes, float] = {}
        for key in self.storage.list(PREFIX):
            name = _name_of(key)
            doc = self.storage.get_json(PREFIX + key)
            if name is not None and doc is not None:
                (tags if len(name) == TAG_SIZE else digests)[name] = float(doc.get("expire_time", 0))
        with self._lock:
            self._tags, self._digests = tags, digests
            self._heap = [(when, n) for entries in (tags, digests) for n, when in entries.items() if when > 0]
            heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._tags) + len(self._digests)

    def denied(self, canonical_id: str, tag: bytes) -> bool:
        """Checked on every batch-token validation (``canonical_id``: the ``hvb.`` spelling)."""
        if tag in self._tags:
            return True
        return bool(self._digests) and token_digest(canonical_id) in self._digests

    def add(self, name: bytes, expire_time: float) -> None:
        """Deny a token (its tag, or the SHA-256 of its ``hvb.`` spelling) until ``expire_time``."""
        if len(name) not in (TAG_SIZE, DIGEST_SIZE):
            raise ValueError("a deny-list entry is a 16-byte tag or a 32-byte SHA-256")
        self.storage.put_json(PREFIX + name.hex(), {"expire_time": expire_time})
        self._remember(name, expire_time)

    def _remember(self, name: bytes, expire_time: float) -> None:
        with self._lock:
            (self._tags if len(name) == TAG_SIZE else self._digests)[name] = expire_time
            if expire_time > 0:
                heapq.heappush(self._heap, (expire_time, name))

    def _forget(self, name: bytes) -> None:
        with self._lock:
            (self._tags if len(name) == TAG_SIZE else self._digests).pop(name, None)

    def _expiry(self, name: bytes) -> float | None:
        return (self._tags if len(name) == TAG_SIZE else self._digests).get(name)

    def prune(self, now: float | None = None) -> int:
        """Drop entries whose tokens have expired (the active process's ticker); how many."""
        now = now if now is not None else time.time()
        due: list[bytes] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                when, name = heapq.heappop(self._heap)
                if self._expiry(name) == when:
                    due.append(name)
        for name in due:
            self.storage.delete(PREFIX + name.hex())
            self._forget(name)
        return len(due)

    def invalidate(self, key: str) -> None:
        """Another process wrote ``denylist/<key>``: take its current value from storage."""
        name = _name_of(key)
        if name is None:
            return
        doc = self.storage.get_json(PREFIX + key)
        if doc is None:
            self._forget(name)
        else:
            self._remember(name, float(doc.get("expire_time", 0)))


def _name_of(key: str) -> bytes | None:
    try:
        name = bytes.fromhex(key)
    except ValueError:
        return None
    return name if len(name) in (TAG_SIZE, DIGEST_SIZE) else None

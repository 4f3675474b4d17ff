"""A hash of the replicated keyspace, kept current write by write: Vault's ``merkle_root``.

Leaves are ``(key, sha256(ciphertext))``: the barrier's ciphertext is the same bytes on every
cluster of a replication set (they share the keyring), so the hash needs no keys and a secondary
that stores what the primary sent computes the same root. The tree has two levels: 256 buckets by
the first byte of the key's hash, each the XOR of its leaves (an update costs one XOR out and one
in), and the root over the buckets. Comparing bucket digests narrows a drift to 1/256 of the keys.
"""

from __future__ import annotations

import hashlib
import threading

_BUCKETS = 256
_LEAF_BYTES = 16  # what a leaf keeps per key in memory: enough to tell two values apart


def leaf(key: str, value_hash: bytes) -> int:
    return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + value_hash).digest()[:_LEAF_BYTES], "big")


class KeyspaceHash:
    """The incremental hash of a set of ``(key, value hash)``; thread-safe."""

    def __init__(self) -> None:
        self._leaves: dict[str, int] = {}
        self._buckets = [0] * _BUCKETS
        self._lock = threading.Lock()
        self._root: str | None = None

    def __len__(self) -> int:
        return len(self._leaves)

    def set(self, key: str, value_hash: bytes | None) -> None:
        """Record ``key``'s new value (its SHA-256), or its deletion (None)."""
        bucket = hashlib.sha256(key.encode()).digest()[0]
        with self._lock:
            old = self._leaves.pop(key, None)
            if old is not None:
                self._buckets[bucket] ^= old
            if value_hash is not None:
                new = leaf(key, value_hash)
                self._leaves[key] = new
                self._buckets[bucket] ^= new
            self._root = None

    def buckets(self) -> list[str]:
        with self._lock:
            return [f"{b:0{_LEAF_BYTES * 2}x}" for b in self._buckets]

    def root(self) -> str:
        """40 hex digits, as Vault shows ``merkle_root``."""
        with self._lock:
            if self._root is None:
                joined = b"".join(b.to_bytes(_LEAF_BYTES, "big") for b in self._buckets)
                self._root = hashlib.sha256(joined).hexdigest()[:40]
            return self._root

"""A hash of the replicated keyspace, kept current write by write: Vault's ``merkle_root``.

Leaves are ``(key, sha256(ciphertext))``: the barrier's ciphertext is the same bytes on every
cluster of a replication set (they share the keyring), so the hash needs no keys and a secondary
that stores what the primary sent computes the same root. The tree has two levels: 256 buckets by
the first byte of the key's hash, each the XOR of its leaves (an update costs one XOR out and one
in), and the root over the buckets. Comparing bucket digests narrows a drift to 1/256 of the keys.

The same XORs are kept per mount (``group``: the mount's storage prefix), so the root of the
keyspace without some mounts, as a path-filtered secondary holds it, costs 256 XORs per mount
left out instead of a walk over every key.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable

_BUCKETS = 256
_LEAF_BYTES = 16  # what a leaf keeps per key in memory: enough to tell two values apart


def leaf(key: str, value_hash: bytes) -> int:
    return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + value_hash).digest()[:_LEAF_BYTES], "big")


def bucket_of(key: str) -> int:
    return hashlib.sha256(key.encode()).digest()[0]


def group_of(key: str) -> str | None:
    """The storage prefix of the mount ``key`` lies under (``logical/<uuid>/``, ``auth/<uuid>/``)."""
    if not key.startswith(("logical/", "auth/")):
        return None
    root, _, rest = key.partition("/")
    uuid, slash, _ = rest.partition("/")
    return f"{root}/{uuid}/" if uuid and slash else None


def _digest(buckets: list[int]) -> str:
    joined = b"".join(b.to_bytes(_LEAF_BYTES, "big") for b in buckets)
    return hashlib.sha256(joined).hexdigest()[:40]


class KeyspaceHash:
    """The incremental hash of a set of ``(key, value hash)``; thread-safe."""

    def __init__(self) -> None:
        self._leaves: dict[str, int] = {}
        self._buckets = [0] * _BUCKETS
        self._groups: dict[str, dict[int, int]] = {}  # mount prefix -> bucket -> XOR of its leaves
        self._lock = threading.Lock()
        self._root: str | None = None

    def __len__(self) -> int:
        return len(self._leaves)

    def set(self, key: str, value_hash: bytes | None) -> None:
        """Record ``key``'s new value (its SHA-256), or its deletion (None)."""
        bucket = bucket_of(key)
        with self._lock:
            change = self._leaves.pop(key, None) or 0
            if value_hash is not None:
                new = leaf(key, value_hash)
                self._leaves[key] = new
                change ^= new
            self._buckets[bucket] ^= change
            self._root = None
            group = group_of(key)
            if group is not None and change:
                xors = self._groups.setdefault(group, {})
                xors[bucket] = xors.get(bucket, 0) ^ change
                if not xors[bucket]:
                    del xors[bucket]
                    if not xors:
                        del self._groups[group]

    def buckets(self) -> list[str]:
        with self._lock:
            return [f"{b:0{_LEAF_BYTES * 2}x}" for b in self._buckets]

    def root(self) -> str:
        """40 hex digits, as Vault shows ``merkle_root``."""
        with self._lock:
            if self._root is None:
                self._root = _digest(self._buckets)
            return self._root

    def root_without(self, groups: Iterable[str], swap: dict[str, bytes | None]) -> str:
        """The root without the keys of the mounts ``groups`` and with ``swap``'s keys holding
        other values (their SHA-256; None: absent): what a path-filtered secondary holds."""
        with self._lock:
            buckets = list(self._buckets)
            for group in groups:
                for bucket, xor in self._groups.get(group, {}).items():
                    buckets[bucket] ^= xor
            for key, value_hash in swap.items():
                bucket = bucket_of(key)
                buckets[bucket] ^= self._leaves.get(key, 0)
                if value_hash is not None:
                    buckets[bucket] ^= leaf(key, value_hash)
        return _digest(buckets)

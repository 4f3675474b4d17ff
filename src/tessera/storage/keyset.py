"""A compact set of storage keys seen by a scan, for tidy passes over millions of entries."""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left


class KeySet:
    """Keys as 64-bit digests in a sorted array: 8 bytes a key (a set of a million token IDs took
    ~140 MB). Two keys may share a digest, and a key written after the scan passed is missing, so
    "absent" must be confirmed by a read before anything is deleted; "present" only ever spares
    an entry. Add every key, then ``freeze`` once before asking."""

    def __init__(self) -> None:
        self._digests = array("Q")

    @staticmethod
    def _digest(key: str) -> int:
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")

    def add(self, key: str) -> None:
        self._digests.append(self._digest(key))

    def freeze(self) -> None:
        self._digests = array("Q", sorted(self._digests))

    def __len__(self) -> int:
        return len(self._digests)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        digest = self._digest(key)
        i = bisect_left(self._digests, digest)
        return i < len(self._digests) and self._digests[i] == digest

"""The primary's replication log: every replicated and local write, numbered in commit order.

Each transaction that touches a replicated or local key gets the next index (``last_wal``) and
one record, ``core/replication/log/<index>`` → the keys it wrote, their class and the SHA-256 of
the new ciphertext (values are read from storage when shipped: the log holds no secret and never
the same bytes twice). The record is committed in the same physical transaction as the write
(``storage/tap.py``), so the log and the data never disagree, on any backend. Performance
secondaries take the records that hold a replicated key (``last_performance_wal`` counts them);
DR secondaries take every record. The oldest records past ``retain`` are deleted as new ones
come; a secondary further behind starts over from a snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ..storage.base import TxnOp, scan_all
from ..storage.tap import TappedPhysical
from .keys import IGNORED, REPLICATED, SHARED_TABLES, Class, KeyClassifier
from .merkle import KeyspaceHash

LOG_PREFIX = "core/replication/log/"
RETAIN = 100_000
# Keys whose writes change which mounts are local: the classifier reloads before the next write.
TABLE_KEYS = frozenset(
    {"core/mounts", "core/auth", "core/local-mounts", "core/local-auth", "core/audit", "core/local-audit"}
)
_DROPS_PER_WRITE = 2  # oldest records deleted with each new one, so a lowered retention catches up

MountLister = Callable[[], Iterable[tuple[str, str, bool]]]


class LogTruncated(Exception):
    """The records after the asked index are gone: the secondary needs a snapshot."""


def record_key(wal: int) -> str:
    return f"{LOG_PREFIX}{wal:016x}"


class ReplicationLog:
    """The observer of the storage tap while this cluster is a primary."""

    def __init__(
        self, tap: TappedPhysical, classifier: KeyClassifier, mounts: MountLister, retain: int = RETAIN
    ) -> None:
        self.tap = tap
        self.classifier = classifier
        self.mounts = mounts
        self.retain = retain
        self.first = 0  # the oldest record kept; 0 while there is none
        self.last_wal = 0
        self.last_performance_wal = 0
        self.hash = KeyspaceHash()
        self.table_digests: dict[str, bytes] = {}  # SHA-256 of the shared mount tables as stored
        self._tables_changed = True
        self._pending: tuple[list[tuple[str, Class, bytes | None]], int] = ([], 0)
        self._grown = threading.Condition()  # secondaries waiting for a record wake on each one

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Resume from the stored log, hash the replicated keyspace, and observe every write."""
        with self.tap.lock:
            self.classifier.update(self.mounts())
            self._tables_changed = False
            self._resume()
            self.hash = KeyspaceHash()
            for key, value in scan_all(self.tap, "", 1024):
                if self.classifier.classify(key) == REPLICATED:
                    digest = hashlib.sha256(value).digest()
                    self.hash.set(key, digest)
                    if key in SHARED_TABLES:
                        self.table_digests[key] = digest
            self.tap.observer = self

    def stop(self) -> None:
        with self.tap.lock:
            if self.tap.observer is self:
                self.tap.observer = None

    def _resume(self) -> None:
        keys = self.tap.list(LOG_PREFIX)
        if not keys:
            return
        self.first = int(keys[0], 16)
        newest = self.record(int(keys[-1], 16))
        self.last_wal = int(newest["wal"])
        self.last_performance_wal = int(newest["pwal"])

    # -- the observer -----------------------------------------------------------------------
    def extra_ops(self, ops: list[TxnOp]) -> list[TxnOp]:
        if self._tables_changed:
            self.classifier.update(self.mounts())
            self._tables_changed = False
        entries: list[tuple[str, Class, bytes | None]] = []
        for op in ops:
            cls = self.classifier.classify(op.key)
            if cls != IGNORED:
                entries.append((op.key, cls, None if op.value is None else hashlib.sha256(op.value).digest()))
        if not entries:
            self._pending = ([], 0)
            return []
        wal = self.last_wal + 1
        pwal = self.last_performance_wal + any(cls == REPLICATED for _, cls, _ in entries)
        doc = {
            "wal": wal,
            "pwal": pwal,
            "time": time.time(),
            "ops": [[key, cls, None if digest is None else digest.hex()] for key, cls, digest in entries],
        }
        extra = [TxnOp(record_key(wal), orjson.dumps(doc))]
        first = self.first or wal
        while wal - first + 1 > self.retain and len(extra) <= _DROPS_PER_WRITE:
            extra.append(TxnOp(record_key(first), None))
            first += 1
        self._pending = (entries, first)
        return extra

    def committed(self, ops: list[TxnOp], extra: list[TxnOp]) -> None:
        if any(op.key in TABLE_KEYS for op in ops):
            self._tables_changed = True
        entries, first = self._pending
        self._pending = ([], 0)
        if not entries:
            return
        self.first = first
        self.last_wal += 1
        if any(cls == REPLICATED for _, cls, _ in entries):
            self.last_performance_wal += 1
        for key, cls, digest in entries:
            if cls == REPLICATED:
                self.hash.set(key, digest)
                if key in SHARED_TABLES and digest is not None:
                    self.table_digests[key] = digest
        with self._grown:
            self._grown.notify_all()

    def wait_beyond(self, wal: int, timeout: float) -> None:
        """Until a record after ``wal`` exists or ``timeout`` seconds passed (a secondary's long poll)."""
        with self._grown:
            self._grown.wait_for(lambda: self.last_wal > wal, timeout)

    def filtered_root(
        self, groups: Iterable[str], swap: dict[str, bytes | None], sources: dict[str, bytes]
    ) -> tuple[int, str | None]:
        """``last_wal`` and the root a path-filtered secondary should hold there (``merkle.py``'s
        ``root_without``), or None when the mount tables changed since ``sources`` (their
        digests) were read: that view is no longer the one at ``last_wal``."""
        with self.tap.lock:
            if any(
                not hmac.compare_digest(self.table_digests.get(key, b""), digest)
                for key, digest in sources.items()
            ):
                return self.last_wal, None
            return self.last_wal, self.hash.root_without(groups, swap)

    def current_root(self) -> tuple[int, str | None]:
        """``last_wal`` and the root there, read together."""
        with self.tap.lock:
            return self.last_wal, self.hash.root()

    # -- reading ----------------------------------------------------------------------------
    def record(self, wal: int) -> dict[str, Any]:
        raw = self.tap.get(record_key(wal))
        if raw is None:
            raise LogTruncated(f"log index {wal} is no longer kept")
        doc: dict[str, Any] = orjson.loads(raw)
        return doc

    def since(self, wal: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` records after index ``wal``, oldest first."""
        if wal < self.first - 1 or (self.first == 0 and wal < self.last_wal):
            raise LogTruncated(f"the log starts at index {self.first}; {wal} is too far behind")
        after = record_key(wal) if wal > 0 else ""
        page, _ = self.tap.scan(LOG_PREFIX, after, limit)
        return [orjson.loads(raw) for _, raw in page]

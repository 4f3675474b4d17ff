"""A secondary's side: its streams, the hash of what it received, and the guard on its storage.

Started at unseal for each kind this cluster is a secondary of (``manager.py``); each stream's
records land in storage below the tap, and here the hash, the classes and the core's caches follow
them. The index a stream reached is kept in the kind's state behind the barrier.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from ..storage.base import Storage, TxnOp
from ..storage.tap import TappedPhysical
from .guard import SecondaryGuard
from .keys import REPLICATED, KeyClassifier
from .log import TABLE_KEYS, MountLister
from .merkle import KeyspaceHash
from .secondary import fetch_snapshot, install
from .state import SECONDARY, KindState, save_state
from .stream import Stream

log = logging.getLogger("tessera.replication")


class OwnTables:
    """The guard on this secondary's writes; once it wrote its own (local) mount tables, the
    classes follow, so that the data of a mount it just enabled with ``-local`` counts as local."""

    def __init__(self, guard: SecondaryGuard, reload: Callable[[], None]) -> None:
        self.guard = guard
        self.reload = reload

    def extra_ops(self, ops: list[TxnOp]) -> list[TxnOp]:
        return self.guard.extra_ops(ops)

    def committed(self, ops: list[TxnOp], extra: list[TxnOp]) -> None:
        self.guard.committed(ops, extra)
        if any(op.key in TABLE_KEYS for op in ops):
            self.reload()


class Follower:
    def __init__(self, tap: TappedPhysical, storage: Storage, mounts: MountLister) -> None:
        self.tap = tap
        self.storage = storage
        self.mounts = mounts
        self.streams: dict[str, Stream] = {}
        self.hash = KeyspaceHash()
        self.classes = KeyClassifier()
        self.states: dict[str, KindState] = {}
        self.changed: Callable[[list[str]], None] = lambda keys: None  # the core's cache invalidation

    def start(self, states: dict[str, KindState]) -> None:
        """Follow each kind ``states`` say this cluster is a secondary of."""
        self.states = states
        followed = [k for k, s in states.items() if s.mode == SECONDARY and s.connection]
        if not followed:
            return
        self.classes.update(self.mounts())
        self.hash = KeyspaceHash()
        for key in self.tap.list_all(""):
            value = self.tap.get(key)
            if value is not None and self.classes.classify(key) == REPLICATED:
                self.hash.set(key, hashlib.sha256(value).digest())
        self.tap.observer = OwnTables(
            SecondaryGuard(self.classes), lambda: self.classes.update(self.mounts())
        )
        for kind in followed:
            state = states[kind]
            reached, resync = partial(self._reached, kind), partial(self._resync, kind)
            stream = Stream(
                self.tap,
                kind,
                state.connection,
                state.last_remote_wal,
                self._applied,
                reached,
                resync,
                lambda: self.hash.root(),
            )
            self.streams[kind] = stream
            stream.start()

    def stop(self, kind: str | None = None) -> None:
        """Stop one kind's stream (every stream when None); the guard goes with the last."""
        for name in [kind] if kind is not None else list(self.streams):
            stream = self.streams.pop(name, None) if name is not None else None
            if stream is not None:
                stream.stop()
        if not self.streams and isinstance(self.tap.observer, OwnTables):
            self.tap.observer = None

    def _applied(self, ops: list[TxnOp]) -> None:
        """A record from the primary is stored: the hash and the core's caches follow."""
        keys = [op.key for op in ops]
        self.changed(keys)
        if any(key in TABLE_KEYS for key in keys):
            self.classes.update(self.mounts())
        for op in ops:
            if self.classes.classify(op.key) == REPLICATED:
                self.hash.set(op.key, None if op.value is None else hashlib.sha256(op.value).digest())

    def _resync(self, kind: str, context: Any) -> int:
        """Copy the primary's keyspace again over this secondary's replicated keys (its local keys
        stay); the caches, tables and hash follow as for any applied record."""
        wal, entries = fetch_snapshot(self.states[kind].primary_cluster_addr, kind, context)
        replaced = [key for key in self.tap.list_all("") if self.classes.classify(key) == REPLICATED]
        self._applied(install(self.tap, entries, replaced))
        return wal

    def _reached(self, kind: str, wal: int) -> None:
        """Keep the stream's index (without the manager's lock: it is held while streams stop)."""
        state = self.states.get(kind)
        if state is None or state.mode != SECONDARY or state.last_remote_wal == wal:
            return
        state.last_remote_wal = wal
        try:
            save_state(self.storage, kind, state)
        except Exception as exc:  # sealed meanwhile: the stream resumes from the older index
            log.warning("replication: could not keep the stream's index %d: %s", wal, exc)

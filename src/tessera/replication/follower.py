"""A secondary's side: its streams, the hash of what it received, the guard on its storage, and
the requests it forwards to its primary (``forwarding.py``).

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

from ..framework.errors import CodedError
from ..storage.base import Storage, TxnOp
from ..storage.tap import TappedPhysical
from .forwarding import WRITE_VISIBLE_SECONDS, ForwardedAnswer, ForwardedRequest, entity_on, failed, send
from .guard import SecondaryGuard
from .keys import LOCAL, REPLICATED, KeyClassifier
from .log import TABLE_KEYS, MountLister
from .merkle import KeyspaceHash
from .secondary import fetch_snapshot, install
from .state import SECONDARY, KindState, save_state
from .stream import Stream

log = logging.getLogger("tessera.replication")


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
        """Follow each kind ``states`` say this cluster is a secondary of; guard the storage while
        it is a secondary of any kind (one with no primary known too: its writes go nowhere)."""
        self.states = states
        secondary = [k for k, s in states.items() if s.mode == SECONDARY]
        if not secondary:
            return
        self.classes.update(self.mounts())
        self.hash = KeyspaceHash()
        for key in self.tap.list_all(""):
            value = self.tap.get(key)
            if value is not None and self.classes.classify(key) == REPLICATED:
                self.hash.set(key, hashlib.sha256(value).digest())
        self.hold()
        for kind in secondary:
            if states[kind].connection:
                self.follow(kind)

    def hold(self) -> None:
        """Writes of replicated keys go to the primary from now on, and the classes follow the
        mount tables this secondary writes itself (``guard.py``)."""
        self.tap.observer = SecondaryGuard(self.classes, self.mounts)

    def follow(self, kind: str) -> None:
        """Stream ``kind``'s primary from the index its state names (-1: copy the primary first)."""
        state = self.states[kind]
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
        if not self.streams and isinstance(self.tap.observer, SecondaryGuard):
            self.tap.observer = None

    def entity_on_primary(self, alias: dict[str, Any]) -> str:
        """A login's entity, made by the primary; once it streamed in (or after the bounded wait)."""
        stream = self.streams.get("performance")
        if stream is None:
            raise CodedError(500, "this performance secondary follows no primary: use update-primary")
        entity_id, wal = entity_on(stream.connection["primary_cluster_addr"], stream.context, alias)
        stream.wait_for(wal, WRITE_VISIBLE_SECONDS)
        return entity_id

    def forward(self, request: ForwardedRequest) -> ForwardedAnswer:
        """A performance secondary's write, served by its primary and applied here before the
        answer goes out (or after ``WRITE_VISIBLE_SECONDS``, when the stream lags that much)."""
        stream = self.streams.get("performance")
        if stream is None:
            return failed("(none)", "this performance secondary follows no primary: use update-primary")
        answer = send(stream.connection["primary_cluster_addr"], stream.context, request)
        if answer.status < 400 and not stream.wait_for(answer.wal, WRITE_VISIBLE_SECONDS):
            log.warning("replication: a forwarded write (index %d) was not applied here in time", answer.wal)
        return answer

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
        """Copy the primary's keyspace again over the keys it ships this secondary (a performance
        secondary's local keys stay); the caches, tables and hash follow as for any applied record."""
        wal, entries = fetch_snapshot(self.states[kind].primary_cluster_addr, kind, context)
        shipped = (REPLICATED,) if kind == "performance" else (REPLICATED, LOCAL)
        replaced = [key for key in self.tap.list_all("") if self.classes.classify(key) in shipped]
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

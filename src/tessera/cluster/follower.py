"""A worker keeping up with the active process: its keyring, its commits, its seal.

The active process publishes where it stands (``interfaces.ChangeFeed``): the newest commit and
the unseal epoch. Before each request the worker compares both with what it has applied; when
they differ it applies the keys committed since (``invalidation.py``), rebuilds its state, or
follows a seal or a new unseal (the keyring arrives over its pipe, ``pool.py``).

All of that happens under the worker's state lock held exclusively (:class:`~.rwlock.ReadWriteLock`),
which requests hold shared: no request sees the state half-built, and requests do not wait on
each other.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from ..barrier.aes_gcm import Keyring
from ..core.core import Core
from ..storage.sqlite_reader import StandbyWrite
from .interfaces import ChangeFeed
from .invalidation import apply_changes, rebuild
from .rwlock import ReadWriteLock
from .standby_state import StandbyState, build_state

log = logging.getLogger("tessera.worker")

RETRY_AFTER = 1.0  # seconds a worker that could not build its state forwards everything


class Follower:
    """The worker's state, the lock that guards it, and how far it has followed the feed."""

    def __init__(self, core: Core, feed: ChangeFeed, keyrings: bool = True) -> None:
        self.core = core
        self.feed = feed
        # False on an HA node (``cluster/ha/``): unsealed with its own keys, it never seals to
        # follow the active node; a new epoch is a new standby term, built from storage.
        self.keyrings = keyrings
        self.lock = ReadWriteLock()
        self.state = StandbyState()
        self.epoch = 0  # the unseal whose keyring this worker holds (0: none)
        self.seen = 0  # the newest change applied
        self._offered: tuple[int, bytes] | None = None  # (epoch, serialized keyring) from the pipe
        self._offer_lock = threading.Lock()
        self._retry_at = 0.0

    def offer_keyring(self, epoch: int, keyring: bytes) -> None:
        """From the pipe thread: the keyring of the active process's unseal ``epoch``."""
        with self._offer_lock:
            self._offered = (epoch, keyring)
        # Built here, now, rather than by the first request that finds the new epoch: the first
        # build imports the backends' modules and collects garbage (~250 ms measured), which the
        # runner would spend with requests waiting behind it.
        try:
            with self.lock.exclusive:
                self._follow(epoch)
        except Exception:
            log.exception("worker could not build its state; the next request tries again")
            return
        _settle()

    def caught_up(self) -> bool:
        """Whether this worker holds the state of the active process's newest commit (catching
        up first if it can); False while the active process is sealed or the keyring awaited."""
        seq, epoch = self.feed.position()  # two words read from a mapping: the usual answer
        if epoch == self.epoch and (seq == self.seen or not epoch):
            return bool(epoch)
        return self._synced()  # a seal drops the keys there before anything is served from them

    def _synced(self) -> bool:
        """Caught up, alone (no request runs meanwhile); False while this worker cannot serve."""
        following = self.epoch
        with self.lock.exclusive:
            try:
                synced = self._sync()
            except (Exception, StandbyWrite):
                # State this worker cannot build from storage (yet): hand everything over, seal,
                # and try again from the keyring in a second.
                log.exception("worker could not catch up with the active process; forwarding meanwhile")
                self._retry_at = time.monotonic() + RETRY_AFTER
                self._drop()
                self.epoch = 0
                return False
        if self.epoch != following:
            _settle()
        return synced

    def _sync(self) -> bool:
        seq, epoch = self.feed.position()  # again: another thread may have caught up meanwhile
        if epoch != self.epoch:
            if time.monotonic() < self._retry_at:
                return False
            self._follow(epoch)
            if epoch != self.epoch or not epoch:
                return False
        if not epoch:
            return False  # nothing to follow (an HA node that became active: not its state)
        if seq != self.seen:
            self._catch_up()
        return True

    def _follow(self, epoch: int) -> None:
        """The active process sealed (epoch 0) or unsealed again: drop the keys, take the new ones."""
        if epoch and epoch == self.epoch:
            return  # built meanwhile by the other thread
        self._drop()
        self.epoch = 0
        if not self.keyrings:
            if epoch:  # the keyring as stored, the state as stored: a rebuild
                self.seen = self.feed.position()[0]
                self.state = rebuild(self.core, self.state)
                self._built(epoch)
            return
        with self._offer_lock:
            offered = self._offered
        if not epoch or offered is None or offered[0] != epoch:
            return  # forwarded until the keyring of this unseal arrives
        self.core.barrier.install_keyring(Keyring.deserialize(offered[1]))
        self.seen = self.feed.position()[0]
        self.state = build_state(self.core)
        self._built(epoch)

    def _built(self, epoch: int) -> None:
        self.feed.acknowledge(self.seen)
        self.epoch = epoch

    def _drop(self) -> None:
        """Serve nothing from this state any more: a worker seals, an HA node drops its stores."""
        core = self.core
        if not self.keyrings:
            core.release_state()
        elif not core.sealed:
            core.seal()

    def _catch_up(self) -> None:
        rows = self.feed.changes_since(self.seen)
        if not rows:
            return
        if rows[0][0] != self.seen + 1 or apply_changes(self.core, self.state, (k for _, k in rows)):
            self.reload()  # the log was pruned past what this worker saw, or a change needs it
        self.seen = rows[-1][0]
        self.feed.acknowledge(self.seen)

    def reload(self) -> None:
        """Rebuild every piece of state from storage, alone."""
        started = time.perf_counter()
        with self.lock.exclusive:
            self.state = rebuild(self.core, self.state)
        log.info("worker reloaded its state in %.1f ms", (time.perf_counter() - started) * 1000)


def _settle() -> None:
    """After a new unseal's build, as the active process does once started: what the unseal
    built lives on, and the collector's full passes need not walk it (tens of ms per pass)."""
    gc.collect()
    gc.freeze()

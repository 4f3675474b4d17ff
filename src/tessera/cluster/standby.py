"""A worker process's side of a request: serve it here, or hand it to the active process.

Served here (:meth:`Standby.ready`) once the worker has caught up with the change feed and
holds the keyring of the active process's current unseal. Handed over, as Vault's performance
standbys forward to their active node:

- everything under ``sys/`` (seal state, mounts, policies, leases: the active process's business);
- every request while the active process is sealed, while this worker waits for its keyring,
  and while audit devices or rate-limit quotas are configured (each request audited and counted
  once, by one process);
- a request that tried to write: the storage refused it (:class:`StandbyWrite`) before anything
  reached disk, the worker reloads its state (the attempt may have touched in-memory caches) and
  the request goes to the active process, which runs it from the start. Routes seen writing go
  straight there afterwards, except one request in ``PROBE_EVERY`` that is tried here again, so a
  route that writes only sometimes (``auth/token/create`` makes batch and service tokens) comes
  back once it stops.

Requests share the worker's state (:class:`~.rwlock.ReadWriteLock`); catching up, rebuilding
and following a new unseal have it alone, so no request sees it half-built. A request to a mount
whose backend keeps state in memory runs alone too: a write it tries may change that state
before storage refuses it, and no other request may see the change before the rebuild undoes it.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..core.barrier import Keyring
from ..core.core import Core
from ..framework.backend import Backend
from ..storage.sqlite_reader import StandbyWrite
from .interfaces import ChangeFeed, Forwarder
from .invalidation import apply_changes, rebuild
from .rwlock import ReadWriteLock
from .standby_state import StandbyState, build_state

log = logging.getLogger("tessera.worker")

PROBE_EVERY = 64  # requests of a writing route per local try, doubling up to PROBE_MAX
PROBE_MAX = 256
_MAX_ROUTES = 4096
RETRY_AFTER = 1.0  # seconds a worker that could not build its state forwards everything


class Standby:
    """A worker's :class:`~.interfaces.NodeRole`: its sync with the active process, and its way
    to it."""

    def __init__(self, core: Core, feed: ChangeFeed, forwarder: Forwarder) -> None:
        self.core = core
        self.feed = feed
        self.forwarder = forwarder
        self.lock = ReadWriteLock()
        self.state = StandbyState()
        self.epoch = 0  # the unseal whose keyring this worker holds (0: none)
        self.seen = 0  # the newest change applied
        self._offered: tuple[int, bytes] | None = None  # (epoch, serialized keyring) from the pipe
        self._offer_lock = threading.Lock()
        self._writers: dict[tuple[str, str], list[int]] = {}  # writing routes -> [since, interval]
        self._retry_at = 0.0

    # -- keeping up ----------------------------------------------------------------------------
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

    def ready(self, method: str, path: str) -> bool:
        """Catch up with the active process; whether this request may be served here."""
        seq, epoch = self.feed.position()
        if not epoch:
            if self.epoch:  # sealed: drop the keys before anything is served from them
                with self.lock.exclusive:
                    self._sync()
            return False
        if (epoch != self.epoch or seq != self.seen) and not self._synced():
            return False
        if self.state.forward_all or path.startswith("/v1/sys/") or path == "/v1/sys":
            return False
        state = self._writers.get((method, path))
        if state is None:
            return True
        state[0] += 1
        return state[0] % state[1] == 0  # the probe: tried here again

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
                if not self.core.sealed:
                    self.core.seal()
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
        if seq != self.seen:
            self._catch_up()
        return True

    def _follow(self, epoch: int) -> None:
        """The active process sealed (epoch 0) or unsealed again: drop the keys, take the new ones."""
        if epoch and epoch == self.epoch:
            return  # built meanwhile by the other thread
        core = self.core
        if not core.sealed:
            core.seal()
        self.epoch = 0
        with self._offer_lock:
            offered = self._offered
        if not epoch or offered is None or offered[0] != epoch:
            return  # forwarded until the keyring of this unseal arrives
        core.barrier.install_keyring(Keyring.deserialize(offered[1]))
        self.seen = self.feed.position()[0]
        self.state = build_state(core)
        self.feed.acknowledge(self.seen)
        self.epoch = epoch

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

    # -- serving -------------------------------------------------------------------------------
    def answer(self, serve: Callable[..., int], args: Sequence[Any]) -> int:
        """``serve(*args)`` (args as ``forward``'s), sharing the state with other requests, or
        alone when a write it tries would leave in-memory state to undo (see the module)."""
        with self.lock.shared:
            if not self._alone(args[2]):
                return serve(*args)
        with self.lock.exclusive:
            return serve(*args)

    def _alone(self, path: str) -> bool:
        """Whether a refused write on ``path`` leaves state behind that only a rebuild undoes.

        Stores write before they remember (token entries, entities, leases), so a refused write
        leaves no entry behind. A mount whose backend keeps nothing of its storage in memory
        needs nothing more; any other (transit changes its cached key before saving it) does.
        """
        route = self.core.router.match(path[4:]) if path.startswith("/v1/") else None
        return route is None or (
            route.backend.invalidate is not Backend.keeps_nothing and route.entry.type != "token"
        )

    def wrote(self, method: str, path: str) -> None:
        """The request tried to write: remember the route, and drop what it may have touched."""
        writers = self._writers
        state = writers.get((method, path))
        if state is None:
            if len(writers) >= _MAX_ROUTES:
                writers.clear()
            writers[(method, path)] = [0, PROBE_EVERY]
        else:
            state[0], state[1] = 0, min(state[1] * 2, PROBE_MAX)  # writes still: probe less often
        tokens = self.core.tokens
        if tokens is not None:
            tokens.invalidate()  # costs a read or two
        if self._alone(path):  # then this thread holds the lock exclusively (``answer``)
            self.reload()

    def served(self, method: str, path: str) -> None:
        """Served here without writing: a route probed after it wrote is served here again."""
        self._writers.pop((method, path), None)

    def forward(
        self,
        proto: Any,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes | None,
        remote_addr: str,
        tls: bool,
    ) -> int:
        """Hand the request over; its answer goes out when the active process sends it."""
        self.forwarder.forward(proto, method, raw_path, query_string, headers, body, remote_addr, tls)
        return 0


def _settle() -> None:
    """After a new unseal's build, as the active process does once started: what the unseal
    built lives on, and the collector's full passes need not walk it (tens of ms per pass)."""
    gc.collect()
    gc.freeze()

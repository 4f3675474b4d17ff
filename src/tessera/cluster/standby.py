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

Requests share the worker's state; catching up, rebuilding and following a new unseal have it
alone (``follower.py``), so no request sees it half-built. A request to a mount
whose backend keeps state in memory runs alone too: a write it tries may change that state
before storage refuses it, and no other request may see the change before the rebuild undoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.core import Core
from ..framework.backend import Backend
from ..routing.router import Route
from .follower import Follower
from .interfaces import ChangeFeed, Forwarder, HandedOver

PROBE_EVERY = 64  # requests of a writing route per local try, doubling up to PROBE_MAX
PROBE_MAX = 256
_MAX_ROUTES = 4096


class Unmatched:
    """The type of :data:`UNMATCHED`: no route was matched for the request yet."""


UNMATCHED = Unmatched()


def keeps_state(route: Route | None) -> bool:
    """Whether a refused write on ``route`` leaves state behind that only a rebuild undoes.

    Stores write before they remember (token entries, entities, leases), so a refused write
    leaves no entry behind. A mount whose backend keeps nothing of its storage in memory needs
    nothing more; any other (transit changes its cached key before saving it) does, and so does
    a path no mount serves.
    """
    return route is None or (
        route.backend.invalidate is not Backend.keeps_nothing and route.entry.type != "token"
    )


class Standby:
    """A worker's :class:`~.interfaces.NodeRole`: its sync with the active process, and its way
    to it."""

    def __init__(self, core: Core, feed: ChangeFeed, forwarder: Forwarder, keyrings: bool = True) -> None:
        self.core = core
        self.follower = Follower(core, feed, keyrings)  # keyrings: see Follower
        self.forwarder = forwarder
        self._writers: dict[tuple[str, str], list[int]] = {}  # writing routes -> [since, interval]

    def ready(self, method: str, path: str) -> bool:
        """Catch up with the active process; whether this request may be served here."""
        if not self.follower.caught_up():
            return False
        if self.follower.state.forward_all or path.startswith("/v1/sys/") or path == "/v1/sys":
            return False
        writers = self._writers
        state = writers.get((method, path)) if writers else None  # usually none: no key to build
        if state is None:
            return True
        state[0] += 1
        return state[0] % state[1] == 0  # the probe: tried here again

    def answer(
        self, serve: Callable[..., int], args: Sequence[Any], route: Route | Unmatched | None = UNMATCHED
    ) -> int:
        """``serve(*args)`` (args as ``forward``'s), sharing the state with other requests, or
        alone when a write it tries would leave in-memory state to undo (see the module).
        ``route``: the path's mount, when the caller matched it already (an HA node's role)."""
        lock = self.follower.lock
        lock.acquire_shared()  # not ``with lock.shared``: two calls fewer on every request
        try:
            alone = self._alone(args[2]) if isinstance(route, Unmatched) else keeps_state(route)
            if not alone:
                return serve(*args)
        finally:
            lock.release_shared()
        with lock.exclusive:
            return serve(*args)

    def match(self, path: str) -> Route | None:
        """The mount that serves ``path`` (``/v1/...``) here."""
        return self.core.router.match(path[4:])

    def _alone(self, path: str) -> bool:
        """Whether a refused write on ``path`` leaves state behind that only a rebuild undoes."""
        return keeps_state(self.match(path) if path.startswith("/v1/") else None)

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
            self.follower.reload()

    def served(self, method: str, path: str) -> None:
        """Served here without writing: a route probed after it wrote is served here again."""
        writers = self._writers
        if writers:  # usually none: no key to build
            writers.pop((method, path), None)

    def forward(self, request: Sequence[Any]) -> int:
        """Hand the request over; its answer goes out when the active process sends it."""
        self.forwarder.forward(HandedOver(*request))
        return 0

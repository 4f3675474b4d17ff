"""A standby node's side of every request: its own status here, reads from its own state when
it is a performance standby (``perf.py``), everything else to the active node.

As Vault's standbys: a standby answers sys/health, sys/seal-status, sys/leader, sys/init,
sys/unseal and sys/seal itself (they describe this node). A performance standby also serves what
writes nothing (``cluster/standby.py`` decides, trying a route here and forwarding it when the
storage refuses its write); a plain standby (``disable_performance_standby``) forwards the rest.
The active node, and a sealed one, serve everything themselves. A request that was running when
the node lost the lock and then tries to write is stopped by the storage before it reaches the
database (``StandbyWrite``) and forwarded as well.

Read-your-writes: the answer of a request forwarded from a performance standby goes out once this
node's change feed holds every commit made before it (bounded), so the client's next request
here sees its write. ``X-Vault-Inconsistent: forward-active-node`` sends a request to the active
node whatever it is.

With worker processes (``workers = N``, ``cluster/pg_worker.py``) the node's main process holds
this role for their requests too (its internal listener), and tells them, before a forwarded
request's answer goes out, to read their feed again: their next request sees that write as well.

``X-Vault-Index`` (``index_state.py``): the active node's answer to a write carries where the
cluster stood after it; a request presenting one is served on a performance standby once its
feed has read that far (waiting ``INDEX_WAIT_SECONDS`` at most), else forwarded with
``X-Vault-Inconsistent: forward-active-node`` or refused with 412 (Vault's default, ``fail``).
A forged index is refused everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ...core.core import Core
from ...routing.router import Route
from ..cluster_tls import NodeTLS
from ..interfaces import HandedOver
from ..standby import UNMATCHED, Unmatched
from .forwarder import ActiveForwarder, ServeHere
from .index_state import INDEX_HEADER, refuse
from .node import HANode
from .peer_role import PeerRole
from .perf import PerformanceStandby

LOCAL_PATHS = frozenset(
    "/v1/sys/" + name for name in ("health", "seal-status", "leader", "init", "unseal", "seal")
)


INCONSISTENT_HEADER = "x-vault-inconsistent"
FORWARD_ACTIVE = "forward-active-node"
INDEX_WAIT_SECONDS = 2.0  # a request's X-Vault-Index waits this long at most for the feed


class HARole:
    """The :class:`~tessera.cluster.interfaces.NodeRole` of an HA node."""

    def __init__(self, core: Core, node: HANode, forwarder: ActiveForwarder) -> None:
        self.core = core
        self.node = node
        self.forwarder = forwarder
        # A listener's way to serve a request here (``App._answer_here``), for a request that
        # waited for an active node while this one became it.
        self._serve_here: Callable[..., int] | None = None
        # Per request thread: served from the performance standby's state, and the request to
        # forward once its hold on that state is released (a forward takes a round trip).
        self._local = threading.local()
        # With worker processes: told before a forwarded request's answer goes out
        # (``PostgreSQLPhysical.publish_change``: the workers read their feed again).
        self._told: Callable[[], None] | None = None

    def _perf(self, path: str) -> PerformanceStandby | None:
        """The performance standby that may serve ``path``, if this node is one now."""
        node = self.node
        perf = node.perf
        if perf is None or node.active or not node.joined or self.core.sealed or path in LOCAL_PATHS:
            return None
        return perf

    def ready(self, method: str, path: str) -> bool:
        """Served here when active, sealed or out of the cluster, or when it is about this node;
        on a performance standby, what its state may serve."""
        node = self.node
        if node.active or not node.joined or self.core.sealed:
            return True
        if path in LOCAL_PATHS or not path.startswith("/v1/"):
            return True
        perf = self._perf(path)
        if perf is None or not perf.standby.ready(method, path):
            return False
        # A path no mount here serves: perhaps one mounted an instant ago (the feed is a few ms
        # behind the active node); the active node answers it, or says it is not there.
        route = perf.standby.match(path)
        # Kept for ``answer`` on this thread (the runner's, unless the dispatcher hands the
        # request to its side pool, whose threads match again): one match per request.
        self._local.matched = (path, route)
        return route is not None

    def _matched(self, path: str) -> Route | Unmatched | None:
        """The route ``ready`` matched for ``path`` on this thread, taken once."""
        local = self._local
        matched = getattr(local, "matched", None)
        if matched is None or matched[0] != path:
            return UNMATCHED
        local.matched = None
        return matched[1]  # type: ignore[no-any-return]

    def answer(self, serve: Callable[..., int], args: Sequence[Any]) -> int:
        perf = self._perf(args[2])
        if perf is None:
            return self.node.index.serve(serve, args) if self.node.active else serve(*args)
        forward_active = args[4].get(INCONSISTENT_HEADER) == FORWARD_ACTIVE
        wanted = args[4].get(INDEX_HEADER)
        if wanted is not None:
            xid = self.node.index.required(wanted)
            if xid is None:
                return refuse(args)
            if not perf.feed.reached(xid, 0.0 if forward_active else INDEX_WAIT_SECONDS):
                return self.forward(args) if forward_active else refuse(args)
            if not perf.standby.follower.caught_up():  # ``ready`` caught up before the wait
                return self.forward(args)
        elif forward_active:
            return self.forward(args)
        local = self._local
        local.perf, local.pending = True, None
        try:
            route = self._matched(args[2])
            status = perf.standby.answer(lambda *args: self._on_state(perf, serve, args), args, route)
        finally:
            local.perf, pending, local.pending = False, local.pending, None
        return status if pending is None else self.forward(pending)

    def _on_state(self, perf: PerformanceStandby, serve: Callable[..., int], args: Sequence[Any]) -> int:
        """Serve on the standby's state (its lock held), unless it went meanwhile: the node is
        becoming active, and the request waits for that (``forward``, then ``ServeHere``)."""
        if not perf.standby.follower.epoch:
            self._local.pending = args
            return 0
        return serve(*args)

    def wrote(self, method: str, path: str) -> None:
        """A request tried to write: a performance standby remembers the route (and reloads
        what it may have touched); otherwise the node lost the lock meanwhile."""
        perf = self.node.perf
        if perf is not None and getattr(self._local, "perf", False):
            perf.standby.wrote(method, path)

    def served(self, method: str, path: str) -> None:
        perf = self.node.perf
        if perf is not None and getattr(self._local, "perf", False):
            perf.standby.served(method, path)

    def forward(self, request: Sequence[Any]) -> int:
        local = self._local
        if getattr(local, "perf", False):
            local.pending = request  # sent by ``answer`` once the state's hold is released
            return 0
        perf = self.node.perf
        serving = perf if perf is not None and perf.serving else None
        if serving is not None or self._told is not None:
            request = (_Settling(request[0], serving, self._told), *request[1:])
        try:
            return self.forwarder.forward(HandedOver(*request))
        except ServeHere:
            assert self._serve_here is not None  # set with the role (prepare)
            return self._serve_here(*request)

    def prepare(self, app: Any) -> None:
        """Every listener's app consults this role (``build_listeners``'s ``prepare``)."""
        app.standby = self
        self._serve_here = app._answer_here

    def prepare_workers(self, app: Any, physical: Any) -> None:
        """The internal listener of this node's worker processes: their requests are this node's
        (``prepare``), and the answers this node forwards tell them to read their feed again."""
        self.prepare(app)
        self._told = physical.publish_change

    def prepare_cluster(self, app: Any) -> None:
        """The cluster listener's app: forwarded requests, served while this node is active."""
        app.standby = PeerRole(self.node)
        app.cluster_listener = True

    def cluster_tls(self) -> NodeTLS | None:
        """This node's cluster certificate, for its cluster listener."""
        return self.node.tls.material()

    def close(self) -> None:
        self.node.close()
        self.forwarder.close()
        if self.node.perf is not None:
            self.node.perf.close()


class _Settling:
    """A client's connection whose answer from the active node waits for this node's feed, and
    tells the node's worker processes (``told``) before it goes out."""

    def __init__(self, proto: Any, perf: PerformanceStandby | None, told: Callable[[], None] | None) -> None:
        self.proto = proto
        self.perf = perf
        self.told = told

    def response_bytes(self, status: int, headers: Any, body: bytes) -> None:
        if self.perf is not None:
            self.perf.settle()
        if self.told is not None:
            self.told()
        self.proto.response_bytes(status, headers, body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.proto, name)

"""A standby node's side of every request: its own status here, everything else to the active node.

As Vault's standbys without performance-standby reads: a standby answers sys/health,
sys/seal-status, sys/leader, sys/init, sys/unseal and sys/seal itself (they describe this node),
and forwards the rest. The active node, and a sealed one, serve everything themselves. A request
that was running when the node lost the lock and then tries to write is stopped by the storage
before it reaches the database (``StandbyWrite``) and forwarded as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...core.core import Core
from ..cluster_tls import NodeTLS
from ..interfaces import HandedOver
from .forwarder import ActiveForwarder, ServeHere
from .node import HANode
from .peer_role import PeerRole

LOCAL_PATHS = frozenset(
    "/v1/sys/" + name for name in ("health", "seal-status", "leader", "init", "unseal", "seal")
)


class HARole:
    """The :class:`~tessera.cluster.interfaces.NodeRole` of an HA node."""

    def __init__(self, core: Core, node: HANode, forwarder: ActiveForwarder) -> None:
        self.core = core
        self.node = node
        self.forwarder = forwarder
        # A listener's way to serve a request here (``App._answer_here``), for a request that
        # waited for an active node while this one became it.
        self._serve_here: Callable[..., int] | None = None

    def ready(self, method: str, path: str) -> bool:
        """Served here when active, sealed or out of the cluster, or when it is about this node."""
        node = self.node
        if node.active or not node.joined or self.core.sealed:
            return True
        return path in LOCAL_PATHS or not path.startswith("/v1/")

    def answer(self, serve: Callable[..., int], args: Sequence[Any]) -> int:
        return serve(*args)

    def wrote(self, method: str, path: str) -> None:
        """A request tried to write after this node lost the lock: it is forwarded next."""

    def served(self, method: str, path: str) -> None:
        """Nothing to remember: which requests stay here depends on the role alone."""

    def forward(self, request: Sequence[Any]) -> int:
        try:
            return self.forwarder.forward(HandedOver(*request))
        except ServeHere:
            assert self._serve_here is not None  # set with the role (prepare)
            return self._serve_here(*request)

    def prepare(self, app: Any) -> None:
        """Every listener's app consults this role (``build_listeners``'s ``prepare``)."""
        app.standby = self
        self._serve_here = app._answer_here

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

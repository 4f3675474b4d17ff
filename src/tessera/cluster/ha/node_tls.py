"""This node's cluster certificate: the CA behind the barrier, and a certificate signed with it.

The first active node makes the CA and stores it at ``core/cluster/tls`` (a fenced write, as
Vault keeps its cluster key at ``core/cluster/local/info``); every unsealed node reads it
through the barrier and signs itself a certificate for its ``cluster_addr``, again when less
than a third of its life is left. Sealed, the node forgets both: its cluster listener refuses
every handshake and its forwarder has nothing to show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...barrier.aes_gcm import BarrierError
from ...core.core import Core
from ..cluster_tls import ClusterCA, NodeTLS, host_of, issue_node, make_ca

log = logging.getLogger("tessera.ha")

CA_KEY = "core/cluster/tls"


class NodeCertificates:
    """``material()`` for the cluster listener and the forwarder; ``ensure_ca()`` on becoming active."""

    def __init__(
        self, core: Core, node_id: str, cluster_addr: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.core = core
        self.node_id = node_id
        self.host = host_of(cluster_addr)
        self.clock = clock
        self._ca: ClusterCA | None = None
        self._mine: NodeTLS | None = None
        self._lock = threading.Lock()

    def material(self) -> NodeTLS | None:
        """This node's certificate, issued now if it has none or it is due; None while sealed
        or before an active node made the CA."""
        mine = self._mine
        if self.core.sealed:
            return None
        if mine is not None and not mine.due(self.clock()):
            return mine
        with self._lock:
            if self._mine is not mine and self._mine is not None:
                return self._mine  # another thread issued it meanwhile
            ca = self._ca or self._read_ca()
            if ca is None:
                return None
            self._ca = ca
            self._mine = issue_node(ca, self.host, self.node_id, self.clock())
            log.info("HA: issued this node's cluster certificate for %s", self.host)
            return self._mine

    def ca(self) -> ClusterCA | None:
        """The cluster's CA (read through the barrier once); None while sealed or before one exists."""
        if self.core.sealed:
            return None
        ca = self._ca
        if ca is None:
            with self._lock:
                ca = self._ca = self._ca or self._read_ca()
        return ca

    def ensure_ca(self) -> None:
        """On becoming active: the cluster's CA, made once for the cluster (a fenced write)."""
        with self._lock:
            if self._ca is None:
                self._ca = self._read_ca()
            if self._ca is None:
                ca = make_ca(self.core.cluster_name, self.clock())
                self.core.barrier.put_json(CA_KEY, ca.stored())
                self._ca = ca
                log.info("HA: made the cluster's CA")

    def forget(self) -> None:
        """Sealed: nothing of the cluster's TLS stays in memory."""
        with self._lock:
            self._ca = self._mine = None

    def _read_ca(self) -> ClusterCA | None:
        barrier = self.core.barrier
        try:
            stored = barrier.get_json(CA_KEY)
        except BarrierError:  # written under a key term newer than this node's keyring
            barrier.reload_keyring()
            stored = barrier.get_json(CA_KEY)
        return ClusterCA.from_stored(stored) if stored else None

"""High availability on PostgreSQL: one active node, standbys that forward to it.

- ``election.py``: a session advisory lock on a dedicated connection and the epoch it bumps;
- ``node.py``: what becoming active or standby does to this node's core (its state, its fencing);
- ``role.py`` and ``forwarder.py``: a standby's requests, handed to the active node over the
  cluster's mutual TLS (``node_tls.py``: the CA and this node's certificate), which its cluster
  listener serves (``peer_role.py``).
- ``perf.py`` and ``feed.py``: a performance standby's own state, following the change feed.

The fencing itself is the storage's (``storage/pg_fencing.py``): every write of the active node
proves it still holds the epoch, so a node that lost the lock commits nothing more.
"""

from __future__ import annotations

from ...core.core import Core
from ...storage.postgresql import PostgreSQLPhysical
from .election import NodeInfo
from .forwarder import ActiveForwarder
from .node import HANode
from .perf import PerformanceStandby
from .role import HARole


def attach_ha(
    core: Core, physical: PostgreSQLPhysical, api_addr: str, cluster_addr: str, performance: bool = True
) -> HARole:
    """Make ``core`` an HA node (it joins the election once unsealed); the role the HTTP layer
    consults for every request (``App.standby``). ``performance``: its standby serves reads
    (Vault's performance standby; ``disable_performance_standby`` turns it off)."""
    node = HANode(core, physical, api_addr, cluster_addr)
    forwarder = ActiveForwarder(
        node.leader,
        node.info.node_id,
        lambda: node.active,
        tls=node.tls.material,
        storage_failure=node.storage_failure,
    )
    if performance:
        node.perf = PerformanceStandby(core, physical.dsn, physical.changes, forwarder)
    else:
        # No feed follows the active node's writes here: a standby's cache (the cluster CA's
        # absence, read before the first active node made it) would never be dropped.
        core.barrier.cache = None
    return HARole(core, node, forwarder)


__all__ = ["ActiveForwarder", "HANode", "HARole", "NodeInfo", "PerformanceStandby", "attach_ha"]

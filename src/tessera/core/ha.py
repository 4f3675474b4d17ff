"""What the system backend asks of high availability (sys/leader, sys/health, sys/ha-status,
sys/step-down): the cluster layer's HA node answers it (``cluster/ha/node.py``).

A protocol here, in the core, so that ``system/`` reads HA state without importing the layer
above it. ``Core.ha`` is None on a server without HA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class LeaderInfo:
    """The active node as the HA table names it."""

    node_id: str
    api_addr: str
    cluster_addr: str
    active_since: float  # UNIX time at which it took over


class HAView(Protocol):
    """One node's view of its HA cluster."""

    @property
    def active(self) -> bool:
        """Whether this node holds the lock and the current epoch (serves everything)."""

    @property
    def joined(self) -> bool:
        """Whether this node takes part in the election (it does while unsealed)."""

    @property
    def performance_standby(self) -> bool:
        """Whether this node is a standby serving reads from its own state (Vault's performance
        standby)."""

    def leader(self) -> LeaderInfo | None:
        """The active node, as last read (None while none is known)."""

    def nodes(self) -> list[dict[str, Any]]:
        """sys/ha-status's nodes: the active one first, then standbys heard from recently."""

    def step_down(self) -> None:
        """Give up the lock (sys/step-down on the active node); another node takes over."""

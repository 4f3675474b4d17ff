"""The pending-enable marker: which node alone may lead the cluster after a secondary enable.

``secondary/enable`` copies the primary's keyspace (with the primary's keyring) and seals: the new
secondary state can only be written through the barrier once the enabling node is unsealed with
the primary's keys, so that node holds it in memory until then (``manager.py``). In an HA cluster
another node, unsealed first, would otherwise become active and run the primary's data without
being a secondary, losing the enable. The enabling node therefore leaves this marker in physical
storage, outside the barrier and in plaintext: it holds no secret, only the enabling node's API
address and an expiry. While it stands, no other node takes the leader lock
(``cluster/ha/node.py``); the enabling node's unseal saves the state and removes it.

If the enabling node dies (or is not unsealed) before ``MARKER_TTL`` runs out, the state it held
is gone with it: past the expiry any node may lead, and the first to do so logs that the enable
was lost and removes the marker. The cluster then holds a copy of the primary's data without
being a secondary; enable it again with a new activation token. A restarted enabling node (same
API address, no state in memory) does the same at once, without waiting for the expiry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from ..storage.base import Physical

MARKER_KEY = "core/replication/pending-enable"  # under core/replication/: never replicated
MARKER_TTL = 15 * 60.0  # seconds an operator has to unseal the enabling node with the primary's keys


@dataclass(frozen=True)
class PendingEnable:
    """A secondary enable whose state only ``node`` (its API address) holds, until ``until``."""

    kind: str
    node: str
    until: float

    def blocks(self, node: str, now: float) -> bool:
        """True when ``node`` must not lead: another node holds the enable and has time left."""
        return node != self.node and now < self.until


def mark(physical: Physical, kind: str, node: str, ttl: float = MARKER_TTL) -> None:
    doc = {"kind": kind, "node": node, "until": time.time() + ttl}
    physical.put(MARKER_KEY, orjson.dumps(doc))


def read(physical: Physical) -> PendingEnable | None:
    raw = physical.get(MARKER_KEY)
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
        return PendingEnable(str(doc["kind"]), str(doc["node"]), float(doc["until"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # unreadable: blocks no node


def clear(physical: Physical) -> None:
    physical.delete(MARKER_KEY)

"""The documents ``sys/replication/*/status`` answer with, in Vault's field names."""

from __future__ import annotations

import time
from typing import Any

from .state import PRIMARY, SECONDARY, KindState, Secondary
from .stream import Stream

GO_ZERO_EPOCH = "-62135596800"  # Vault's last_corruption_check_epoch before any check
CONNECTED_WITHIN = 30.0  # seconds since the last exchange for a peer to count as connected


def _beat(at: float) -> tuple[str, str]:
    """(connection_status, last_heartbeat) for a peer last heard from at ``at`` (0: never)."""
    status = "connected" if at and time.time() - at < CONNECTED_WITHIN else "disconnected"
    return status, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)) if at else ""


def _secondary_row(secondary: Secondary) -> dict[str, Any]:
    status, heartbeat = _beat(secondary.last_heartbeat)
    return {
        "api_address": secondary.api_address,
        "clock_skew_ms": "0",
        "cluster_address": secondary.cluster_address,
        "connection_state": "ready" if secondary.last_heartbeat else "idle",
        "connection_status": status,
        "last_heartbeat": heartbeat,
        "node_id": secondary.id,
    }


def primary_status(
    kind: str, state: KindState, root: str, last_wal: int, last_performance_wal: int
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cluster_id": state.cluster_id,
        "corrupted_merkle_tree": False,
        "known_secondaries": sorted(state.secondaries),
        "last_corruption_check_epoch": GO_ZERO_EPOCH,
        "last_reindex_epoch": "0",
        "last_wal": last_wal,
        "merkle_root": root,
        "mode": PRIMARY,
        "primary_cluster_addr": state.primary_cluster_addr,
        "secondaries": [_secondary_row(s) for _, s in sorted(state.secondaries.items()) if s.activated],
        "state": "running",
    }
    if kind == "dr":
        out["last_dr_wal"] = last_wal
    else:
        out["last_performance_wal"] = last_performance_wal
        out["ssct_generation_counter"] = 0
    return out


def secondary_status(state: KindState, stream: Stream | None, root: str) -> dict[str, Any]:
    addr = state.primary_cluster_addr
    primaries = []
    if state.connection:
        status, heartbeat = _beat(stream.last_heartbeat if stream is not None else 0.0)
        primaries.append(
            {
                "api_address": state.connection.get("primary_api_addr", ""),
                "cluster_address": addr,
                "connection_status": status,
                "last_heartbeat": heartbeat,
            }
        )
    checked = GO_ZERO_EPOCH if stream is None or not stream.last_check else str(int(stream.last_check))
    return {
        "cluster_id": state.cluster_id,
        "connection_state": stream.connection_state if stream is not None else "idle",
        "corrupted_merkle_tree": stream is not None and stream.corrupted,
        "known_primary_cluster_addrs": [addr] if addr else [],
        "last_corruption_check_epoch": checked,
        "last_remote_wal": stream.last_remote_wal if stream is not None else state.last_remote_wal,
        "merkle_root": root,
        "mode": SECONDARY,
        "primaries": primaries,
        "primary_cluster_addr": addr,
        "secondary_id": state.connection.get("secondary_id", ""),
        "state": stream.state if stream is not None else "idle",
    }

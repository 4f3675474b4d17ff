"""sys/metrics: the in-memory telemetry snapshot, in the JSON shape Vault's in-memory sink gives.

Tessera reports gauges only, read when asked: whether it is unsealed, how many leases and token
expiries are scheduled (``vault.expire.num_leases``), the expiry backlog (what is past its expiry
but still stored, and how late the oldest is), the token cache and, on SQLite, the WAL.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..core.expiry_watch import measure
from ..framework import Operation, Path, Request, Response

if TYPE_CHECKING:
    from ..core.core import Core


def _gauge(name: str, value: float, **labels: str) -> dict[str, Any]:
    return {"Name": name, "Value": value, "Labels": labels}


def _rss_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def gauges(core: Core) -> list[dict[str, Any]]:
    cluster = core.cluster_name
    backlog = measure(core)
    tokens, manager = core.tokens, core.lease_manager
    scheduled = (tokens.scheduled_count() if tokens is not None else 0) + (
        manager.scheduled_count() if manager is not None else 0
    )
    out = [
        _gauge("vault.core.active", 1, cluster=cluster),
        _gauge("vault.core.unsealed", 0 if core.sealed else 1, cluster=cluster),
        _gauge("vault.expire.num_leases", scheduled),
        _gauge("tessera.expire.backlog", backlog.tokens, kind="token"),
        _gauge("tessera.expire.backlog", backlog.leases, kind="lease"),
        _gauge("tessera.expire.late_seconds", round(backlog.late_seconds, 3)),
        _gauge("tessera.expire.restored", 1 if manager is None or manager.loaded.is_set() else 0),
        _gauge("tessera.token.cache_entries", tokens.cache_size() if tokens is not None else 0),
        _gauge("tessera.runtime.rss_bytes", _rss_bytes()),
    ]
    wal_stats = getattr(core.physical, "wal_stats", None)
    if wal_stats is not None:
        out.extend(_gauge(f"tessera.sqlite.{name}", value) for name, value in wal_stats().items())
    return out


def metrics_paths(core: Core) -> list[Path]:
    def read(req: Request, data: Any) -> Response:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime())
        body = {"Timestamp": stamp, "Gauges": gauges(core), "Points": [], "Counters": [], "Samples": []}
        return Response(raw_body=body)

    return [
        Path(
            r"metrics$",
            operations={Operation.READ: read},
            synopsis="Export the metrics aggregated for telemetry purpose.",
        )
    ]

"""Projected throughput of a cluster of 1, 3 and 5 Tessera nodes on PostgreSQL, from CPU per request.

A 2-core machine cannot run five nodes, a database and wrk and say anything about a cluster, so
the bench measures CPU per request per node role and projects: every node and the database on
machines of their own, each with as many cores as this one, CPU-bound. A request a standby serves
itself (reads and batch tokens, once standbys serve them: wt/pgfeed) scales with the nodes; any
other is forwarded to the active node, so the cluster serves what the active node can. Either
way PostgreSQL's CPU per request caps it. This is arithmetic, not a measurement.
"""

from __future__ import annotations

import os
from typing import Protocol

NODES = (1, 3, 5)
# What a standby answers without the active node (wt/pgfeed); every other scenario is forwarded.
LOCAL_ON_STANDBY = frozenset(
    {
        "token create batch",
        "token create orphan batch",
        "lookup-self service",
        "lookup-self batch",
        "kv1 read service",
        "kv1 read batch",
        "kv2 read",
        "transit encrypt batch",
    }
)


class Measured(Protocol):
    mode: str
    scenario: str
    server: str

    @property
    def cpu_us_per_request(self) -> float: ...

    @property
    def db_cpu_us_per_request(self) -> float | None: ...


def projected_rps(
    active_us: float, standby_us: float, db_us: float, nodes: int, local: bool, cores: float
) -> float:
    """Requests per second of ``nodes`` nodes (one active), each node and the database CPU-bound
    on ``cores`` cores of its own."""
    active = cores * 1e6 / max(active_us, 1e-9)
    standby = cores * 1e6 / max(standby_us, 1e-9)
    served = active + (nodes - 1) * standby if local else active
    return min(served, cores * 1e6 / db_us) if db_us > 0 else served


def projection_table(rows: list[Measured], cores: float | None = None) -> str:
    """Markdown: per postgresql scenario, the projected req/s of 1, 3 and 5 nodes."""
    cores = float(cores or os.cpu_count() or 1)
    by_key: dict[str, dict[str, Measured]] = {}
    for row in rows:
        if row.mode == "postgresql":
            by_key.setdefault(row.scenario, {})[row.server] = row
    lines = []
    for scenario, roles in by_key.items():
        active = roles.get("tessera")
        if active is None or active.db_cpu_us_per_request is None:
            continue
        standby = roles.get("standby", active)
        local = scenario in LOCAL_ON_STANDBY
        cells = " | ".join(
            f"{projected_rps(active.cpu_us_per_request, standby.cpu_us_per_request, active.db_cpu_us_per_request, n, local, cores):,.0f}"
            for n in NODES
        )
        where = "every node" if local else "active only"
        lines.append(f"| {scenario} | {where} | {cells} |")
    if not lines:
        return ""
    heads = " | ".join(f"{n} node{'s' if n > 1 else ''}" for n in NODES)
    return (
        f"\nProjected (not measured): each node and PostgreSQL CPU-bound on {cores:.0f} cores of its own, "
        "from the CPU µs/req above (standby figures where measured, else the active's)\n\n"
        f"| scenario | served by | {heads} |\n|---|---|{'---:|' * len(NODES)}\n" + "\n".join(lines) + "\n"
    )

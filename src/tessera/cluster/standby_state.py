"""What a worker builds from the active process's storage at its unseal, read only.

The same stores an unseal builds (policies, tokens, leases, mounts, quotas), with no ticker and
no audit devices: a worker never revokes, expires or audits. With audit devices or quotas
configured it hands every request to the active process (:attr:`StandbyState.forward_all`),
so that each is audited and counted once, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..audit.broker import AUDIT_TABLE, LOCAL_AUDIT_TABLE, AuditBroker
from ..core.core import Core
from ..core.quotas import QuotaManager
from ..framework.backend import Backend
from ..leases.manager import ExpirationManager
from ..policy.store import PolicyStore
from ..storage.base import StorageView
from ..tokens.store import TokenStore


@dataclass
class StandbyState:
    """What the worker learnt at its last build, beside what it put on the core."""

    # Storage prefix (``logical/<uuid>/``, ``auth/<uuid>/``) -> the backend mounted there.
    backends: dict[str, Backend] = field(default_factory=dict)
    forward_all: bool = True  # audit devices or quotas: only the active process serves


def build_state(core: Core) -> StandbyState:
    """A worker's unseal: ``core`` gets its stores again, read from storage."""
    barrier = core.barrier
    ident = barrier.get_json("core/cluster") or {}
    core.cluster_id = ident.get("id", "")
    core.cluster_name = core.config.cluster_name or ident.get("name", "")
    core.policy_store = PolicyStore(StorageView(barrier, "sys/"))
    core.tokens = TokenStore(StorageView(barrier, "sys/token/"), barrier)
    core.tokens.setup(expiry=False)
    core.lease_manager = ExpirationManager(core, StorageView(barrier, "sys/expire/"))
    core._load_tables()
    core.quotas = QuotaManager(core)
    core.quotas.setup()
    core.audit = AuditBroker(core)  # no devices: nothing is served here while any exist
    audited = any(barrier.get_json(table) for table in (AUDIT_TABLE, LOCAL_AUDIT_TABLE))
    core.tokens.revoke_hooks.append(core._destroy_cubbyhole)
    core.tokens.revoke_hooks.append(core.lease_manager.revoke_by_token)
    core.replication.load(observe=False)  # sys/health's modes; the active process keeps the log
    core.wire_pipeline()
    return StandbyState(
        backends={route.entry.storage_prefix: route.backend for route in core.router.routes()},
        forward_all=audited or core.quotas.any,
    )

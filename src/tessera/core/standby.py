"""A worker process's core: the active process's state, read from the shared SQLite file.

A worker (``server/workers.py``) serves what it can answer without writing (batch-token
creation, logins that spend nothing, reads, lookups, transit encryption) and hands the rest to
the active process. Its caches stay exact through the change feed (``storage/changefeed.py``):
before each request it applies the keys committed since the last one, here.

- token store keys (``sys/token/...``) and leases (``sys/expire/...``): the read cache's
  entry, and the token store's cached entry, deny-list entry or issuer epoch;
- a mount's keys: its backend's ``invalidate`` (Vault's InvalidateFunc) says what it drops;
- anything else (the mount and audit tables, policies, quotas, the keyring, a mount whose backend
  cannot say): everything is reloaded, as at an unseal. Those change rarely.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..storage.base import StorageView

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger("tessera.standby")

_TOKEN_STORE = "sys/token/"


def apply_changes(core: Core, keys: Iterable[str]) -> bool:
    """Drop what ``keys`` make stale; True when that took a full reload."""
    cache = core.barrier.cache
    backends = core.standby_backends
    reload_all = False
    for key in keys:
        if cache is not None:
            cache.invalidate(key)
        if key.startswith(_TOKEN_STORE):
            if core.tokens is not None:  # entries, the batch deny-list, issuer epochs
                core.tokens.invalidate_key(key[len(_TOKEN_STORE) :])
            continue
        if key.startswith("sys/expire/"):
            continue
        if key.startswith(("logical/", "auth/")):
            table, _, rest = key.partition("/")
            mount_id, _, inner = rest.partition("/")
            backend = backends.get(f"{table}/{mount_id}/")
            if backend is not None and backend.invalidate is not None:
                backend.invalidate(inner)
                continue
        if not reload_all:
            log.debug("worker reloads all state: %s changed", key)
        reload_all = True
    if reload_all:
        reload(core)
    return reload_all


def reload(core: Core) -> None:
    """Throw away every piece of state built from storage and build it again, as at an unseal."""
    with core.state_lock:
        if core.barrier.sealed:
            return
        core.release_state()
        core.barrier.reload_keyring()  # sys/rotate may have added a term
        if core.barrier.cache is not None:
            core.barrier.cache.clear()
        build_state(core)
    log.debug("worker reloaded its state from storage")


def build_state(core: Core) -> None:
    """A worker's unseal: the state an unseal builds, read only; no ticker, no audit devices.

    A worker never revokes, expires or audits: with audit devices or quotas configured it hands
    every request to the active process (``standby_forward_all``), so that each is audited and
    counted once, in one place.
    """
    from ..audit.broker import AUDIT_TABLE, LOCAL_AUDIT_TABLE, AuditBroker
    from ..leases.manager import ExpirationManager
    from ..policy.store import PolicyStore
    from ..tokens.store import TokenStore
    from .quotas import QuotaManager

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
    core.standby_forward_all = audited or core.quotas.any
    core.tokens.revoke_hooks.append(core._destroy_cubbyhole)
    core.tokens.revoke_hooks.append(core.lease_manager.revoke_by_token)
    core.standby_backends = {route.entry.storage_prefix: route.backend for route in core.router.routes()}
    core.wire_pipeline()

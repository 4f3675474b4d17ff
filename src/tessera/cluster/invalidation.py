"""A worker's caches, kept exact: what each key the active process committed makes stale.

Before a request, a worker applies the keys committed since the last one (``standby.py``):

- token store keys (``sys/token/...``), leases (``sys/expire/...``) and the replication log's
  records: the read cache's entry, and the token store's cached entry, deny-list entry or issuer
  epoch;
- a mount's keys: its backend's ``invalidate`` (Vault's InvalidateFunc) says what it drops;
- anything else (the mount and audit tables, policies, quotas, the keyring, a mount whose backend
  cannot say): everything is rebuilt, as at an unseal. Those change rarely.

The caller holds the worker's state lock exclusively: no request runs while state changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..core.core import Core
from ..replication.log import LOG_PREFIX
from .standby_state import StandbyState, build_state

log = logging.getLogger("tessera.standby")

_TOKEN_STORE = "sys/token/"


def apply_changes(core: Core, state: StandbyState, keys: Iterable[str]) -> bool:
    """Drop what ``keys`` make stale; True when that takes a full rebuild (the caller's)."""
    cache = core.barrier.cache
    rebuild = False
    for key in keys:
        if cache is not None:
            cache.invalidate(key)
        if key.startswith(_TOKEN_STORE):
            if core.tokens is not None:  # entries, the batch deny-list, issuer epochs
                core.tokens.invalidate_key(key[len(_TOKEN_STORE) :])
            continue
        if key.startswith(("sys/expire/", LOG_PREFIX)):  # no cache holds leases or log records
            continue
        if key.startswith(("logical/", "auth/")):
            table, _, rest = key.partition("/")
            mount_id, _, inner = rest.partition("/")
            backend = state.backends.get(f"{table}/{mount_id}/")
            if backend is not None and backend.invalidate is not None:
                backend.invalidate(inner)
                continue
        if not rebuild:
            log.debug("worker reloads all state: %s changed", key)
        rebuild = True
    return rebuild


def rebuild(core: Core, state: StandbyState) -> StandbyState:
    """Throw away every piece of state built from storage and build it again, as at an unseal."""
    if core.barrier.sealed:
        return state
    core.release_state()
    core.barrier.reload_keyring()  # sys/rotate may have added a term
    if core.barrier.cache is not None:
        core.barrier.cache.clear()
    return build_state(core)

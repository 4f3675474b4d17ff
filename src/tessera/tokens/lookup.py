"""The ``data`` of auth/token/lookup*: the token's facts as Vault shows them (never the parent)."""

from __future__ import annotations

import time
from typing import Any

from ..gocompat.times import rfc3339_nano, rfc3339_seconds
from .common import identity_policies
from .entry import BATCH, TokenEntry
from .host import TokenHost


def lease_renewable(entry: TokenEntry, now: float | None = None) -> bool:
    """Vault's leaseEntry.renewable(): never for non-expiring or expired tokens."""
    if entry.type == BATCH or entry.expire_time <= 0:
        return False
    if entry.expired(now):
        return False
    return entry.renewable


def lookup_data(core: TokenHost, entry: TokenEntry, token_id: str) -> dict[str, Any]:
    now = time.time()
    data: dict[str, Any] = {
        "accessor": entry.accessor,
        "creation_time": int(entry.creation_time),
        "creation_ttl": int(entry.creation_ttl),
        "display_name": entry.display_name,
        "entity_id": entry.entity_id,
        "expire_time": None,
        "explicit_max_ttl": int(entry.explicit_max_ttl),
        "id": token_id,
        "meta": entry.meta,
        "num_uses": entry.num_uses,
        "orphan": entry.parent == "",
        "path": entry.path,
        "policies": list(entry.policies),
        "renewable": False,
        "ttl": 0,
        "type": entry.type,
    }
    if entry.role:
        data["role"] = entry.role
    if entry.period:
        data["period"] = int(entry.period)
    if entry.bound_cidrs:
        data["bound_cidrs"] = list(entry.bound_cidrs)
    if entry.type == BATCH:
        data["issue_time"] = rfc3339_seconds(entry.creation_time)
        if entry.creation_ttl:
            data["expire_time"] = rfc3339_seconds(entry.creation_time + entry.creation_ttl)
            data["ttl"] = max(0, int(entry.creation_time + entry.creation_ttl - now))
    else:
        if entry.last_renewal_time:
            data["last_renewal_time"] = int(entry.last_renewal_time)
            data["last_renewal"] = rfc3339_nano(entry.last_renewal_time)
        if entry.expire_time > 0:
            data["expire_time"] = rfc3339_nano(entry.expire_time)
            data["ttl"] = max(0, int(entry.expire_time - now))
        data["renewable"] = lease_renewable(entry, now)
        data["issue_time"] = rfc3339_nano(entry.issue_time or entry.creation_time)
    if entry.entity_id:
        ident = identity_policies(core, entry.entity_id)
        if ident:
            data["identity_policies"] = ident
            data["external_namespace_policies"] = {}
    return dict(sorted(data.items()))

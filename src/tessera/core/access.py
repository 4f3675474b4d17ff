"""Which ACL a token acts under: its own policies plus its entity's, read at request time.

Entity policies are never frozen into a token, so every check asks the identity engine (when
one is mounted) for them; the policy store caches the compiled ACL per set of names.
"""

from __future__ import annotations

from typing import Any

from ..policy.acl import ACL
from ..policy.store import PolicyStore
from ..routing.router import Router
from ..tokens.common import entity_policy_names
from ..tokens.entry import TokenEntry


def entity_view(router: Router, entry: TokenEntry | None) -> dict[str, Any] | None:
    """The identity entity a token acts as (for templated policies)."""
    if entry is None or not entry.entity_id:
        return None
    identity = router.get("identity/")
    if identity is None:
        return None
    getter = getattr(identity.backend, "entity_view", None)
    return getter(entry.entity_id) if getter else {"id": entry.entity_id}


def acl_for(policies: PolicyStore, router: Router, entry: TokenEntry) -> ACL:
    """The token's policies plus its entity's, read now (entity policies are never frozen)."""
    names = tuple(entry.policies)
    if entry.entity_id and names != ("root",):
        extra = [p for p in entity_policy_names(router, entry.entity_id) if p not in names]
        if extra:
            names = names + tuple(extra)
    return policies.acl(names, entity_view(router, entry))

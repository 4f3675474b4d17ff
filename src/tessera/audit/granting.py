"""Which policies granted a request (``policy_results.granting_policies`` in an audit line).

OpenBao's ACL remembers, per merged rule and capability, the policies that contributed it. Only
the single most specific rule decides a request, so the granting policies are those with a rule
of exactly that pattern carrying the operation's capability, in the token's policy order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..framework import Operation, Request

if TYPE_CHECKING:
    from ..core.core import Core

_LISTING = ("list", "scan")


def _winning_pattern(acl: Any, perms: Any) -> tuple[str, str] | None:
    """(pattern, kind) of the merged rule ``perms`` in ``acl``: exact, prefix or wildcard."""
    for pattern, candidate in getattr(acl, "_exact", {}).items():
        if candidate is perms:
            return pattern, "exact"
    for pattern, candidate in getattr(acl, "_prefix", {}).items():
        if candidate is perms:
            return pattern, "prefix"
    for wildcard in getattr(acl, "_wildcards", ()):
        if wildcard.perms is perms:
            return wildcard.pattern, "wildcard"
    return None


def _kind(rule: Any) -> str:
    if rule.has_segment_wildcards:
        return "wildcard"
    return "prefix" if rule.is_prefix else "exact"


def granting_policies(core: Core, entry: Any, req: Request) -> list[str]:
    """Names of the policies that granted ``req`` to ``entry`` (``["root"]`` for a root token)."""
    from ..policy.acl import OPERATION_BITS

    if list(entry.policies) == ["root"]:
        return ["root"]
    op = req.operation.value
    if req.operation == Operation.HELP:
        return []
    need = OPERATION_BITS.get(op)
    store = core.policy_store
    if need is None or store is None:
        return []
    try:
        acl = core.acl_for(entry)
        path = (req.full_path or req.path).lstrip("/")
        perms = acl.lookup(path, op in _LISTING)
        found = _winning_pattern(acl, perms) if perms is not None else None
    except Exception:
        return []
    if found is None:
        return []
    pattern, kind = found
    entity = core.entity_for(entry)
    names: list[str] = []
    for name in entry.policies:
        stored = store.get(name)
        if stored is None:
            continue
        try:
            policy = store._resolve(stored, entity)
        except Exception:
            continue
        for rule in policy.paths:
            if rule.path == pattern and _kind(rule) == kind and rule.bitmap & need:
                names.append(name)
                break
    return names

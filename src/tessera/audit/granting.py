"""Which policies granted a request (``policy_results.granting_policies`` in an audit line).

OpenBao's ACL remembers, per merged rule and capability, the policies that contributed it; ours
does too (``ACLResult.granted_by``). Only the single most specific rule decides a request, so the
granting policies are the token's policies with a block of that rule carrying the operation's
capability, in the token's policy order.
"""

from __future__ import annotations

from ..framework import Operation, Request
from ..policy.acl import ACL, ACLResult
from ..tokens.entry import TokenEntry

_LISTING = ("list", "scan")


def decided_by(acl: ACL, req: Request) -> ACLResult | None:
    """The answer of the rule that governs ``req`` (None when no rule does)."""
    path = (req.full_path or req.path).lstrip("/")
    perms = acl.lookup(path, req.operation.value in _LISTING)
    return None if perms is None else perms.result


def granting_policies(entry: TokenEntry, req: Request, result: ACLResult | None) -> list[str]:
    """Names of the token's policies that granted ``req`` (``["root"]`` for a root token)."""
    if list(entry.policies) == ["root"]:
        return ["root"]
    if req.operation == Operation.HELP or result is None:
        return []
    own = set(entry.policies)
    return [name for name in result.granting_policies(req.operation.value) if name in own]

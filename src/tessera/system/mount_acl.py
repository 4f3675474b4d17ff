"""Whether a token "can reach" a mount: Vault's hasMountAccess, used by sys/internal/ui/mounts.

A mount is visible when the token has any non-deny capability on the mount path itself, or on any
path its policies name under the mount (exact and glob rules), or through a ``+`` segment-wildcard
rule that could match below the mount. The CLI's KV commands depend on this check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Rules = Mapping[str, Iterable[str]]


def has_mount_access(acl: Any, path: str) -> bool:
    """``path`` is the mount's full route prefix with its trailing slash (``secret/``, ``auth/token/``)."""
    if "deny" not in acl.capabilities(path):
        return True
    exact, prefix, segment = acl_rules(acl)
    for rules in (exact, prefix):
        for pattern, caps in rules.items():
            caps = set(caps)
            if pattern.startswith(path) and caps and "deny" not in caps:
                return True
    if not segment:
        # Vault returns the longest prefix rule's permissions here, even a deny: access is granted.
        return any(path.startswith(p) for p in prefix)
    return any(_bare_mount_match(path, pattern, set(caps)) for pattern, caps in segment.items())


def _bare_mount_match(path: str, full_pattern: str, caps: set[str]) -> bool:
    """CheckAllowedFromNonExactPaths(path, bareMount=true) for one ``+`` pattern."""
    if not full_pattern:
        return False
    is_prefix = full_pattern.endswith("*")
    pattern = full_pattern[:-1] if is_prefix else full_pattern
    acl_parts = pattern.split("/")
    path_parts = path.split("/")
    segments: list[str] = []
    for i, part in enumerate(acl_parts):
        if i >= len(path_parts):
            return False
        if part == "+" or part == path_parts[i]:
            segments.append(path_parts[i])
        elif is_prefix and i == len(acl_parts) - 1 and path_parts[i].startswith(part):
            segments.extend(path_parts[i:])
        # The mount path has a trailing slash, so its last real segment is at len - 2.
        if i == len(path_parts) - 2:
            joined = "/".join(segments) + "/"
            return joined.startswith(path) and bool(caps) and "deny" not in caps
    return False


def acl_rules(acl: Any) -> tuple[Rules, Rules, Rules]:
    """(exact, prefix, segment-wildcard) rules of an ACL as pattern → capability names.

    Prefix patterns are given without their trailing ``*``; segment-wildcard patterns keep it.
    """
    getter = getattr(acl, "rule_capabilities", None)
    if callable(getter):
        result = getter()
        return result[0], result[1], result[2]
    return {}, {}, {}

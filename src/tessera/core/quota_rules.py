"""Which quota rule applies to a request: Vault's precedence, shared by both quota types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class _Scoped(Protocol):
    mount_path: str
    path_suffix: str
    role: str


Q = TypeVar("Q", bound=_Scoped)


def most_specific(quotas: Sequence[Q], path: str, mount_path: str, role: str) -> Q | None:
    """Vault's queryQuota over rules of one type: a role rule of the login's mount, then a path
    rule (exact, then ``*`` globs from the longest), then the mount's, then the global one."""
    if role:
        for q in quotas:
            if q.mount_path == mount_path and q.role == role and not q.path_suffix:
                return q
    suffix = path.removeprefix(mount_path).removesuffix("/") if mount_path else ""
    by_suffix = {
        q.path_suffix: q for q in quotas if mount_path and q.mount_path == mount_path and q.path_suffix
    }
    if suffix in by_suffix:
        return by_suffix[suffix]
    for i in range(len(suffix) + 1):
        glob = suffix[: len(suffix) - i] + "*"
        if glob in by_suffix:
            return by_suffix[glob]
    for q in quotas:
        if mount_path and q.mount_path == mount_path and not q.path_suffix and not q.role:
            return q
    for q in quotas:
        if not q.mount_path and not q.path_suffix and not q.role:
            return q
    return None

"""The token entry: what a token means, whether it is stored (service) or carried (batch)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

SERVICE = "service"
BATCH = "batch"

SERVICE_PREFIXES = ("hvs.", "s.")
BATCH_PREFIXES = ("hvb.", "b.")
RECOVERY_PREFIXES = ("hvr.", "r.")

# num_uses of a token whose revocation is under way (Vault's tokenRevocationPending).
REVOCATION_PENDING = -1


def is_batch_id(token_id: str) -> bool:
    return token_id.startswith(BATCH_PREFIXES)


@mypyc_attr(native_class=False)
@dataclass
class TokenEntry:
    # The raw ID is never persisted: ``id`` is filled from the caller's token on lookup.
    id: str = ""
    salted_id: str = ""
    accessor: str = ""
    # The parent's salted ID ("" for orphans).
    parent: str = ""
    policies: list[str] = field(default_factory=list)
    path: str = ""
    meta: dict[str, str] | None = None
    display_name: str = ""
    num_uses: int = 0
    creation_time: float = 0.0
    creation_ttl: int = 0
    # TTL granted by the last issue/renewal, used by a renewal without increment.
    ttl: int = 0
    # Only when given on the request (lookup shows it); role values are read from the role.
    explicit_max_ttl: int = 0
    period: int = 0
    role: str = ""
    entity_id: str = ""
    bound_cidrs: list[str] = field(default_factory=list)
    type: str = SERVICE
    cubbyhole_id: str = ""
    namespace_id: str = "root"
    renewable: bool = True
    issue_time: float = 0.0
    expire_time: float = 0.0  # 0 = never
    last_renewal_time: float = 0.0
    internal_meta: dict[str, str] = field(default_factory=dict)
    no_identity_policies: bool = False
    # What the issuing auth method said, kept for renewals (Vault keeps it in the token's lease).
    max_ttl: int = 0
    auth_num_uses: int = 0
    auth_internal_data: dict[str, Any] = field(default_factory=dict)
    # Batch tokens: the issuance path that minted it and that path's epoch then (tokens/issuers.py),
    # and for a child token its parent's epoch then (the parent is an issuer too).
    issuer: str = ""
    epoch: int = 0
    parent_epoch: int = 0

    @classmethod
    def blank(cls) -> TokenEntry:
        """``TokenEntry()``: every field at its default, the lists and dicts new, in a third of
        the constructor's steps (callgrind: the dataclass ``__init__`` stores 32 attributes one
        by one, past the 30 an instance keeps inline, and calls four factories; this copies one
        ready dict). Every token minted starts here; callers set the fields that differ."""
        entry = object.__new__(cls)
        state = _DEFAULTS.copy()
        state["policies"] = []
        state["bound_cidrs"] = []
        state["internal_meta"] = {}
        state["auth_internal_data"] = {}
        entry.__dict__ = state
        return entry

    @property
    def orphan(self) -> bool:
        return self.parent == ""

    @property
    def lease_id(self) -> str:
        """Vault's lease ID for a service token: its creation path and salted ID."""
        return f"{self.path}/{self.salted_id}" if self.salted_id else ""

    @property
    def is_batch(self) -> bool:
        return self.type == BATCH

    def is_root(self) -> bool:
        return self.policies == ["root"]

    def expired(self, now: float | None = None) -> bool:
        if self.expire_time <= 0:
            return False
        return (now if now is not None else time.time()) >= self.expire_time

    def remaining_ttl(self, now: float | None = None) -> int:
        if self.expire_time <= 0:
            return 0
        left = self.expire_time - (now if now is not None else time.time())
        return max(0, int(left))

    def clone(self) -> TokenEntry:
        """A copy callers may change freely (the store caches entries)."""
        twin = copy.copy(self)
        twin.policies = list(self.policies)
        twin.bound_cidrs = list(self.bound_cidrs)
        twin.meta = dict(self.meta) if self.meta is not None else None
        twin.internal_meta = dict(self.internal_meta)
        twin.auth_internal_data = dict(self.auth_internal_data)
        return twin

    def to_storage(self) -> dict[str, Any]:
        """The stored form: every field but the raw ID (shallow: it is serialised at once)."""
        d = self.__dict__.copy()
        d.pop("id", None)
        return d

    @classmethod
    def from_storage(cls, d: dict[str, Any]) -> TokenEntry:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# The fields' defaults, which ``TokenEntry.blank`` copies (the four mutable ones replaced there:
# tests/tokens/test_entry_blank.py holds the two to the dataclass's own defaults).
_DEFAULTS: dict[str, Any] = TokenEntry().__dict__.copy()

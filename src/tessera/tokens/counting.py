"""What lease-count quotas need to know about tokens, and what the stores need from the counter.

The counter itself (core/lease_quotas.py) sits above the token store and the expiration manager;
they reach it only through :class:`LeaseCounting`, handed to them after unseal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson
from mypy_extensions import mypyc_attr

from ..framework.errors import VaultError
from ..policy.store import RESPONSE_WRAPPING_POLICY_NAME
from .entry import TokenEntry

ROLE_META = "role_name"  # where a login (AppRole) leaves the role its token was issued for


@mypyc_attr(native_class=False)  # as every VaultError: framework/errors.py
class LeaseQuotaExceeded(VaultError):
    """Vault's ErrLeaseCountQuotaExceeded, wrapped with the request path: 429 in multierror form."""

    status = 429
    wrapped = True

    def __init__(self, path: str) -> None:
        super().__init__(f"request path {orjson.dumps(path).decode()}: lease count quota exceeded")


class LeaseCounting(Protocol):
    """The live lease counts: ``acquire`` raises :class:`LeaseQuotaExceeded` when a rule is full."""

    @property
    def active(self) -> bool: ...

    def acquire(self, key: str, path: str, role: str) -> None: ...

    def release(self, key: str, path: str, role: str) -> None: ...

    def release_tokens(self, entries: Sequence[TokenEntry]) -> None: ...


def token_counts(entry: TokenEntry) -> bool:
    """Whether a token is a lease for quota purposes: a service token that expires, not a wrapper."""
    return (
        entry.type == "service"
        and entry.expire_time > 0
        and RESPONSE_WRAPPING_POLICY_NAME not in entry.policies
    )


def token_role(entry: TokenEntry) -> str:
    return (entry.meta or {}).get(ROLE_META, "")

"""The running core as the services built at unseal see it (audit, quotas, lockout), as a Protocol.

They are built by the Core and reach back into it; naming this instead of ``Core`` keeps the
imports running one way (core.py imports them, they import only this).
"""

from __future__ import annotations

from typing import Protocol

from ..leases.manager import ExpirationManager, LeaseCounts
from ..routing.mounts import MountEntry
from ..tokens.host import TokenHost
from .config import CoreConfig


class Host(TokenHost, Protocol):
    """An unsealed core: its configuration, mount tables and stores."""

    @property
    def config(self) -> CoreConfig: ...

    @property
    def auth_mounts(self) -> list[MountEntry]: ...

    @property
    def lease_manager(self) -> ExpirationManager: ...

    @property
    def lease_counter(self) -> LeaseCounts | None: ...

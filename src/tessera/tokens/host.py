"""What the token functions need from the running server around them, as a Protocol.

The Core satisfies it; tokens/ names only this, so it never imports the Core that sits above it.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..barrier.aes_gcm import Barrier
from ..policy.acl import ACL
from ..policy.store import PolicyStore
from ..routing.mounts import MountEntry
from ..routing.router import Router
from .entry import TokenEntry
from .store import TokenStore


class TokenHost(Protocol):
    """The parts of an unsealed core that issuing, renewing and wrapping tokens read."""

    @property
    def barrier(self) -> Barrier: ...

    @property
    def router(self) -> Router: ...

    @property
    def mounts(self) -> list[MountEntry]: ...

    @property
    def tokens(self) -> TokenStore: ...

    @property
    def policy_store(self) -> PolicyStore: ...

    @property
    def cluster_name(self) -> str: ...

    def mount_ttls(self, entry: MountEntry | None) -> tuple[int, int]: ...

    def find_mount(self, table: str, path: str) -> MountEntry | None: ...

    def acl_for(self, entry: TokenEntry) -> ACL: ...

    def entity_for(self, entry: TokenEntry | None) -> dict[str, Any] | None: ...

    def resolve_token(self, token_id: str) -> TokenEntry | None: ...

    def entity_on_primary(self, mount_accessor: str, alias_name: str, metadata: dict[str, str]) -> str:
        """On a performance secondary: a login's new entity, made by the primary."""
        ...

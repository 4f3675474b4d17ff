"""What the handlers of one AppRole mount share (kept below the path modules that use it)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .store import AppRoleStore

if TYPE_CHECKING:
    from ...routing.mounts import MountEntry


class AppRole:
    """What the handlers of one mount share: the core, the mount entry and the store."""

    def __init__(self, core: Any, entry: MountEntry | None) -> None:
        self.core = core
        self.entry = entry
        self.store = AppRoleStore()
        self.tidy_guard = threading.Lock()

    def mount_ttls(self) -> tuple[int, int]:
        """The mount's effective (default, max) lease TTLs."""
        if self.core is None:
            return 768 * 3600, 768 * 3600
        default, maximum = self.core.mount_ttls(self.entry)
        return int(default), int(maximum)

"""The KV secrets engine: version 1 (pass-through) or 2 (versioned), chosen by the mount option."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import v1, v2

if TYPE_CHECKING:
    from ...core.core import Core
    from ...framework import Backend
    from ...routing.mounts import MountEntry


def factory(core: Core, entry: MountEntry) -> Backend:
    """``options.version == "2"`` builds the versioned engine; absent, "1" or "" the pass-through."""
    version = str((entry.options or {}).get("version") or "")
    if version == "2":
        return v2.build(core, entry)
    return v1.build(core, entry)

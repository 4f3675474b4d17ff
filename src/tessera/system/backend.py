"""Assembles the system backend from one module per concern.

Each module listed in ``PATH_MODULES`` exposes a function returning a list of framework Paths;
the module that owns a concern (mounts, policies, wrapping, ...) declares them there.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from ..framework import Backend, Path

if TYPE_CHECKING:
    from ..core.core import Core
    from ..core.mounts import MountEntry

# (module, function) pairs; each function takes the Core and returns its Paths.
PATH_MODULES: list[tuple[str, str]] = [
    ("tessera.system.mounts", "mount_paths"),
    ("tessera.system.keys", "key_paths"),
    ("tessera.system.internal", "internal_paths"),
    ("tessera.system.hastatus", "ha_status_paths"),
    ("tessera.system.policies", "policy_paths"),
    ("tessera.system.capabilities", "capabilities_paths"),
    ("tessera.system.wrapping", "wrapping_paths"),
    ("tessera.system.leases", "lease_paths"),
    ("tessera.system.tools", "tools_paths"),
    ("tessera.system.audit", "audit_paths"),
    ("tessera.system.quotas", "quota_paths"),
    ("tessera.system.raw", "raw_paths"),
    ("tessera.system.metrics", "metrics_paths"),
]

# Root-protected (sudo) paths of the system backend, relative to sys/ (spec: surroundings §2.6).
ROOT_PATHS = [
    "auth/*",
    "remount",
    "audit",
    "audit/*",
    "raw",
    "raw/*",
    "rotate",
    "rotate/keyring",
    "rotate/root",
    "config/cors",
    "config/auditing/*",
    "config/ui/headers/*",
    "plugins/catalog/*",
    "revoke-prefix/*",
    "revoke-force/*",
    "leases/revoke-prefix/*",
    "leases/revoke-force/*",
    "leases/lookup/*",
    "leases",
    "internal/inspect/*",
]


def factory(core: Core, entry: MountEntry) -> Backend:
    paths: list[Path] = []
    for module_name, func in PATH_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        paths.extend(getattr(module, func)(core))
    return Backend(
        paths=paths,
        help="The system backend is built in to Tessera and cannot be remounted or unmounted.",
        root_paths=ROOT_PATHS,
        backend_type="system",
    )

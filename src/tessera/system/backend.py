"""Assembles the system backend from one module per concern.

Each module owning a concern (mounts, policies, wrapping, ...) declares its paths in a function
returning framework Paths; whether a path needs a token or sudo is part of its declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..framework import Backend, Path
from .audit import audit_paths
from .capabilities import capabilities_paths
from .ceremonies import ceremony_paths
from .hastatus import ha_status_paths
from .internal import internal_paths
from .keyops import keyops_paths
from .keys import key_paths
from .leases import lease_paths
from .lifecycle import lifecycle_paths
from .locked_users import locked_users_paths
from .metrics import metrics_paths
from .mounts import mount_paths
from .policies import policy_paths
from .quotas import quota_paths
from .raw import raw_paths
from .rawhttp import raw_table
from .replication import replication_paths
from .token_issuers import token_issuer_paths
from .tools import tools_paths
from .wrapping import wrapping_paths

if TYPE_CHECKING:
    from ..core.core import Core
    from ..routing.mounts import MountEntry

# Each takes the Core and returns its Paths, in routing order.
PATH_SOURCES: list[Callable[[Core], list[Path]]] = [
    mount_paths,
    key_paths,
    internal_paths,
    ha_status_paths,
    policy_paths,
    capabilities_paths,
    wrapping_paths,
    lease_paths,
    token_issuer_paths,
    tools_paths,
    audit_paths,
    quota_paths,
    keyops_paths,
    raw_paths,
    locked_users_paths,
    metrics_paths,
    replication_paths,
]

# Vault's special paths of the system backend for which Tessera declares no path: they keep their
# meaning (a 403 before a 404, no token needed) for a request that finds no handler.
UNDECLARED_ROOT_PATHS = [
    "raw",  # sys/raw is declared only where the configuration turns it on; sudo either way
    "raw/*",
    "rotate/root",
    "config/cors",
    "config/auditing/*",
    "config/ui/headers/*",
    "plugins/catalog/*",
    "internal/inspect/*",
]
UNDECLARED_UNAUTHENTICATED_PATHS = [
    "wrapping/pubkey",
    "internal/ui/namespaces",
    "mfa/validate",
]


def raw_declarations(core: Core) -> list[Path]:
    """The system backend's paths that have a raw handler (answered before the pipeline)."""
    return [*lifecycle_paths(), *ceremony_paths(), *metrics_paths(core)]


def raw_endpoints(core: Core) -> dict[str, Path]:
    """The raw paths by request path ("sys/health"), for the HTTP layer: built once per server,
    they answer sealed or not without the Core's pipeline."""
    return raw_table(raw_declarations(core))


def factory(core: Core, entry: MountEntry) -> Backend:
    paths = [path for source in PATH_SOURCES for path in source(core)]
    paths += [*lifecycle_paths(), *ceremony_paths()]
    return Backend(
        paths=paths,
        help="The system backend is built in to Tessera and cannot be remounted or unmounted.",
        root_paths=list(UNDECLARED_ROOT_PATHS),
        unauthenticated_paths=list(UNDECLARED_UNAUTHENTICATED_PATHS),
        backend_type="system",
    )

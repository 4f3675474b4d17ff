"""Which backend type builds which backend. Imports are lazy to keep start-up cheap."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from ..framework import Backend
from ..routing.mounts import MountEntry
from .host import Host
from .recording import AuditRecorder

# Builds the backend of one mount; given the running core (it satisfies Host) and the entry.
Factory = Callable[[Host, MountEntry], Backend]

# type -> "module:function"
SECRETS_ENGINES: dict[str, str] = {
    "kv": "tessera.secrets.kv:factory",
    "generic": "tessera.secrets.kv:factory",
    "cubbyhole": "tessera.secrets.cubbyhole:factory",
    "system": "tessera.system.backend:factory",
    "identity": "tessera.secrets.identity:factory",
    "transit": "tessera.secrets.transit:factory",
    "database": "tessera.secrets.database:factory",
    "pki": "tessera.secrets.pki:factory",
}

AUTH_METHODS: dict[str, str] = {
    "token": "tessera.auth.token:factory",
    "approle": "tessera.auth.approle:factory",
    "userpass": "tessera.auth.userpass:factory",
    "jwt": "tessera.auth.jwt:factory",
    "oidc": "tessera.auth.jwt:factory",
    "cert": "tessera.auth.cert:factory",
    "github": "tessera.auth.github:factory",
}


# The audit broker: audit devices sit above the core, which builds the broker by name as it builds backends.
AUDIT_BROKER = "tessera.audit.broker:AuditBroker"


def audit_broker(host: Host) -> AuditRecorder:
    """A new audit broker for the running core (its devices are loaded by ``setup``)."""
    module, name = AUDIT_BROKER.split(":", 1)
    build: Callable[[Host], AuditRecorder] = getattr(importlib.import_module(module), name)
    return build(host)


def _available(spec: str) -> bool:
    module = spec.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def lookup(table: str, mtype: str) -> Factory | None:
    specs = AUTH_METHODS if table == "auth" else SECRETS_ENGINES
    spec = specs.get(mtype)
    if spec is None or not _available(spec):
        return None
    module, func = spec.split(":", 1)
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def import_all() -> None:
    """Import every built-in backend now (a worker process, before it serves: building its
    state must not stop to import and compile modules while requests wait)."""
    for table, specs in (("auth", AUTH_METHODS), ("secret", SECRETS_ENGINES)):
        for mtype in specs:
            try:
                lookup(table, mtype)
            except ImportError:
                continue

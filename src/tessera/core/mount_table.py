"""The secrets and auth mount tables: loaded at unseal, persisted on every change, each entry
routed to the backend its registry factory builds.

What a mount change means elsewhere (its leases and tokens revoked, its quotas moved) is the
Core's to orchestrate; this module only keeps the tables, the routes and the mounts' storage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson

from ..barrier.aes_gcm import Barrier
from ..framework import Backend
from ..routing.mounts import (
    AUTH_TABLE,
    LOCAL_AUTH_TABLE,
    LOCAL_SECRETS_TABLE,
    SECRETS_TABLE,
    MountConfig,
    MountEntry,
)
from ..routing.router import Route, Router
from ..storage.base import StorageView, TxnOp
from ..storage.tap import ForwardToPrimary
from . import registry

log = logging.getLogger("tessera.core")

# Builds one mount's backend (the registry's factory, bound to the running core), or None
# when no backend of that type exists.
BackendBuilder = Callable[[MountEntry], Backend | None]


def default_mounts() -> tuple[list[MountEntry], list[MountEntry]]:
    """The tables of a new server: cubbyhole, identity and sys; the token auth method."""
    secrets = [
        MountEntry.new(
            "secret",
            "cubbyhole/",
            "cubbyhole",
            description="per-token private secret storage",
            local=True,
        ),
        MountEntry.new(
            "secret",
            "identity/",
            "identity",
            description="identity store",
            config=MountConfig(passthrough_request_headers=["Authorization"]),
        ),
        MountEntry.new(
            "secret",
            "sys/",
            "system",
            description="system endpoints used for control, policy and debugging",
            seal_wrap=True,
            config=MountConfig(passthrough_request_headers=["Accept"]),
        ),
    ]
    auth = [MountEntry.new("auth", "token/", "token", description="token based credentials")]
    return secrets, auth


class MountTable:
    """Both mount tables of one core and the routes built from them."""

    def __init__(self, barrier: Barrier, router: Router, build: BackendBuilder) -> None:
        self.barrier = barrier
        self.router = router
        self.build = build
        self.mounts: list[MountEntry] = []
        self.auth_mounts: list[MountEntry] = []

    def table(self, name: str) -> list[MountEntry]:
        return self.auth_mounts if name == "auth" else self.mounts

    def load(self) -> None:
        """Read both tables (or lay down the defaults) and route every entry."""
        secrets_doc = self.barrier.get_json(SECRETS_TABLE)
        auth_doc = self.barrier.get_json(AUTH_TABLE)
        if secrets_doc is None or auth_doc is None:
            self.mounts, self.auth_mounts = default_mounts()
            self.persist()
        else:
            local_secrets = self.barrier.get_json(LOCAL_SECRETS_TABLE) or []
            local_auth = self.barrier.get_json(LOCAL_AUTH_TABLE) or []
            self.mounts = [MountEntry.from_json(d) for d in local_secrets + secrets_doc]
            self.auth_mounts = [MountEntry.from_json(d) for d in local_auth + auth_doc]
            if not any(m.type == "cubbyhole" for m in self.mounts):
                # A performance secondary gets the replicated tables only: its cubbyhole is its own.
                self.mounts.insert(0, default_mounts()[0][0])
                self.persist(shared=False)
        self.router.clear()
        for entry in self.mounts + self.auth_mounts:
            self.activate(entry)

    def persist(self, *, shared: bool = True) -> None:
        """Write both tables, local entries apart (Vault's core/local-mounts and core/local-auth):
        a secondary's replicated tables then never name the primary's local mounts. ``shared=False``
        writes the local ones alone: a change of a local mount touches no replicated table (on a
        performance secondary, whose replicated tables are its primary's, as they came)."""
        ops = []
        for shared_key, local_key, table in (
            (SECRETS_TABLE, LOCAL_SECRETS_TABLE, self.mounts),
            (AUTH_TABLE, LOCAL_AUTH_TABLE, self.auth_mounts),
        ):
            if shared:
                ops.append(TxnOp(shared_key, orjson.dumps([m.to_json() for m in table if not m.local])))
            ops.append(TxnOp(local_key, orjson.dumps([m.to_json() for m in table if m.local])))
        try:
            self.barrier.transaction(ops)
        except ForwardToPrimary:  # a performance secondary: its primary changes the shared tables
            self.load()  # and this one's tables stay as stored until the change streams in
            raise

    def activate(self, entry: MountEntry) -> None:
        backend = self.build(entry)
        if backend is None:
            log.error("no backend for mount %s of type %s; it stays unavailable", entry.path, entry.type)
            return
        self.router.mount(Route(entry, backend, StorageView(self.barrier, entry.storage_prefix)))

    @staticmethod
    def backend_exists(table: str, mtype: str) -> bool:
        return registry.lookup(table, mtype) is not None

    def add(self, entry: MountEntry) -> None:
        """Add a mount and persist the table (the caller has validated it)."""
        table = self.table(entry.table)
        table.append(entry)
        try:
            self.persist(shared=not entry.local)  # a local mount leaves the replicated table alone
        except Exception:
            table.remove(entry)
            raise
        self.activate(entry)

    def remove(self, entry: MountEntry) -> None:
        """Drop a mount from its table, its route and its storage."""
        self.table(entry.table).remove(entry)
        self.persist(shared=not entry.local)
        self.retire(entry.route_prefix)
        StorageView(self.barrier, entry.storage_prefix).delete_prefix("")

    def move(self, entry: MountEntry, new_path: str) -> None:
        self.retire(entry.route_prefix)
        entry.path = new_path
        self.persist(shared=not entry.local)
        self.activate(entry)

    def update(self, entry: MountEntry) -> None:
        """Persist a tuned entry and rebuild its backend (options may change behaviour)."""
        self.persist(shared=not entry.local)
        self.retire(entry.route_prefix)
        self.activate(entry)

    def retire(self, prefix: str) -> None:
        """Unroute a backend and let it close its connections and threads before a new one takes over."""
        route = self.router.get(prefix)
        if route is not None and route.backend.cleanup is not None:
            route.backend.cleanup()
        self.router.unmount(prefix)

    def find(self, table: str, path: str) -> MountEntry | None:
        path = path if path.endswith("/") else path + "/"
        for entry in self.table(table):
            if entry.path == path:
                return entry
        return None

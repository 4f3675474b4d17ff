"""The Core: one server's barrier, seal state, mount tables and request pipeline, wired together.

The parts live in modules of their own: the seal state machine (seal_lifecycle.py), the mount
tables (mount_table.py), the request pipeline (pipeline.py), ACL selection (access.py) and the
background ticker (ticker.py). The Core builds the unsealed state (stores, quotas, audit) and
hands each part what it needs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from time import perf_counter
from typing import Any

from ..barrier.aes_gcm import Barrier
from ..framework import Backend, CodedError, ErrorResponse, PermissionDenied, Request, Response, SealedError
from ..leases.manager import ExpirationManager
from ..policy.acl import ACL
from ..policy.store import PolicyStore
from ..replication.log import RETAIN
from ..replication.manager import DR_SECONDARY_PATHS, DR_SECONDARY_REFUSAL, Replication, default_cluster_addr
from ..routing.mounts import MountEntry
from ..routing.router import Router
from ..storage.base import Physical, StorageView, TxnOp
from ..storage.tap import ForwardToPrimary, TappedPhysical
from ..telemetry import metrics
from ..telemetry.storage import TimedPhysical
from ..tokens.caller import resolve_token
from ..tokens.common import entity_for_alias
from ..tokens.entry import TokenEntry
from ..tokens.store import TokenStore
from . import access, registry
from .config import CoreConfig
from .expiry_watch import Backlog, ExpiryWatch
from .ha import HAView
from .lease_quotas import LeaseCounter
from .lockout import UserLockout
from .mount_table import MountTable
from .pipeline import Pipeline
from .prepared import DeclaredLogin, PreparedRoutes
from .quotas import QuotaManager
from .recording import AuditRecorder
from .seal import SealManager
from .seal_lifecycle import SealLifecycle
from .ticker import TICK_BUDGET, Ticker

log = logging.getLogger("tessera.core")


class Core:
    def __init__(self, physical: Physical, config: CoreConfig | None = None) -> None:
        self.physical = physical
        self.config = config or CoreConfig()
        # The barrier's storage operations are timed (vault.<storage>.get, ...) on the backends
        # Vault times too; in-memory storage is not (nor is Vault's inmem), which saves its cost.
        # (TimedPhysical is a Physical that passes every call on.)
        # Every write of the barrier and the seal passes the tap, where replication logs it.
        tap = self.storage_tap = TappedPhysical(physical)
        timed = self.config.storage_type not in ("", "inmem")
        below: Physical = TimedPhysical(tap, self.config.storage_type) if timed else tap
        self.barrier = Barrier(below)
        self.seal_manager = SealManager(tap, self.barrier)
        self.router = Router()
        self.mount_table = MountTable(self.barrier, self.router, self._build_backend)
        self.cluster_id = ""
        self.cluster_name = self.config.cluster_name
        self._drop_parts()
        self.lockout = UserLockout(self)
        self.state_lock = threading.RLock()
        self.lifecycle = SealLifecycle(
            self.seal_manager,
            self.barrier,
            self.state_lock,
            open_state=self._post_unseal,
            close_state=self.release_state,
            create_root=self.create_root_token,
        )
        # Called after an unseal and after a seal (the active process tells its workers).
        self.unseal_hooks = self.lifecycle.unseal_hooks
        self.seal_hooks = self.lifecycle.seal_hooks
        # Callables run by the background ticker (lease expiry and the like), given a time budget.
        self.tick_hooks: list[Callable[..., Any]] = []
        self.expiry_backlog = Backlog()  # as last measured by the ticker (sys/metrics)
        self._ticker: Ticker | None = None
        self.ha: HAView | None = None  # HA on PostgreSQL: set by cluster/ha/node.py
        self.replication = Replication(tap, self.barrier, self.replication_mounts, self.replication_addresses)
        self.replication.follower.changed = self._replicated_writes
        self.replication.make_entity = self._entity_for_secondary
        self.replication.retain = int(self.config.extra.get("replication_log_retention") or RETAIN)
        # What outlives a request and a sys backend rebuild, kept on the Core itself (a compiled
        # Core takes no weak references, so no WeakKeyDictionary can be keyed by it): mount moves
        # by migration ID (system/mounts.py), the term and encryption count when the active key
        # was installed (system/keys.py), root generation and rekey progress (core/rootgen.py,
        # core/rekey.py), each made when first asked for (typed ``object`` here: those modules
        # import this one, and check what they find).
        self.mount_migrations: dict[str, dict[str, str]] = {}
        self.key_baseline: tuple[int, int] | None = None
        self.root_generation: object = None
        self.rekey_state: object = None

    # The parts an unseal builds. While sealed they are None; nothing reads them then, since
    # every request stops at the seal check first, so they are typed as present.
    tokens: TokenStore
    policy_store: PolicyStore
    lease_manager: ExpirationManager
    pipeline: Pipeline
    prepared: PreparedRoutes
    audit: AuditRecorder | None
    quotas: QuotaManager | None
    lease_counter: LeaseCounter | None

    def _drop_parts(self) -> None:
        self.tokens = None  # type: ignore[assignment]  # sealed: see the note above
        self.policy_store = None  # type: ignore[assignment]
        self.lease_manager = None  # type: ignore[assignment]
        self.pipeline = None  # type: ignore[assignment]
        self.prepared = None  # type: ignore[assignment]
        self.audit = None
        self.quotas = None
        self.lease_counter = None

    # -- seal state (core/seal_lifecycle.py) -----------------------------------------------
    @property
    def sealed(self) -> bool:
        return self.barrier.sealed

    def initialized(self) -> bool:
        return self.lifecycle.initialized()

    def initialize(self, shares: int, threshold: int) -> dict[str, Any]:
        """sys/init: create the barrier, the tables and a root token; the server stays sealed."""
        return self.lifecycle.initialize(shares, threshold)

    def unseal(self, share: bytes) -> bool:
        return self.lifecycle.unseal(share)

    def seal(self) -> None:
        self.lifecycle.seal()

    def release_state(self) -> None:
        """Stop the ticker and drop what the unseal built (mounts, audit devices, stores)."""
        self._stop_ticker()
        self.replication.unload()
        if self.lease_manager is not None:
            self.lease_manager.stop()
        if self.tokens is not None:
            self.tokens.stop()
        for route in self.router.routes():
            if route.backend.cleanup is not None:
                route.backend.cleanup()
        self.router.clear()
        if self.audit is not None:
            self.audit.teardown()
        self._drop_parts()

    def shutdown(self) -> None:
        self._stop_ticker()
        self.physical.close()

    def _post_unseal(self, first_time: bool) -> None:
        """Build the unsealed state: stores, mounts, quotas, audit devices; then the pipeline."""
        self._load_identity()
        self.policy_store = PolicyStore(StorageView(self.barrier, "sys/"))
        self.policy_store.setup()
        tokens = self.tokens = TokenStore(StorageView(self.barrier, "sys/token/"), self.barrier)
        tokens.setup()
        leases = self.lease_manager = ExpirationManager(self, StorageView(self.barrier, "sys/expire/"))
        self._load_tables()
        leases.setup()
        quotas = self.quotas = QuotaManager(self)
        quotas.setup()
        self.lease_counter = tokens.lease_counter = quotas.leases
        quotas.leases.recount_in_background()
        audit = self.audit = registry.audit_broker(self)
        audit.setup()  # the audit table (core/audit); fails the unseal if no device can start
        self.replication.load()
        tokens.revoke_hooks.append(self._destroy_cubbyhole)
        tokens.revoke_hooks.append(leases.revoke_by_token)
        self.lockout.reset_counters()
        tokens.bulk_revoke_hooks += [self._destroy_cubbyholes, leases.revoke_by_tokens]
        self.tick_hooks = [leases.tick, self.lockout.tidy]
        self.wire_pipeline()
        self._start_ticker()

    def _load_identity(self) -> None:
        """The cluster's ID and name, made up on the first unseal."""
        ident = self.barrier.get_json("core/cluster")
        if ident is None:
            self.cluster_id = str(uuid.uuid4())
            self.cluster_name = self.cluster_name or "vault-cluster-" + self.cluster_id[:8]
            self.barrier.put_json("core/cluster", {"id": self.cluster_id, "name": self.cluster_name})
        else:
            self.cluster_id = ident["id"]
            self.cluster_name = self.config.cluster_name or ident["name"]

    def replication_mounts(self) -> list[tuple[str, str, bool]]:
        """Each mount's and audit device's storage prefix, type and locality (replication/keys.py)."""
        found = [(m.storage_prefix, m.type, m.local) for m in self.mounts + self.auth_mounts]
        if self.audit is not None:
            found += self.audit.storage_views()
        return found

    def replication_addresses(self) -> tuple[str, str]:
        """This server's API and cluster addresses, as a secondary would reach them."""
        api_addr = self.config.api_addr
        return api_addr, str(self.config.extra.get("cluster_addr") or default_cluster_addr(api_addr))

    def entity_on_primary(self, mount_accessor: str, alias_name: str, metadata: dict[str, str]) -> str:
        """On a performance secondary: a login's new entity, made by the primary (identity
        replicates; the login's token is this cluster's)."""
        return self.replication.entity_on_primary(mount_accessor, alias_name, metadata)

    def _entity_for_secondary(self, accessor: str, alias_name: str, metadata: dict[str, str]) -> str:
        """On a primary: the entity a performance secondary's login needs, made here if new."""
        mount = next((m for m in self.auth_mounts if m.accessor == accessor), None)
        if mount is None or self.sealed:
            raise ErrorResponse(f"no auth method with accessor {accessor!r} on the primary")
        return entity_for_alias(self, mount, alias_name, {str(k): str(v) for k, v in metadata.items()})

    def _replicated_writes(self, keys: list[str]) -> None:
        """A secondary stored its primary's writes below the barrier: drop what they make stale."""
        cache = self.barrier.cache
        for key in keys:
            if cache is not None:
                cache.invalidate(key)
            if key.startswith("sys/token/") and self.tokens is not None:
                self.tokens.invalidate_key(key[len("sys/token/") :])
        if any(key in ("core/mounts", "core/auth") for key in keys):
            with self.state_lock:
                self.mount_table.load()
        if any(key.startswith("sys/policy/") for key in keys) and self.policy_store is not None:
            self.policy_store.invalidate()

    def wire_pipeline(self) -> None:
        """Hand the request pipeline the parts just built (after an unseal or a worker's reload)."""
        self.pipeline = Pipeline(
            router=self.router,
            tokens=self.tokens,
            policies=self.policy_store,
            leases=self.lease_manager,
            audit=self.audit,
            lockout=self.lockout,
            host=self,
        )
        self.prepared = PreparedRoutes(self.pipeline)

    # -- mount tables (core/mount_table.py) ------------------------------------------------
    @property
    def mounts(self) -> list[MountEntry]:
        return self.mount_table.mounts

    @property
    def auth_mounts(self) -> list[MountEntry]:
        return self.mount_table.auth_mounts

    def _build_backend(self, entry: MountEntry) -> Backend | None:
        factory = registry.lookup(entry.table, entry.type)
        return None if factory is None else factory(self, entry)

    def _load_tables(self) -> None:
        self.mount_table.load()

    def backend_exists(self, table: str, mtype: str) -> bool:
        return self.mount_table.backend_exists(table, mtype)

    def mount(self, entry: MountEntry) -> None:
        """Add a mount and persist the table (the caller has validated it)."""
        with self.state_lock:
            self.mount_table.add(entry)

    def unmount(self, entry: MountEntry) -> None:
        """Remove a mount, its storage and the leases under it."""
        with self.state_lock:
            if self.lease_manager is not None:
                self.lease_manager.revoke_prefix(entry.route_prefix, force=True)
            if entry.table == "auth" and self.tokens is not None:
                self.tokens.revoke_prefix(entry.route_prefix)  # its logins' tokens go with it
            self.mount_table.remove(entry)
            if self.quotas is not None:
                self.quotas.handle_unmount(entry)

    def remount(self, entry: MountEntry, new_path: str) -> None:
        with self.state_lock:
            old_prefix = entry.route_prefix
            self.mount_table.move(entry, new_path)
            if self.quotas is not None:
                self.quotas.handle_remount(old_prefix, entry.route_prefix)

    def update_mount(self, entry: MountEntry) -> None:
        """Persist a tuned entry and rebuild its backend (options may change behaviour)."""
        with self.state_lock:
            self.mount_table.update(entry)

    def find_mount(self, table: str, path: str) -> MountEntry | None:
        return self.mount_table.find(table, path)

    def mount_ttls(self, entry: MountEntry | None) -> tuple[int, int]:
        """Effective (default, max) lease TTLs for a mount: its tuning, else the system's."""
        default = self.config.default_lease_ttl
        maximum = self.config.max_lease_ttl
        if entry is not None:
            if entry.config.max_lease_ttl:
                maximum = entry.config.max_lease_ttl
            if entry.config.default_lease_ttl:
                default = entry.config.default_lease_ttl
        return min(default, maximum) if maximum else default, maximum

    # -- tokens ----------------------------------------------------------------------
    def create_root_token(
        self, *, token_id: str = "", path: str = "auth/token/root", display_name: str = "root"
    ) -> str:
        entry = TokenEntry(
            id=token_id,
            policies=["root"],
            path=path,
            display_name=display_name,
            renewable=False,
        )
        return str(self.tokens.create(entry).id)

    def _destroy_cubbyholes(self, entries: list[TokenEntry]) -> None:
        """``_destroy_cubbyhole`` for many tokens: one query finds what their cubbyholes hold."""
        prefixes = [e.cubbyhole_id + "/" for e in entries if e.cubbyhole_id]
        for mount in self.mounts:
            if mount.type == "cubbyhole" and prefixes:
                view = StorageView(self.barrier, mount.storage_prefix)
                found = view.list_many(prefixes)
                doomed = [TxnOp(key, None) for keys in found.values() for key in keys]
                if doomed:
                    view.transaction(doomed)

    def _destroy_cubbyhole(self, entry: TokenEntry) -> None:
        for mount in self.mounts:
            if mount.type == "cubbyhole" and entry.cubbyhole_id:
                StorageView(self.barrier, mount.storage_prefix).delete_prefix(entry.cubbyhole_id + "/")

    # -- background work (core/ticker.py) ----------------------------------------------
    def _start_ticker(self) -> None:
        watch = ExpiryWatch()
        self._ticker = Ticker(lambda: self._tick(watch))
        self._ticker.start()

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        self._ticker = None

    def _tick(self, watch: ExpiryWatch) -> None:
        """One background pass: token and lease expiry, then the backends' periodic work. A DR
        secondary does none: its primary expires tokens and leases, and the deletes stream in."""
        try:
            if self.tokens is not None and not self.sealed and not self.replication.dr_secondary:
                watch.check(self)  # before the pass, which would hide what it drains
                steps: list[Callable[[], Any]] = [
                    partial(self.tokens.expire_due, budget=TICK_BUDGET),
                    self.tokens.denylist.prune,
                    *(partial(hook, budget=TICK_BUDGET) for hook in list(self.tick_hooks)),
                    *(r.backend.periodic for r in self.router.routes() if r.backend.periodic is not None),
                ]
                for step in steps:
                    _unless_replicated(step)
        except SealedError:
            pass
        except Exception:
            log.exception("background expiry pass failed")

    # -- requests (core/pipeline.py) ---------------------------------------------------
    def handle_request(self, req: Request) -> Response | None:
        if self.sealed:
            raise SealedError()
        if self.replication.dr_secondary and not req.path.startswith(DR_SECONDARY_PATHS):
            raise ErrorResponse(DR_SECONDARY_REFUSAL)
        start = perf_counter()
        try:
            return self.pipeline.handle(req)
        finally:
            # Vault's handleLoginRequest: the unauthenticated paths of auth methods.
            login = req.unauthenticated and req.full_path.startswith("auth/")
            (metrics.HANDLE_LOGIN_REQUEST if login else metrics.HANDLE_REQUEST).since(start)

    def serve_prepared_update(
        self, path: str, token: str, body: dict[str, Any], remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """``handle_request`` of an update's common shape on a prepared route (core/prepared.py),
        rendered; None when the generic path must serve it (sealed, a DR secondary, ...)."""
        if self.sealed or self.replication.dr_secondary:
            return None
        return self.prepared.update(path, token, body, remote_addr, request_id)

    def serve_prepared_login(
        self, found: DeclaredLogin, path: str, body: dict[str, Any], remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """``serve_prepared_update`` of a login without a token to the declared lane ``found``
        (``prepared.declared_login``'s answer, which the caller looked up already)."""
        if self.sealed or self.replication.dr_secondary:
            return None
        return self.prepared.login_to(found, path, body, remote_addr, request_id)

    def serve_prepared_read(
        self, path: str, token: str, remote_addr: str, request_id: str
    ) -> tuple[int, bytes | None] | None:
        """``handle_request`` of a plain read on a prepared route (core/prepared.py), rendered;
        None when the generic path must serve it."""
        if self.sealed or self.replication.dr_secondary:
            return None
        return self.prepared.read(path, token, remote_addr, request_id)

    def resolve_token(self, token_id: str) -> TokenEntry | None:
        """The live entry for a token presented by a client, or None."""
        return resolve_token(self.tokens, token_id)

    def entity_for(self, entry: TokenEntry | None) -> dict[str, Any] | None:
        """The identity entity a token acts as (for templated policies)."""
        return access.entity_view(self.router, entry)

    def acl_for(self, entry: TokenEntry) -> ACL:
        """The token's policies plus its entity's, read now (entity policies are never frozen)."""
        return access.acl_for(self.policy_store, self.router, entry)

    def check_sudo(self, token_id: str, path: str, operation: str = "update") -> TokenEntry:
        """For raw HTTP handlers (sys/seal, sys/step-down): a valid token with sudo on ``path``."""
        if self.sealed:
            raise SealedError()
        entry = self.resolve_token(token_id) if token_id else None
        if entry is None:
            raise PermissionDenied()
        if self.audit is not None and not self.audit.log_privileged(entry, token_id, path, operation):
            raise CodedError(500, "failed to audit request, cannot continue")
        self.tokens.use(entry)
        result = self.acl_for(entry).allow_operation(operation, path, None, 0, True)
        if not result.allowed:
            raise PermissionDenied(acl=True)
        return entry

    def now(self) -> float:
        return time.time()


def _unless_replicated(step: Callable[[], Any]) -> None:
    """A step of the background pass; on a performance secondary, one that would write replicated
    data is its primary's work (whose writes stream in), and the pass goes on with the next."""
    try:
        step()
    except ForwardToPrimary:
        pass

"""The Core: seal state, mount tables and the one request pipeline every logical request takes.

resolve token → count a use → create-vs-update → ACL → route to the backend → issue tokens
for logins → leases → response wrapping → revoke a token whose last use this was.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from ..framework import (
    CodedError,
    ErrorResponse,
    InvalidCredentials,
    Operation,
    PermissionDenied,
    Request,
    Response,
    SealedError,
)
from ..storage.base import Physical, StorageView, TxnOp
from ..telemetry import metrics
from ..telemetry.storage import TimedPhysical
from ..tokens.batch import MalformedBatchToken  # at import, not per request (~1 µs each time)
from ..tokens.precheck import precheck_request
from . import registry
from .barrier import Barrier
from .expiry_watch import Backlog, ExpiryWatch
from .lockout import UserLockout
from .mounts import AUTH_TABLE, SECRETS_TABLE, MountConfig, MountEntry
from .router import Route, Router
from .seal import SealManager

log = logging.getLogger("tessera.core")

SYSTEM_DEFAULT_TTL = 768 * 3600
SYSTEM_MAX_TTL = 768 * 3600

# Paths of the system backend reachable without a token.
SYS_UNAUTHENTICATED = (
    "sys/wrapping/lookup",
    "sys/wrapping/pubkey",
    "sys/internal/ui/mounts",
    "sys/internal/ui/mounts/*",
    "sys/internal/ui/namespaces",
    "sys/init",
    "sys/seal-status",
    "sys/unseal",
    "sys/leader",
    "sys/health",
    "sys/decode-token",
    "sys/mfa/validate",
    "sys/internal/specs/openapi",
    "sys/replication/status",
)


def path_matches(patterns: list[str] | tuple[str, ...], path: str) -> bool:
    """Vault's special-path match: exact, or a prefix when the pattern ends in '*'; a '+' segment
    matches any one segment (pki's ``issuer/+/pem``)."""
    for pattern in patterns:
        if "+" in pattern and _segments_match(pattern, path):
            return True
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern or path == pattern.rstrip("/"):
            return True
    return False


def _segments_match(pattern: str, path: str) -> bool:
    want, have = pattern.rstrip("*").split("/"), path.split("/")
    if pattern.endswith("*"):
        have = have[: len(want)]
        if len(have) < len(want) or not have[-1].startswith(want[-1]):
            return False
        want, have = want[:-1], have[:-1]
    elif len(want) != len(have):
        return False
    return all(w == "+" or w == h for w, h in zip(want, have, strict=True))


@dataclass
class CoreConfig:
    default_lease_ttl: int = SYSTEM_DEFAULT_TTL
    max_lease_ttl: int = SYSTEM_MAX_TTL
    cluster_name: str = ""
    api_addr: str = ""
    storage_type: str = "inmem"
    dev: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# Seconds one background pass may spend on each kind of expiry before the others get a turn.
TICK_BUDGET = 2.0


class Core:
    def __init__(self, physical: Physical, config: CoreConfig | None = None) -> None:
        self.physical = physical
        self.config = config or CoreConfig()
        # The barrier's storage operations are timed (vault.<storage>.get, ...) on the backends
        # Vault times too; in-memory storage is not (nor is Vault's inmem), which saves its cost.
        timed = self.config.storage_type not in ("", "inmem")
        self.barrier = Barrier(TimedPhysical(physical, self.config.storage_type) if timed else physical)
        self.seal_manager = SealManager(physical, self.barrier)
        self.router = Router()
        self.mounts: list[MountEntry] = []
        self.auth_mounts: list[MountEntry] = []
        self.cluster_id = ""
        self.cluster_name = self.config.cluster_name
        self.tokens: Any = None
        self.policy_store: Any = None
        self.audit: Any = None  # the AuditBroker while unsealed
        self.quotas: Any = None  # the QuotaManager (rate limits) while unsealed
        self.lease_counter: Any = None  # its LeaseCounter (lease-count quotas) while unsealed
        self.lockout = UserLockout(self)
        self.state_lock = threading.RLock()
        # Callables run by the background ticker (lease expiry and the like).
        self.tick_hooks: list[Any] = []
        self.expiry_backlog = Backlog()  # as last measured by the ticker (sys/metrics)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # Called after an unseal and after a seal (the active process tells its workers).
        self.unseal_hooks: list[Any] = []
        self.seal_hooks: list[Any] = []

    # -- seal state ------------------------------------------------------------------
    @property
    def sealed(self) -> bool:
        return self.barrier.sealed

    def initialized(self) -> bool:
        return self.seal_manager.config() is not None

    def initialize(self, shares: int, threshold: int) -> dict[str, Any]:
        """sys/init: create the barrier, the tables and a root token; the server stays sealed."""
        with self.state_lock:
            if self.initialized():
                raise ErrorResponse("Vault is already initialized")
            keys = self.seal_manager.initialize(shares, threshold)
            # Unseal briefly to lay down the initial state, then seal again as Vault does.
            self.barrier.unseal(keys[0] if len(keys) == 1 else _combine(keys[:threshold]))
            self._post_unseal(first_time=True)
            root = self.create_root_token(path="auth/token/root", display_name="root")
            self.seal()
        return {"keys": keys, "root_token": root}

    def unseal(self, share: bytes) -> bool:
        with self.state_lock:
            if not self.sealed:
                return True
            start = perf_counter()
            done = self.seal_manager.submit(share)
            if done:
                try:
                    self._post_unseal(first_time=False)
                except BaseException:
                    # Vault seals again when post-unseal fails (e.g. a mount table that no longer
                    # parses): an open barrier serving no mounts would look healthy and be useless.
                    self.seal()
                    raise
                for hook in self.unseal_hooks:
                    hook()
                metrics.CORE_UNSEAL.since(start)
            return done

    def seal(self) -> None:
        with self.state_lock:
            start = perf_counter()
            self.release_state()
            metrics.CORE_SEAL.since(start)
            self.barrier.seal()
            self.seal_manager.reset()
            for hook in self.seal_hooks:
                hook()

    def release_state(self) -> None:
        """Stop the ticker and drop what the unseal built (mounts, audit devices, stores)."""
        self._stop_ticker()
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
            self.audit = None
        self.tokens = None
        self.quotas = None
        self.lease_counter = None
        self.policy_store = None
        self.lease_manager = None

    def shutdown(self) -> None:
        self._stop_ticker()
        self.physical.close()

    def _post_unseal(self, *, first_time: bool) -> None:
        from ..policy.store import PolicyStore
        from ..tokens.store import TokenStore

        ident = self.barrier.get_json("core/cluster")
        if ident is None:
            self.cluster_id = str(uuid.uuid4())
            self.cluster_name = self.cluster_name or "vault-cluster-" + self.cluster_id[:8]
            self.barrier.put_json("core/cluster", {"id": self.cluster_id, "name": self.cluster_name})
        else:
            self.cluster_id = ident["id"]
            self.cluster_name = self.config.cluster_name or ident["name"]
        self.policy_store = PolicyStore(StorageView(self.barrier, "sys/"))
        self.policy_store.setup()
        self.tokens = TokenStore(StorageView(self.barrier, "sys/token/"), self.barrier)
        self.tokens.setup()
        from ..leases.manager import ExpirationManager

        self.lease_manager = ExpirationManager(self, StorageView(self.barrier, "sys/expire/"))
        self._load_tables()
        self.lease_manager.setup()
        from ..audit.broker import AuditBroker
        from .quotas import QuotaManager

        self.quotas = QuotaManager(self)
        self.quotas.setup()
        self.lease_counter = self.tokens.lease_counter = self.quotas.leases
        self.lease_counter.recount_in_background()
        self.audit = AuditBroker(self)
        self.audit.setup()  # the audit table (core/audit); fails the unseal if no device can start
        self.tokens.revoke_hooks.append(self._destroy_cubbyhole)
        self.tokens.revoke_hooks.append(self.lease_manager.revoke_by_token)
        self.lockout.reset_counters()
        self.tokens.bulk_revoke_hooks += [self._destroy_cubbyholes, self.lease_manager.revoke_by_tokens]
        self.tick_hooks = [self.lease_manager.tick, self.lockout.tidy]
        self._start_ticker()

    # -- mount tables ----------------------------------------------------------------
    def _default_mounts(self) -> tuple[list[MountEntry], list[MountEntry]]:
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

    def _load_tables(self) -> None:
        secrets_doc = self.barrier.get_json(SECRETS_TABLE)
        auth_doc = self.barrier.get_json(AUTH_TABLE)
        if secrets_doc is None or auth_doc is None:
            self.mounts, self.auth_mounts = self._default_mounts()
            self._persist_tables()
        else:
            self.mounts = [MountEntry.from_json(d) for d in secrets_doc]
            self.auth_mounts = [MountEntry.from_json(d) for d in auth_doc]
        self.router.clear()
        for entry in self.mounts + self.auth_mounts:
            self._activate(entry)

    def _persist_tables(self) -> None:
        import orjson

        self.barrier.transaction(
            [
                TxnOp(SECRETS_TABLE, orjson.dumps([m.to_json() for m in self.mounts])),
                TxnOp(AUTH_TABLE, orjson.dumps([m.to_json() for m in self.auth_mounts])),
            ]
        )

    def _activate(self, entry: MountEntry) -> None:
        factory = registry.lookup(entry.table, entry.type)
        if factory is None:
            log.error("no backend for mount %s of type %s; it stays unavailable", entry.path, entry.type)
            return
        backend = factory(self, entry)
        self.router.mount(Route(entry, backend, StorageView(self.barrier, entry.storage_prefix)))

    def backend_exists(self, table: str, mtype: str) -> bool:
        return registry.lookup(table, mtype) is not None

    def mount(self, entry: MountEntry) -> None:
        """Add a mount and persist the table (the caller has validated it)."""
        with self.state_lock:
            table = self.auth_mounts if entry.table == "auth" else self.mounts
            table.append(entry)
            try:
                self._persist_tables()
            except Exception:
                table.remove(entry)
                raise
            self._activate(entry)

    def unmount(self, entry: MountEntry) -> None:
        """Remove a mount, its storage and the leases under it."""
        with self.state_lock:
            if self.lease_manager is not None:
                self.lease_manager.revoke_prefix(entry.route_prefix, force=True)
            if entry.table == "auth" and self.tokens is not None:
                self.tokens.revoke_prefix(entry.route_prefix)  # its logins' tokens go with it
            table = self.auth_mounts if entry.table == "auth" else self.mounts
            table.remove(entry)
            self._persist_tables()
            route = self.router.get(entry.route_prefix)
            if route is not None and route.backend.cleanup is not None:
                route.backend.cleanup()
            self.router.unmount(entry.route_prefix)
            StorageView(self.barrier, entry.storage_prefix).delete_prefix("")
            if self.quotas is not None:
                self.quotas.handle_unmount(entry)

    def remount(self, entry: MountEntry, new_path: str) -> None:
        with self.state_lock:
            old_prefix = entry.route_prefix
            self._retire_backend(old_prefix)
            entry.path = new_path
            self._persist_tables()
            self._activate(entry)
            if self.quotas is not None:
                self.quotas.handle_remount(old_prefix, entry.route_prefix)

    def update_mount(self, entry: MountEntry) -> None:
        """Persist a tuned entry and rebuild its backend (options may change behaviour)."""
        with self.state_lock:
            self._persist_tables()
            self._retire_backend(entry.route_prefix)
            self._activate(entry)

    def _retire_backend(self, prefix: str) -> None:
        """Unroute a backend and let it close its connections and threads before a new one takes over."""
        route = self.router.get(prefix)
        if route is not None and route.backend.cleanup is not None:
            route.backend.cleanup()
        self.router.unmount(prefix)

    def find_mount(self, table: str, path: str) -> MountEntry | None:
        path = path if path.endswith("/") else path + "/"
        for entry in self.auth_mounts if table == "auth" else self.mounts:
            if entry.path == path:
                return entry
        return None

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
        from ..tokens.entry import TokenEntry

        entry = TokenEntry(
            id=token_id,
            policies=["root"],
            path=path,
            display_name=display_name,
            renewable=False,
        )
        return str(self.tokens.create(entry).id)

    def _destroy_cubbyholes(self, entries: list[Any]) -> None:
        """``_destroy_cubbyhole`` for many tokens: one query finds what their cubbyholes hold."""
        prefixes = [e.cubbyhole_id + "/" for e in entries if e.cubbyhole_id]
        for mount in self.mounts:
            if mount.type == "cubbyhole" and prefixes:
                view = StorageView(self.barrier, mount.storage_prefix)
                found = view.list_many(prefixes)
                doomed = [TxnOp(key, None) for keys in found.values() for key in keys]
                if doomed:
                    view.transaction(doomed)

    def _destroy_cubbyhole(self, entry: Any) -> None:
        for mount in self.mounts:
            if mount.type == "cubbyhole" and entry.cubbyhole_id:
                StorageView(self.barrier, mount.storage_prefix).delete_prefix(entry.cubbyhole_id + "/")

    # -- background work -------------------------------------------------------------
    def _start_ticker(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="tessera-expiry", daemon=True)
        self._ticker.start()

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)
        self._ticker = None

    def _tick_loop(self) -> None:
        watch = ExpiryWatch()
        while not self._stop.wait(0.25):
            try:
                if self.tokens is not None and not self.sealed:
                    watch.check(self)  # before the pass, which would hide what it drains
                    self.tokens.expire_due(budget=TICK_BUDGET)
                    self.tokens.denylist.prune()
                    for hook in list(self.tick_hooks):
                        hook(budget=TICK_BUDGET)
                    for route in self.router.routes():
                        if route.backend.periodic is not None:
                            route.backend.periodic()
            except SealedError:
                continue
            except Exception:
                log.exception("background expiry pass failed")

    # -- the request pipeline ----------------------------------------------------------
    def handle_request(self, req: Request) -> Response | None:
        if self.sealed:
            raise SealedError()
        start = perf_counter()
        try:
            return self._handle_audited(req)
        finally:
            # Vault's handleLoginRequest: the unauthenticated paths of auth methods.
            login = req.unauthenticated and req.full_path.startswith("auth/")
            (metrics.HANDLE_LOGIN_REQUEST if login else metrics.HANDLE_REQUEST).since(start)

    def _handle_audited(self, req: Request) -> Response | None:
        trail = self.audit.trail(req) if self.audit is not None else None
        if trail is None:
            return self._handle_request(req, None)
        # Audited: the request is recorded before its backend runs (see _handle_request), and
        # the answer or the error after; a device failure turns either into a 500.
        try:
            resp = self._handle_request(req, trail)
        except Exception as exc:
            trail.failed(exc)
            raise
        return trail.respond(resp)

    def _handle_request(self, req: Request, trail: Any) -> Response | None:
        full_path = req.path
        req.full_path = full_path
        route = self.router.match(full_path)
        if route is None:
            self._check_unrouted(req, full_path)
            raise CodedError(404, f'no handler for route "{full_path}". route entry not found.')
        prefix = route.entry.route_prefix
        rel = full_path[len(prefix) :] if full_path.startswith(prefix) else ""
        backend = route.backend
        unauth = path_matches(backend.unauthenticated_paths, rel) or (
            route.entry.type == "system" and path_matches(SYS_UNAUTHENTICATED, full_path)
        )
        if full_path.startswith(("sys/wrapping/", "auth/token/")):
            # Token checks Vault makes before the caller's token (e.g. the wrapping token's).
            precheck_request(self, req, full_path)
        entry = None
        if req.client_token:
            entry = self.resolve_token(req.client_token)
            if entry is not None and not self._cidr_ok(entry, req.remote_addr):
                entry = None
        if trail is not None:
            trail.token(entry)  # before a use is counted: the line shows the uses left
        last_use = False
        if not unauth:
            if entry is None:
                raise PermissionDenied()
            last_use = self.tokens.use(entry)
        req.path = rel
        req.mount_point = prefix
        req.mount_type = route.entry.type
        req.mount_accessor = route.entry.accessor
        req.mount_uuid = route.entry.uuid
        req.storage = route.storage
        req.token_entry = entry
        req.unauthenticated = unauth
        try:
            if req.operation == Operation.UPDATE:
                has_check, exists = backend.existence(req)
                if has_check and not exists:
                    req.operation = Operation.CREATE
            if not unauth and req.operation != Operation.HELP:
                self._check_acl(req, entry, full_path, route)
            if trail is not None:
                trail.log_request()  # fail closed: unrecorded requests never reach the backend
            routed = perf_counter()
            try:
                resp = self._route_login(req, route, backend) if unauth else backend.handle_request(req)
            finally:
                metrics.route_timer(req.operation, prefix).since(routed)
            if (
                resp is not None
                and resp.auth is not None
                and not resp.auth.client_token
                and backend.kind == "credential"
            ):
                from ..tokens.issue import issue_login_token

                issue_login_token(self, req, route.entry, resp)
            if resp is not None and resp.secret is not None and not resp.secret.lease_id:
                self.register_lease(req, resp, route.entry, entry, last_use)
            if resp is not None and (
                req.wrap_ttl or (resp.wrap_info is not None and not resp.wrap_info.token)
            ):
                # X-Vault-Wrap-TTL, or a handler asking to be wrapped (sys/wrapping/rewrap).
                from ..tokens.wrapping import wrap_response

                resp = wrap_response(self, req, resp)
            return resp
        finally:
            if last_use and entry is not None:
                try:
                    self.tokens.revoke_tree(entry)
                except Exception:
                    log.exception("revoking a used-up token failed")

    def _route_login(self, req: Request, route: Route, backend: Any) -> Response | None:
        """An unauthenticated request, with user lockout around it when it is a login."""
        look_ahead = getattr(backend, "login_alias", None)
        alias = look_ahead(req) if look_ahead is not None else None
        settings = self.lockout.settings(route.entry) if alias else None
        if settings is None:
            return backend.handle_request(req)  # type: ignore[no-any-return]
        counted = self.lockout.check(route.entry, alias, settings)
        try:
            resp = backend.handle_request(req)
        except InvalidCredentials:
            self.lockout.failed(route.entry, alias, settings)
            raise
        if counted and resp is not None and resp.auth is not None:
            self.lockout.succeeded(route.entry, alias)  # only then a write (a worker hands it over)
        return resp  # type: ignore[no-any-return]

    def resolve_token(self, token_id: str) -> Any:
        """The live entry for a token presented by a client, or None."""
        if token_id.startswith(("hvr.", "r.")):
            return None  # recovery tokens live only in a recovery-mode server: a plain 403 here
        try:
            return self.tokens.lookup(token_id)
        except MalformedBatchToken:
            return None

    @staticmethod
    def _cidr_ok(entry: Any, remote_addr: str) -> bool:
        if not entry.bound_cidrs or (entry.type != "batch" and entry.expire_time <= 0):
            return True
        try:
            addr = ipaddress.ip_address(remote_addr)
        except ValueError:
            return False
        for cidr in entry.bound_cidrs:
            try:
                if addr in ipaddress.ip_network(cidr, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def entity_for(self, entry: Any) -> dict[str, Any] | None:
        """The identity entity a token acts as (for templated policies)."""
        if entry is None or not entry.entity_id:
            return None
        identity = self.router.get("identity/")
        if identity is None:
            return None
        getter = getattr(identity.backend, "entity_view", None)
        return getter(entry.entity_id) if getter else {"id": entry.entity_id}

    def acl_for(self, entry: Any) -> Any:
        """The token's policies plus its entity's, read now (entity policies are never frozen)."""
        names = tuple(entry.policies)
        if entry.entity_id and names != ("root",):
            from ..tokens.common import identity_policies

            extra = [p for p in identity_policies(self, entry.entity_id) if p not in names]
            if extra:
                names = names + tuple(extra)
        return self.policy_store.acl(names, self.entity_for(entry))

    def _check_unrouted(self, req: Request, full_path: str) -> None:
        """Vault checks the token (and spends a use) before routing: only a caller allowed there learns of the 404.

        No token or a bad one is 403 ``permission denied``, a token whose policies do not reach the
        path the ACL's 403 (e.g. ``bao login -method=userpass`` with no such mount).
        """
        entry = self.resolve_token(req.client_token) if req.client_token else None
        if entry is not None and not self._cidr_ok(entry, req.remote_addr):
            entry = None
        if entry is None:
            raise PermissionDenied()
        result = self.acl_for(entry).allow_operation(
            req.operation.value, full_path, req.data, req.wrap_ttl, False
        )
        if not result.allowed:
            raise PermissionDenied(acl=True)
        if self.tokens.use(entry):
            self.tokens.revoke_tree(entry)

    def _check_acl(self, req: Request, entry: Any, full_path: str, route: Route) -> None:
        needs_sudo = path_matches(route.backend.root_paths, req.path)
        acl = self.acl_for(entry)
        result = acl.allow_operation(req.operation.value, full_path, req.data, req.wrap_ttl, needs_sudo)
        if not result.allowed:
            raise PermissionDenied(acl=True)
        req.is_root = bool(result.is_root)
        req.has_sudo = bool(result.root_privs or result.is_root)

    def check_sudo(self, token_id: str, path: str, operation: str = "update") -> Any:
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

    # -- leases (the expiration manager plugs in here) ---------------------------------
    lease_manager: Any = None

    def register_lease(
        self, req: Request, resp: Response, mount: MountEntry, entry: Any, last_use: bool
    ) -> None:
        if self.lease_manager is not None:
            self.lease_manager.register(req, resp, mount, entry, last_use)
            return
        # Without an expiration manager, leased responses still report their TTL.
        default, maximum = self.mount_ttls(mount)
        ttl = resp.secret.ttl or default  # type: ignore[union-attr]
        resp.lease_duration_override = min(ttl, maximum) if maximum else ttl

    def now(self) -> float:
        return time.time()


def _combine(shares: list[bytes]) -> bytes:
    from . import shamir

    return shamir.combine(shares)

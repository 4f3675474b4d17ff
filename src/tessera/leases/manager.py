"""The expiration manager: every leased secret is recorded, owned by a token, and revoked on time.

Storage (inside the barrier, under ``sys/expire/``): ``id/<lease id>`` → the lease;
``token/<owner salted id>/<lease hash>`` → the lease ID, so revoking a token finds its leases.
The revocation schedule is an in-memory heap rebuilt from storage after unseal, so expiry survives
restarts; a backend that fails to revoke is retried with exponential back-off.

As in Vault, the heap is rebuilt in the background: with a million leases stored, reading them
all took longer than an unseal may. Requests are served meanwhile (every lease operation reads
storage, not the heap), and a lease already expired when the loader reaches it is revoked on the
next tick, so none is lost.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import orjson

from ..framework import ErrorResponse, Operation, Request, Response, Secret
from ..framework.errors import SealedError
from ..gocompat.times import rfc3339_nano
from ..routing.mounts import MountEntry
from ..routing.router import Route, Router
from ..runtime.rebuild import Rebuild
from ..storage.base import Storage, TxnOp
from ..storage.keyset import KeySet
from ..telemetry import metrics
from ..tokens.counting import LeaseCounting, LeaseQuotaExceeded
from ..tokens.ids import base62
from ..tokens.store import TokenStore

log = logging.getLogger("tessera.leases")

LAST_USE_MESSAGE = (
    "Secret cannot be returned; token had one use left, so leased credentials were immediately revoked."
)
MAX_BACKOFF = 300.0
# Leases read per storage query while the schedule is rebuilt, and revoked per commit.
LOAD_PAGE = 5000
REVOKE_BATCH = 256


@dataclass
class Lease:
    lease_id: str
    path: str  # the request path that created it (full path)
    mount_prefix: str
    owner: str = ""  # salted ID of the owning service token; "" = owned by nobody (TTL only)
    internal_data: dict[str, Any] = field(default_factory=dict)
    issue_time: float = 0.0
    expire_time: float = 0.0
    last_renewal_time: float = 0.0
    renewable: bool = True
    ttl: int = 0
    max_expire_time: float = 0.0  # issue + max TTL (0 = none)
    token_expire_time: float = 0.0  # the issuing batch token's expiry (caps renewals)
    revoke_attempts: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> Lease:
        return cls(**orjson.loads(raw))


class LeaseCounts(LeaseCounting, Protocol):
    """The lease-count quotas as the manager sees them (core/lease_quotas.py)."""

    def release_leases(self, leases: list[Lease]) -> None: ...


class LeaseHost(Protocol):
    """What the manager needs of the running core: tokens own leases, mounts revoke them."""

    @property
    def tokens(self) -> TokenStore: ...

    @property
    def router(self) -> Router: ...

    @property
    def lease_counter(self) -> LeaseCounts | None: ...

    def mount_ttls(self, entry: MountEntry | None) -> tuple[int, int]: ...


class ExpirationManager:
    def __init__(self, core: LeaseHost, storage: Storage) -> None:
        self.core = core
        self.storage = storage
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._rebuild = Rebuild(self._load, "tessera-lease-restore")
        self._stopped = self._rebuild.stopped
        self.loaded = threading.Event()  # set once every stored lease is scheduled

    # -- lifecycle -------------------------------------------------------------------
    def setup(self, *, background: bool = True) -> None:
        """Rebuild the schedule from storage, in a background thread unless told otherwise."""
        with self._lock:
            self._heap = []
        self.loaded.clear()
        self._rebuild.start(background=background)

    def stop(self) -> None:
        """Stop a rebuild still under way (the server seals or shuts down)."""
        self._rebuild.stop()

    def _load(self) -> None:
        started = time.monotonic()
        after, count = "", 0
        try:
            while not self._stopped.is_set():
                page, following = self.storage.scan("id/", after, LOAD_PAGE)
                items = []
                for _, raw in page:
                    doc = orjson.loads(raw)
                    items.append((float(doc["expire_time"]), str(doc["lease_id"])))
                with self._lock:
                    for item in items:
                        heapq.heappush(self._heap, item)
                count += len(items)
                if following is None:
                    break
                after = following
        except SealedError:
            return  # sealed while loading: the next unseal starts over
        except Exception:
            log.exception("restoring the lease schedule failed after %d leases", count)
            return
        if not self._stopped.is_set():
            self.loaded.set()
            log.info("lease schedule restored: %d leases in %.1fs", count, time.monotonic() - started)

    def _schedule(self, when: float, lease_id: str) -> None:
        with self._lock:
            heapq.heappush(self._heap, (when, lease_id))

    @staticmethod
    def _index_key(owner: str, lease_id: str) -> str:
        return f"token/{owner}/{hashlib.sha256(lease_id.encode()).hexdigest()}"

    # -- registration ----------------------------------------------------------------
    def register(self, req: Request, resp: Response, mount: MountEntry, token: Any, last_use: bool) -> None:
        """Give a leased response its lease: TTL from the backend, capped by mount and token."""
        secret = resp.secret
        assert secret is not None
        now = time.time()
        default, maximum = self.core.mount_ttls(mount)
        ttl = secret.ttl or default
        max_ttl = min(secret.max_ttl, maximum) if secret.max_ttl else maximum
        if max_ttl and ttl > max_ttl:
            ttl = max_ttl
        owner = ""
        token_expiry = 0.0
        if token is not None:
            if token.type == "batch":
                owner = token.parent
                token_expiry = token.expire_time
            else:
                owner = token.salted_id
        if token_expiry and now + ttl > token_expiry:
            ttl = max(0, int(token_expiry - now))
        lease = Lease(
            lease_id=f"{req.full_path.rstrip('/')}/{base62(24)}",
            path=req.full_path,
            mount_prefix=mount.route_prefix,
            owner=owner,
            internal_data=dict(secret.internal_data),
            issue_time=now,
            expire_time=now + ttl,
            renewable=secret.renewable,
            ttl=ttl,
            max_expire_time=now + max_ttl if max_ttl else 0.0,
            token_expire_time=token_expiry,
        )
        ops = [TxnOp("id/" + lease.lease_id, lease.to_json())]
        if owner:
            ops.append(TxnOp(self._index_key(owner, lease.lease_id), lease.lease_id.encode()))
        counter = self._count(lease)
        try:
            self.storage.transaction(ops)
        except BaseException:
            if counter is not None:
                counter.release_leases([lease])
            raise
        self._schedule(lease.expire_time, lease.lease_id)
        secret.lease_id = lease.lease_id
        secret.ttl = ttl
        if last_use:
            self.revoke(lease.lease_id, force=False)
            raise ErrorResponse(LAST_USE_MESSAGE)

    def _count(self, lease: Lease) -> Any:
        """Count the lease against its lease-count quota; when full, revoke the secret the backend
        has just made (it was never handed out) and refuse the request."""
        counter = self.core.lease_counter
        if counter is None or not counter.active:
            return None
        try:
            counter.acquire("l:" + lease.lease_id, lease.path, "")
        except LeaseQuotaExceeded:
            self._revoke_in_backend(lease, force=True)
            raise
        return counter

    def _uncount(self, leases: list[Lease]) -> None:
        counter = self.core.lease_counter
        if counter is not None and counter.active and leases:
            counter.release_leases(leases)

    # -- queries ---------------------------------------------------------------------
    def get(self, lease_id: str) -> Lease | None:
        if not _storable(lease_id):
            return None
        raw = self.storage.get("id/" + lease_id)
        return None if raw is None else Lease.from_json(raw)

    def _get_batch(self, lease_ids: list[str]) -> dict[str, Lease]:
        """``get`` for a batch of due leases, one storage read for all: the expiry of a million
        leases read them one query (and one call chain) each."""
        keys = ["id/" + lease_id for lease_id in lease_ids if _storable(lease_id)]
        return {key[3:]: Lease.from_json(raw) for key, raw in self.storage.get_many(keys).items()}

    def _token_lease(self, lease_id: str) -> Any:
        """A token's own lease (``auth/token/create/<salted id>``): tokens keep those facts in their entry."""
        tokens = self.core.tokens
        return tokens.lookup_lease(lease_id) if tokens is not None and lease_id.startswith("auth/") else None

    def lookup(self, lease_id: str) -> dict[str, Any]:
        now = time.time()
        lease = self.get(lease_id)
        if lease is None:
            token = self._token_lease(lease_id)
            if token is None:
                raise ErrorResponse("invalid lease")
            return {
                "id": lease_id,
                "issue_time": rfc3339_nano(token.issue_time),
                "expire_time": rfc3339_nano(token.expire_time) if token.expire_time else None,
                "last_renewal": rfc3339_nano(token.last_renewal_time) if token.last_renewal_time else None,
                "path": token.path,
                "renewable": bool(token.renewable and token.expire_time),
                "ttl": token.remaining_ttl(now),
            }
        return {
            "id": lease.lease_id,
            "issue_time": rfc3339_nano(lease.issue_time),
            "expire_time": rfc3339_nano(lease.expire_time),
            "last_renewal": rfc3339_nano(lease.last_renewal_time) if lease.last_renewal_time else None,
            "path": lease.path,
            "renewable": lease.renewable,
            "ttl": max(0, int(lease.expire_time - now)),
        }

    def list_prefix(self, prefix: str) -> list[str]:
        keys = set(self.storage.list("id/" + prefix))
        tokens = self.core.tokens
        if prefix.startswith("auth/") and tokens is not None:
            # Token leases are ``<creation path>/<salted id>``; list them from the token store.
            for key in tokens.storage.list_all("id/"):
                entry = tokens.lookup_salted(key[3:])
                if entry is None or not entry.path:
                    continue
                lease_id = f"{entry.path}/{entry.salted_id}"
                if lease_id.startswith(prefix):
                    rest = lease_id[len(prefix) :]
                    keys.add(rest.split("/", 1)[0] + "/" if "/" in rest else rest)
        return sorted(keys)

    def count(self) -> int:
        return len(self.storage.list_all("id/"))

    # -- renewal ---------------------------------------------------------------------
    def renew(self, lease_id: str, increment: int) -> Response:
        lease = self.get(lease_id)
        if lease is None:
            token = self._token_lease(lease_id)
            if token is not None:
                if not token.expire_time:
                    raise ErrorResponse("lease is not renewable")
                raise ErrorResponse("tokens cannot be renewed through this endpoint")
            raise ErrorResponse("lease not found")
        now = time.time()
        if lease.expire_time <= now:
            raise ErrorResponse("lease expired")
        if not lease.renewable:
            raise ErrorResponse("lease is not renewable")
        if lease.token_expire_time and lease.token_expire_time <= now:
            raise ErrorResponse("cannot renew lease, no valid associated token")
        route = self.core.router.get(lease.mount_prefix)
        if route is None:
            raise ErrorResponse("no route for the lease's mount")
        stype = route.backend.secret_type(lease.internal_data)
        if stype is None or stype.renew is None:
            raise ErrorResponse("lease is not renewable")
        ttl = increment or lease.ttl
        limit = lease.max_expire_time
        if lease.token_expire_time and (not limit or lease.token_expire_time < limit):
            limit = lease.token_expire_time
        warnings: list[str] = []
        if limit and now + ttl > limit:
            ttl = max(0, int(limit - now))
        req = self._backend_request(lease, route, Operation.RENEW)
        req.data = {"ttl": ttl, "expire_time": now + ttl}
        resp = stype.renew(req, dict(lease.internal_data))
        if resp is not None and resp.secret is not None and resp.secret.ttl and resp.secret.ttl < ttl:
            ttl = resp.secret.ttl
        if resp is not None:
            warnings.extend(resp.warnings)
        lease.expire_time = now + ttl
        lease.last_renewal_time = now
        lease.ttl = ttl
        self.storage.put("id/" + lease.lease_id, lease.to_json())
        self._schedule(lease.expire_time, lease.lease_id)
        out = Response(
            data=None, warnings=warnings, secret=Secret(ttl=ttl, renewable=True, lease_id=lease.lease_id)
        )
        return out

    # -- revocation ------------------------------------------------------------------
    def _backend_request(self, lease: Lease, route: Route, op: Operation) -> Request:
        rel = (
            lease.path[len(lease.mount_prefix) :] if lease.path.startswith(lease.mount_prefix) else lease.path
        )
        return Request(
            operation=op,
            path=rel,
            full_path=lease.path,
            mount_point=lease.mount_prefix,
            mount_type=route.entry.type,
            mount_accessor=route.entry.accessor,
            storage=route.storage,
        )

    def revoke(self, lease_id: str, *, force: bool = False) -> bool:
        """Revoke one lease through its backend; True when gone. With ``force``, errors are ignored."""
        lease = self.get(lease_id)
        if lease is None:
            token = self._token_lease(lease_id)
            if token is not None:  # revoking a token's lease revokes the token (and its tree)
                self.core.tokens.revoke_tree(token)
            return True
        self._revoke_in_backend(lease, force=force)
        self.storage.transaction(self._forget(lease))
        self._uncount([lease])
        return True

    def _revoke_in_backend(self, lease: Lease, *, force: bool) -> None:
        """Have the lease's backend revoke it; on failure (unless forced) schedule a retry and raise."""
        self._revoke_through(lease, self.core.router.get(lease.mount_prefix), force=force)

    def _revoke_through(self, lease: Lease, route: Route | None, *, force: bool) -> None:
        """``_revoke_in_backend`` with the lease's mount resolved by the caller (once per batch);
        a mount that is gone has nothing left to revoke."""
        if route is None:
            return
        stype = route.backend.secret_type(lease.internal_data)
        if stype is None or stype.revoke is None:
            return
        try:
            stype.revoke(self._backend_request(lease, route, Operation.REVOKE), dict(lease.internal_data))
        except Exception as exc:
            if force:
                return
            lease.revoke_attempts += 1
            delay = min(MAX_BACKOFF, 2.0 ** min(lease.revoke_attempts, 10))
            self.storage.put("id/" + lease.lease_id, lease.to_json())
            self._schedule(time.time() + delay, lease.lease_id)
            log.warning(
                "revoking lease %s failed (attempt %d, retry in %.0fs): %s",
                lease.lease_id,
                lease.revoke_attempts,
                delay,
                type(exc).__name__,
            )
            raise ErrorResponse(f"failed to revoke lease: lease_id: {lease.lease_id}: {exc}") from None

    def _forget(self, lease: Lease) -> list[TxnOp]:
        """The writes that remove a revoked lease and its owner's index entry."""
        ops = [TxnOp("id/" + lease.lease_id, None)]
        if lease.owner:
            ops.append(TxnOp(self._index_key(lease.owner, lease.lease_id), None))
        return ops

    def revoke_prefix(self, prefix: str, *, force: bool = False) -> None:
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        if prefix.startswith("auth/") and self.core.tokens is not None:
            self.core.tokens.revoke_prefix(prefix.rstrip("/"))
        for key in self.storage.list_all("id/" + prefix):
            try:
                self.revoke(key[3:], force=force)
            except ErrorResponse:
                if not force:
                    raise

    def revoke_by_token(self, token: Any) -> None:
        """Token revocation hook: revoke every lease the token owns (its tree walks call this per token)."""
        owner = token.salted_id
        if not owner:
            return
        for key in self.storage.list(f"token/{owner}/"):
            raw = self.storage.get(f"token/{owner}/{key}")
            if raw is None:
                continue
            lease_id = raw.decode()
            try:
                self.revoke(lease_id, force=False)
            except ErrorResponse:
                # Keep the lease scheduled for retry but detach it from the dead token.
                self.storage.delete(f"token/{owner}/{key}")

    def revoke_by_tokens(self, tokens: list[Any]) -> None:
        """``revoke_by_token`` for many tokens: one query finds the leases they own."""
        owners = [f"token/{t.salted_id}/" for t in tokens if t.salted_id]
        for keys in self.storage.list_many(owners).values():
            for key in keys:
                raw = self.storage.get(key)
                if raw is None:
                    continue
                try:
                    self.revoke(raw.decode(), force=False)
                except ErrorResponse:
                    self.storage.delete(key)  # retried on its schedule, detached from the dead token

    # -- the ticker ------------------------------------------------------------------
    def tick(self, now: float | None = None, budget: float | None = None) -> int:
        """Revoke every lease due by ``now``, ``REVOKE_BATCH`` per commit; returns how many.
        With ``budget`` it returns after about that many seconds (the next tick goes on)."""
        now = now if now is not None else time.time()
        deadline = time.monotonic() + budget if budget is not None else None
        done = 0
        while True:
            due = self._pop_due(now)
            if not due:
                return done
            ops: list[TxnOp] = []
            forgotten: list[Lease] = []
            stored = self._get_batch(due)
            routes: dict[str, Route | None] = {}
            for lease_id in due:
                lease = stored.get(lease_id)
                if lease is None or (lease.expire_time > now + 0.001 and lease.revoke_attempts == 0):
                    continue  # revoked already, or renewed (a later heap item covers it)
                start = time.perf_counter()
                prefix = lease.mount_prefix
                if prefix not in routes:
                    routes[prefix] = self.core.router.get(prefix)
                try:
                    self._revoke_through(lease, routes[prefix], force=False)
                except ErrorResponse:
                    continue  # rescheduled with back-off
                metrics.LEASE_REVOKE.since(start)
                ops.extend(self._forget(lease))
                forgotten.append(lease)
            try:
                self.storage.transaction(ops)
            except Exception:
                for lease_id in due:  # revoked in their backends, not yet forgotten: try again
                    self._schedule(now + 5, lease_id)
                raise
            self._uncount(forgotten)
            done += len(forgotten)
            metrics.LEASE_EXPIRATIONS.inc(amount=len(forgotten))
            if deadline is not None and time.monotonic() >= deadline:
                return done  # at least one batch per tick, whatever the budget

    def _pop_due(self, now: float) -> list[str]:
        with self._lock:
            due: list[str] = []
            while self._heap and self._heap[0][0] <= now and len(due) < REVOKE_BATCH:
                due.append(heapq.heappop(self._heap)[1])
            return due

    def scheduled_count(self) -> int:
        """Items on the schedule (a renewed lease may hold two until the older comes up)."""
        return len(self._heap)

    def backlog(self, now: float | None = None) -> tuple[int, float]:
        """(schedule items past due, seconds the oldest is late): a walk of the heap's due part."""
        now = now if now is not None else time.time()
        with self._lock:
            heap = self._heap
            if not heap or heap[0][0] > now:
                return 0, 0.0
            count, stack = 0, [0]
            while stack:
                i = stack.pop()
                if heap[i][0] > now:
                    continue
                count += 1
                stack.extend(c for c in (2 * i + 1, 2 * i + 2) if c < len(heap))
            return count, now - heap[0][0]

    def tidy(self) -> int:
        """Drop index entries whose lease is gone and leases owned by tokens that no longer exist.

        The leases and the tokens are each read once, a page per query, into compact key sets; the
        owner index is then checked against them a page at a time, and only an entry that looks
        dangling costs reads of its own (one query per entry took minutes at a million).
        """
        leases = self._stored_keys(self.storage)
        tokens = self.core.tokens
        owners = self._stored_keys(tokens.storage) if tokens is not None else None
        removed = 0
        after = ""
        while True:
            page, following = self.storage.scan("token/", after, LOAD_PAGE)
            dangling: list[TxnOp] = []
            orphaned: list[Lease] = []
            for key, raw in page:
                lease_id = raw.decode()
                owner = key.split("/")[1]
                if lease_id not in leases and self.get(lease_id) is None:
                    dangling.append(TxnOp(key, None))
                elif (
                    owners is not None
                    and owner not in owners
                    and tokens.lookup_salted(owner, allow_expired=True) is None
                ):
                    lease = self.get(lease_id)
                    if lease is None:  # revoked meanwhile
                        dangling.append(TxnOp(key, None))
                        continue
                    try:
                        self._revoke_in_backend(lease, force=False)
                        orphaned.append(lease)
                    except ErrorResponse:
                        pass  # rescheduled with back-off; the next tidy looks again
                    removed += 1
            self.storage.transaction(dangling + [op for lease in orphaned for op in self._forget(lease)])
            self._uncount(orphaned)
            removed += len(dangling)
            if following is None:
                return removed
            after = following

    @staticmethod
    def _stored_keys(storage: Storage) -> KeySet:
        """The IDs under ``id/`` (leases, or salted token IDs), read a page per query."""
        found = KeySet()
        after = ""
        while True:
            page, following = storage.scan("id/", after, LOAD_PAGE)
            for key, _ in page:
                found.add(key[3:])
            if following is None:
                found.freeze()
                return found
            after = following


def _storable(lease_id: str) -> bool:
    """Whether ``lease_id`` can name a stored lease (not empty, no ``..`` segment)."""
    return bool(lease_id) and ".." not in lease_id.split("/")

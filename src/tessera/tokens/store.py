"""The token store: service tokens persisted under salted IDs, batch tokens carried by the client.

Storage layout (inside the barrier, under ``sys/token/``):
``salt``; ``id/<salted id>`` → entry; ``accessor/<salted accessor>`` → {accessor, salted_id};
``parent/<salted parent>/<salted child>`` → empty, for tree revocation; ``roles/<name>`` → role;
``denylist/<GCM tag or SHA-256, hex>`` → a revoked batch token's expiry; ``issuers/<id>`` → an
issuer's epoch.

The store is the only writer of these keys, so it keeps an in-memory cache of service entries by
salted ID (every write and revocation goes through it and updates the cache); validating a
service token is then a dict lookup, and a batch token needs no storage access beyond its
parent's liveness.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from ..barrier.aes_gcm import Barrier
from ..framework.errors import PermissionDenied, SealedError
from ..runtime.rebuild import Rebuild
from ..storage.base import Storage, TxnOp
from ..telemetry import metrics
from . import batch
from .counting import LeaseCounting, token_counts, token_role
from .denylist import DenyList
from .entry import (
    BATCH,
    BATCH_PREFIXES,
    RECOVERY_PREFIXES,
    REVOCATION_PENDING,
    SERVICE,
    SERVICE_PREFIXES,
    TokenEntry,
    is_batch_id,
)
from .ids import Salt, base62, new_accessor, new_service_id
from .issuers import PARENT_PREFIX, Issuers

log = logging.getLogger("tessera.tokens")

# Called for every token revoked, before its entry disappears (cubbyhole, leases, ...).
RevokeHook = Callable[[TokenEntry], None]

CACHE_LIMIT = 200_000
# Expired tokens revoked together (one commit to mark them, one to remove them).
EXPIRE_BATCH = 256
RESTORE_PAGE = 5000  # tokens read per storage query while the expiry schedule is rebuilt

# Why a batch token that decrypts is refused (a privileged lookup says so; the token gets 403).
REFUSED_REVOKED = "revoked"
REFUSED_EPOCH = "issuer epoch"

_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TokenEntry))
# The fields the cache keeps as tuples, by name: a compiled build (setup.py) gives the dataclass
# runtime classes for annotations, where ``dict[str, str] | None`` is no longer recognisable
# (tests/tokens/test_store.py holds these lists to entry.py's annotations).
LIST_FIELDS = ("policies", "bound_cidrs")
DICT_FIELDS = ("meta", "internal_meta", "auth_internal_data")
_LIST_FIELDS = tuple(_FIELD_NAMES.index(name) for name in LIST_FIELDS)
_DICT_FIELDS = tuple(_FIELD_NAMES.index(name) for name in DICT_FIELDS)
_NUM_USES = _FIELD_NAMES.index("num_uses")
_EXPIRE_TIME = _FIELD_NAMES.index("expire_time")
_ATOMIC = (str, int, float, bool, type(None))

# A cached entry is a flat tuple of the entry's fields, lists and dicts turned into tuples. The
# garbage collector stops tracking tuples of plain values, so a dev server holding 100 000 tokens
# no longer pauses for a full collection over 300 000 entry objects, lists and dicts (measured:
# 33 ms at 20 000 tokens, 155 ms at 60 000, every few thousand creations).
CachedEntry = tuple[Any, ...]


def _freeze(entry: TokenEntry) -> CachedEntry:
    state = entry.__dict__
    values = [state[name] for name in _FIELD_NAMES]
    values[0] = ""  # the raw ID never stays in memory
    for i in _LIST_FIELDS:
        values[i] = tuple(values[i])
    for i in _DICT_FIELDS:
        value = values[i]
        if value is not None and all(isinstance(v, _ATOMIC) for v in value.values()):
            values[i] = tuple(value.items())  # else kept as a dict copy (rare: nested data)
        elif value is not None:
            values[i] = dict(value)
    return tuple(values)


# The thawed state (tokens/batch.py's frozen form: a dict of the entry's attributes) of service
# entries looked up lately, each with the cached tuple it was made from and used only while the
# cache holds that very tuple. A lookup then copies one dict (~9k instructions) where a walk over the
# tuple took ~26k: every request with a service token makes one. Bounded: ~1.5 KB
# an entry.
_STATES_LIMIT = 1024
# The IDs ``peek`` leaves to ``lookup``: recovery and batch tokens (one ``startswith``).
_NOT_PEEKED = RECOVERY_PREFIXES + BATCH_PREFIXES


def _usable(cached: CachedEntry, *, allow_expired: bool = False, tainted: bool = False) -> bool:
    if cached[_NUM_USES] < 0 and not tainted:
        return False
    expire = cached[_EXPIRE_TIME]
    return allow_expired or expire <= 0 or time.time() < expire


class TokenStoreError(Exception):
    """A refusal with Vault's wording; the token backend turns it into a 400."""


class TokenStore:
    def __init__(self, storage: Storage, barrier: Barrier) -> None:
        self.storage = storage
        self.barrier = barrier
        self.salt: Salt | None = None
        # Lease ownership and cubbyhole clean-up plug in here (issue 7 adds dynamic-secret owners).
        self.revoke_hooks: list[RevokeHook] = []
        # The same clean-up for many tokens at once (batched expiry); when set, it replaces
        # ``revoke_hooks`` there, so it must do everything they do.
        self.bulk_revoke_hooks: list[Callable[[list[TokenEntry]], None]] = []
        self._lock = threading.RLock()
        # Expiry heap plus the one live heap item per token: renewals do not pile up items.
        self._expiry: list[tuple[float, str]] = []
        self._scheduled: dict[str, float] = {}
        self._expiry_lock = threading.Lock()
        # Service entries by salted ID, without their raw IDs (those never stay in memory).
        self._cache: dict[str, CachedEntry] = {}
        self._states: dict[str, list[Any]] = {}  # see _STATES_LIMIT
        # Batch tokens cannot be deleted: they are refused by deny-list or issuer epoch instead.
        self.denylist = DenyList(storage)
        self.issuers = Issuers(storage)
        self._rebuild = Rebuild(self._rebuild_expiry, "tessera-token-restore")
        self._stopped = self._rebuild.stopped
        self.lease_counter: LeaseCounting | None = None  # the lease-count quotas, on the active process

    # -- lifecycle -------------------------------------------------------------------
    def setup(self, *, expiry: bool = True, background: bool = True) -> None:
        """Load the salt and rebuild the expiry schedule (in the background unless told not to).

        ``expiry=False`` (a worker process, which revokes nothing) skips the schedule. Requests
        need no schedule (a lookup checks the expiry time itself), so the unseal does not wait
        for it to read every token.
        """
        raw = self.storage.get("salt")
        if raw is None:
            raw = secrets.token_bytes(32)
            self.storage.put("salt", raw)
        self.salt = Salt(raw)
        self._cache.clear()
        self.denylist.load()
        self.issuers.load()
        if expiry:
            self._rebuild.start(background=background)

    def stop(self) -> None:
        """Stop a schedule rebuild still under way (the server seals or shuts down)."""
        self._rebuild.stop()

    def _rebuild_expiry(self) -> None:
        """The expiry heap lives in memory; rebuilding it after unseal makes expiry survive restarts.

        Tokens created or renewed meanwhile schedule themselves; ``_schedule`` keeps the earlier
        of two items, and a token found renewed when its item comes up is looked at again.
        """
        after = ""
        try:
            while not self._stopped.is_set():
                page, following = self.storage.scan("id/", after, RESTORE_PAGE)
                entries = []
                for key, raw in page:
                    doc = orjson.loads(raw)
                    if doc.get("expire_time"):
                        entries.append((float(doc["expire_time"]), key[3:]))
                with self._expiry_lock:
                    for when, salted_id in entries:
                        self._schedule_locked(when, salted_id)
                if following is None:
                    break
                after = following
        except SealedError:
            return
        except Exception:
            log.exception("restoring the token expiry schedule failed")

    def salted(self, value: str) -> str:
        """The storage key's hash of a token ID (on every lookup; ``Salt`` prepares its HMAC once).

        Not memoised: a map from raw token IDs would keep every secret in memory.
        """
        assert self.salt is not None, "token store is not set up"
        return self.salt.hash(value)

    def invalidate(self, salted_id: str | None = None) -> None:
        """Drop cached entries (another process wrote storage); None drops everything.

        Under the fill lock: a lookup that read storage before the write cannot put its stale
        entry back after this.
        """
        with self._lock:
            if salted_id is None:
                self._cache.clear()
                self._states.clear()
            else:
                self._cache.pop(salted_id, None)

    def invalidate_key(self, key: str) -> None:
        """Another process wrote a key of this store (relative to ``sys/token/``)."""
        if key.startswith("id/"):
            self.invalidate(key[3:])
        elif key.startswith("denylist/"):
            self.denylist.invalidate(key[len("denylist/") :])
        elif key.startswith("issuers/"):
            self.issuers.invalidate(key[len("issuers/") :])

    def _remember(self, entry: TokenEntry) -> CachedEntry:
        if len(self._cache) >= CACHE_LIMIT:
            try:
                self._cache.pop(next(iter(self._cache)))
            except (StopIteration, KeyError, RuntimeError):
                pass
        cached = self._cache[entry.salted_id] = _freeze(entry)
        return cached

    def _write(self, entry: TokenEntry) -> None:
        self.storage.put("id/" + entry.salted_id, orjson.dumps(entry.to_storage()))
        self._remember(entry)

    # -- creation --------------------------------------------------------------------
    def create(self, entry: TokenEntry) -> TokenEntry:
        """Persist a service token or encode a batch token; fills ``entry.id``."""
        if entry.type == BATCH:  # every batch creation and login: each field read once
            created = float(int(entry.creation_time or time.time()))
            ttl = entry.ttl
            issuer = entry.issuer or entry.path
            parent = entry.parent
            issuers = self.issuers
            entry.accessor = ""
            entry.renewable = False
            entry.creation_time = entry.issue_time = created
            entry.expire_time = created + ttl if ttl else 0.0
            entry.creation_ttl = ttl
            entry.issuer = issuer
            entry.epoch = issuers.epoch(issuer)
            entry.parent_epoch = issuers.parent_epoch(parent) if parent else 0
            entry.id = batch.encode(self.barrier, entry)
            return entry
        now = time.time()
        if not entry.creation_time:
            entry.creation_time = float(int(now))
        entry.type = SERVICE
        if "root" in entry.policies:
            metrics.TOKEN_CREATE_ROOT.inc()
        custom_id = bool(entry.id)
        if custom_id:
            if entry.id.startswith("hvs."):
                raise TokenStoreError("custom token ID cannot have the 'hvs.' prefix")
            if entry.id.startswith("s."):
                raise TokenStoreError("custom token ID cannot have the 's.' prefix")
            if "." in entry.id:
                raise TokenStoreError("custom token ID cannot have a '.' in the value")
        else:
            entry.id = new_service_id()
        entry.salted_id = self.salted(entry.id)
        entry.accessor = entry.accessor or new_accessor()
        entry.cubbyhole_id = entry.cubbyhole_id or base62(24)
        entry.issue_time = entry.issue_time or now
        entry.creation_ttl = entry.ttl
        entry.auth_num_uses = entry.auth_num_uses or entry.num_uses
        entry.expire_time = entry.issue_time + entry.ttl if entry.ttl else 0.0
        ops = [
            TxnOp("id/" + entry.salted_id, orjson.dumps(entry.to_storage())),
            TxnOp(
                "accessor/" + self.salted(entry.accessor),
                orjson.dumps({"accessor": entry.accessor, "salted_id": entry.salted_id}),
            ),
        ]
        if entry.parent:
            ops.append(TxnOp(f"parent/{entry.parent}/{entry.salted_id}", b""))
        counter = self._count_lease(entry)
        try:
            self._commit_new(entry, ops, custom_id)
        except BaseException:
            if counter is not None:
                counter.release_tokens([entry])
            raise
        if entry.parent and not self.alive(entry.parent):
            # The parent's revocation began while this child was being written, possibly after
            # it listed the children: _destroy marks the parent first, so this check sees it.
            self._destroy(entry.salted_id, orphan_children=False)
            raise TokenStoreError("parent token is being revoked")
        self._schedule(entry)
        return entry

    def _count_lease(self, entry: TokenEntry) -> Any:
        """Count the token against its lease-count quota (raises when full); the counter or None."""
        counter = self.lease_counter
        if counter is None or not counter.active:
            return None
        if not token_counts(entry):
            return None
        counter.acquire("t:" + entry.salted_id, entry.path, token_role(entry))
        return counter

    def _commit_new(self, entry: TokenEntry, ops: list[TxnOp], custom_id: bool) -> None:
        if custom_id:
            # A caller-chosen ID may be taken: check and write as one step.
            with self._lock:
                if self.storage.get("id/" + entry.salted_id) is not None:
                    raise TokenStoreError("cannot create a token with a duplicate ID")
                self.storage.transaction(ops)
                self._remember(entry)
        else:
            # A fresh 143-bit random ID cannot collide, so no lock is held across the commit:
            # concurrent creations then share one fsync (group commit) instead of queueing.
            self.storage.transaction(ops)
            self._remember(entry)

    def _schedule(self, entry: TokenEntry) -> None:
        """Make sure the token is looked at no later than its expiry.

        A later expiry (a renewal) needs no new item: the earlier one finds the token alive and
        reschedules it; an earlier expiry supersedes the pending item.
        """
        if entry.expire_time <= 0 or not entry.salted_id:
            return
        with self._expiry_lock:
            self._schedule_locked(entry.expire_time, entry.salted_id)

    def _schedule_locked(self, when: float, salted_id: str) -> None:
        pending = self._scheduled.get(salted_id)
        if pending is not None and pending <= when:
            return
        self._scheduled[salted_id] = when
        heapq.heappush(self._expiry, (when, salted_id))

    def save(self, entry: TokenEntry) -> None:
        """Persist changes to a service token (renewal, re-parenting)."""
        with self._lock:
            self._write(entry)
        self._schedule(entry)

    # -- lookup ----------------------------------------------------------------------
    def lookup(
        self, token_id: str, *, allow_expired: bool = False, tainted: bool = False
    ) -> TokenEntry | None:
        """The live entry for a token ID, or None (unknown, expired, revoked, tampered).

        ``tainted`` also returns a token whose last use is being served (num_uses -1), which
        unwrapping needs to read the wrapping token's cubbyhole.
        Raises ``batch.MalformedBatchToken`` for a batch token that is not base64.
        """
        if not token_id or token_id.startswith(RECOVERY_PREFIXES):
            return None
        if is_batch_id(token_id):
            opened = batch.open_token(self.barrier, token_id)
            if opened is None:
                return None
            entry, tag = opened
            if entry.expired() and not allow_expired:
                return None
            if entry.parent and not self.alive(entry.parent):
                return None
            if self.batch_refusal(entry, tag) is not None:
                return None
            return entry
        found = self.lookup_salted(self.salted(token_id), allow_expired=allow_expired, tainted=tainted)
        if found is not None:
            found.id = token_id
        return found

    def batch_refusal(self, entry: TokenEntry, tag: bytes) -> str | None:
        """Why a batch token that decrypts is refused all the same, or None."""
        if self.denylist.denied(entry.id if entry.id.startswith("hvb.") else batch.canonical(entry.id), tag):
            return REFUSED_REVOKED
        issuers = self.issuers
        if issuers.stale(entry.issuer, entry.epoch) or (
            entry.parent and issuers.stale_parent(entry.parent, entry.parent_epoch)
        ):
            return REFUSED_EPOCH
        return None

    def bump_issuer(self, issuer: str) -> int:
        """Cut an issuer (tokens/issuers.py); a parent's (``auth/token/parent/<accessor>``)
        must name a token's accessor. Raises TokenStoreError otherwise."""
        if not issuer.startswith(PARENT_PREFIX):
            return self.issuers.bump(issuer)
        salted_id = self.accessor_target(issuer[len(PARENT_PREFIX) :])
        if not salted_id:
            raise TokenStoreError("invalid accessor")
        return self.issuers.bump(issuer, salted_id)

    def refusal_of(self, token_id: str) -> str | None:
        """For a privileged lookup: why this batch token is refused though it decrypts."""
        if not is_batch_id(token_id):
            return None
        try:
            opened = batch.open_token(self.barrier, token_id)
        except batch.MalformedBatchToken:
            return None
        if opened is None or opened[0].expired():
            return None  # never a token, or past its TTL: nothing more to say than "bad token"
        return self.batch_refusal(*opened)

    def revoke_batch(self, name: bytes, expire_time: float) -> None:
        """Deny a batch token (its GCM tag, or the SHA-256 of its ``hvb.`` spelling) until it
        would have expired."""
        self.denylist.add(name, expire_time)

    def lookup_salted(
        self, salted_id: str, *, allow_expired: bool = False, tainted: bool = False
    ) -> TokenEntry | None:
        cached = self._cache.get(salted_id)
        if cached is None:
            # Fill under the writers' lock so a concurrent write cannot be overtaken by a stale read.
            with self._lock:
                cached = self._cache.get(salted_id)
                if cached is None:
                    doc = self.storage.get_json("id/" + salted_id)
                    if doc is None:
                        return None
                    cached = self._remember(TokenEntry.from_storage(doc))
        if not _usable(cached, allow_expired=allow_expired, tainted=tainted):
            return None
        return self._thawed(salted_id, cached)

    def _thawed(self, salted_id: str, cached: CachedEntry) -> TokenEntry:
        """A fresh entry callers may change freely (its lists and dicts its own), from the
        remembered state of an entry looked up lately."""
        return batch.thaw(self._remembered(salted_id, cached)[1])

    def _remembered(self, salted_id: str, cached: CachedEntry) -> list[Any]:
        """[the cached tuple, its thawed state, its shared entry or None] (see _STATES_LIMIT)."""
        states = self._states
        found = states.get(salted_id)
        if found is None or found[0] is not cached:
            if len(states) >= _STATES_LIMIT:
                states.clear()  # bounded: many distinct tokens only cost building states again
            found = states[salted_id] = [cached, dict(zip(_FIELD_NAMES, cached, strict=True)), None]
        return found

    def peek(self, token_id: str) -> TokenEntry | None:
        """``lookup`` for a caller that only reads the entry (core/prepared.py): the live service
        token's entry, shared by every such caller and never to be changed, without its ID (no
        raw ID stays in memory). None for a batch or recovery token too (``lookup`` serves those).
        """
        if not token_id or token_id.startswith(_NOT_PEEKED):
            return None
        salted_id = self.salted(token_id)
        cached = self._cache.get(salted_id)
        if cached is None:
            if self.lookup_salted(salted_id) is None:  # fills the cache
                return None
            cached = self._cache.get(salted_id)
        if cached is None or not _usable(cached):
            return None
        found = self._remembered(salted_id, cached)
        shared = found[2]
        if shared is None:
            shared = found[2] = batch.thaw(found[1])
        return shared  # type: ignore[no-any-return]

    def alive(self, salted_id: str) -> bool:
        """Whether a service token is usable now: a batch token's parent check, with no copy made.

        Answered from the entry cache (filled on a miss), so validating a batch token touches no
        storage once its parent has been seen.
        """
        cached = self._cache.get(salted_id)
        if cached is None:
            return self.lookup_salted(salted_id) is not None
        return _usable(cached)

    def accessor_target(self, accessor: str) -> str | None:
        """The salted token ID an accessor points at (the token itself may be gone)."""
        if not accessor:
            return None
        doc = self.storage.get_json("accessor/" + self.salted(accessor))
        return None if doc is None else str(doc.get("salted_id", ""))

    def lookup_lease(self, lease_id: str) -> TokenEntry | None:
        """The service token behind a token lease ID (``<creation path>/<salted id>``), or None.

        Tokens keep their lease facts in their own entry; this lets sys/leases/* recognise them
        (Vault answers ``tokens cannot be renewed through this endpoint`` for such IDs).
        """
        path, _, salted_id = lease_id.rpartition("/")
        if not path.startswith("auth/") or not salted_id.startswith("h"):
            return None
        entry = self.lookup_salted(salted_id, allow_expired=True, tainted=True)
        return entry if entry is not None and entry.path == path else None

    def lookup_accessor(self, accessor: str, *, tainted: bool = False) -> TokenEntry | None:
        salted_id = self.accessor_target(accessor)
        return self.lookup_salted(salted_id, tainted=tainted) if salted_id else None

    def list_accessors(self) -> list[str]:
        """Every accessor in the index, in storage order (Vault does not sort them either)."""
        out = []
        after = ""
        while True:  # a page of index entries per query: one query each took seconds on PostgreSQL
            page, following = self.storage.scan("accessor/", after, RESTORE_PAGE)
            for _, raw in page:
                doc = orjson.loads(raw)
                if doc and doc.get("salted_id"):
                    out.append(doc["accessor"])
            if following is None:
                return out
            after = following

    def children(self, salted_id: str) -> list[str]:
        return [c for c in self.storage.list(f"parent/{salted_id}/") if not c.endswith("/")]

    # -- use -------------------------------------------------------------------------
    def use(self, entry: TokenEntry) -> bool:
        """Count one use of a limited-use token; True when this was the last one.

        Raises PermissionDenied when the token disappeared since it was resolved, so that two
        concurrent requests can never both spend a single remaining use.

        The last use is stored as -1 (revocation pending): the token disappears for every other
        request at once, while the request being served still completes.
        """
        if entry.type == BATCH or entry.num_uses == 0:
            return False
        with self._lock:
            current = self.lookup_salted(entry.salted_id)
            if current is None:
                # Its last use went to a concurrent request (or it was revoked meanwhile).
                raise PermissionDenied()
            current.num_uses -= 1
            last = current.num_uses == 0
            if last:
                current.num_uses = REVOCATION_PENDING
            self._write(current)
            entry.num_uses = current.num_uses
            return last

    # -- revocation ------------------------------------------------------------------
    def revoke_tree(self, entry: TokenEntry) -> None:
        """Revoke a service token and every descendant, leaves first."""
        if entry.type == BATCH:
            raise TokenStoreError("batch tokens cannot be revoked")
        self.revoke_tree_salted(entry.salted_id)

    def revoke_tree_salted(self, salted_id: str) -> None:
        stack = [salted_id]
        order: list[str] = []
        seen: set[str] = set()
        while stack:
            sid = stack.pop()
            if sid in seen:
                continue
            seen.add(sid)
            order.append(sid)
            stack.extend(self.children(sid))
        for sid in reversed(order):
            self._destroy(sid, orphan_children=False)

    def revoke_prefix(self, path_prefix: str) -> int:
        """Revoke (with their trees) the tokens created under a path, e.g. a disabled auth mount."""
        count = 0
        for key in self.storage.list_all("id/"):
            entry = self.lookup_salted(key[3:], allow_expired=True, tainted=True)
            if entry is not None and entry.path.startswith(path_prefix):
                self.revoke_tree_salted(entry.salted_id)
                count += 1
        return count

    def revoke_orphan(self, entry: TokenEntry) -> None:
        """Revoke only this token; its direct children become orphans."""
        if entry.type == BATCH:
            raise TokenStoreError("batch tokens cannot be revoked")
        self._destroy(entry.salted_id, orphan_children=True)

    def _destroy(self, salted_id: str, *, orphan_children: bool) -> None:
        """Vault's revokeInternal: mark pending, run hooks, drop indexes, then the entry."""
        with self._lock:
            doc = self.storage.get_json("id/" + salted_id)
            if doc is None:
                # A dangling parent index entry: clean what is left.
                self._cache.pop(salted_id, None)
                self.storage.delete_prefix(f"parent/{salted_id}/")
                return
            entry = TokenEntry.from_storage(doc)
            # Mark revocation pending so concurrent requests stop seeing the token at once.
            if entry.num_uses != REVOCATION_PENDING:
                entry.num_uses = REVOCATION_PENDING
                self._write(entry)
        for hook in self.revoke_hooks:
            try:
                hook(entry)
            except Exception:  # a failing hook must not leave a half-revoked token usable
                log.exception("revocation hook failed for accessor %s", entry.accessor)
        with self._lock:
            ops = [TxnOp("accessor/" + self.salted(entry.accessor), None)] if entry.accessor else []
            if entry.parent:
                ops.append(TxnOp(f"parent/{entry.parent}/{salted_id}", None))
            for child in self.children(salted_id):
                ops.append(TxnOp(f"parent/{salted_id}/{child}", None))
                if orphan_children:
                    child_entry = self.lookup_salted(child, allow_expired=True, tainted=True)
                    if child_entry is not None:
                        child_entry.parent = ""
                        ops.append(TxnOp("id/" + child, orjson.dumps(child_entry.to_storage())))
                        self._remember(child_entry)
            ops.append(TxnOp("id/" + salted_id, None))
            self.storage.transaction(ops)
            self._cache.pop(salted_id, None)
        self._uncount([entry])

    # -- expiry ----------------------------------------------------------------------
    def expire_due(self, now: float | None = None, budget: float | None = None) -> int:
        """Revoke every token whose expiry has passed (with its tree); returns how many.

        Tokens are taken ``EXPIRE_BATCH`` at a time and those without children (nearly all) are
        revoked together: two commits per batch instead of two per token, which let expiry fall
        behind creation (~600 revocations a second against ~1,600 creations). With ``budget``
        it returns after about that many seconds, leaving the rest for the next pass.
        """
        now = now if now is not None else time.time()
        deadline = time.monotonic() + budget if budget is not None else None
        count = 0
        while True:
            due = self._pop_due(now, EXPIRE_BATCH)
            if not due:
                return count
            expired: list[TokenEntry] = []
            for salted_id in due:
                entry = self.lookup_salted(salted_id, allow_expired=True, tainted=True)
                if entry is None:
                    continue  # revoked already
                if not entry.expired(now):
                    self._schedule(entry)  # renewed since: look again at the new expiry
                else:
                    expired.append(entry)
            kids = self._children_of(expired)
            leaves: list[TokenEntry] = []
            for entry in expired:
                if kids[entry.salted_id]:
                    count += self._expire_tree(entry, now)
                else:
                    leaves.append(entry)
            try:
                count += self._destroy_leaves(leaves)
            except Exception:
                log.exception("expiring %d tokens failed; will retry", len(leaves))
                self._retry_later([e.salted_id for e in leaves], now + 5)
                return count
            if deadline is not None and time.monotonic() >= deadline:
                return count  # at least one batch per pass, whatever the budget

    def _children_of(self, entries: list[TokenEntry]) -> dict[str, list[str]]:
        """Salted ID -> salted IDs of its children, for many tokens in one storage query."""
        found = self.storage.list_many([f"parent/{e.salted_id}/" for e in entries])
        return {prefix[7:-1]: [key[len(prefix) :] for key in keys] for prefix, keys in found.items()}

    def _pop_due(self, now: float, limit: int) -> list[str]:
        """Up to ``limit`` salted IDs whose scheduled expiry has passed, taken off the schedule."""
        out: list[str] = []
        with self._expiry_lock:
            while self._expiry and self._expiry[0][0] <= now and len(out) < limit:
                when, salted_id = heapq.heappop(self._expiry)
                if self._scheduled.get(salted_id) != when:
                    continue  # superseded by an earlier item
                del self._scheduled[salted_id]
                out.append(salted_id)
        return out

    def _retry_later(self, salted_ids: list[str], when: float) -> None:
        with self._expiry_lock:
            for salted_id in salted_ids:
                self._scheduled[salted_id] = when
                heapq.heappush(self._expiry, (when, salted_id))

    def _expire_tree(self, entry: TokenEntry, now: float) -> int:
        try:
            self.revoke_tree_salted(entry.salted_id)
            return 1
        except Exception:
            log.exception("expiring token with accessor %s failed; will retry", entry.accessor)
            self._retry_later([entry.salted_id], now + 5)
            return 0

    def _destroy_leaves(self, entries: list[TokenEntry]) -> int:
        """``_destroy`` for many childless tokens at once: one commit marks them all revoked,
        the hooks run per token, one commit removes them all."""
        with self._lock:
            # Re-read under the writers' lock: a token revoked meanwhile must not be written back.
            found = (self.lookup_salted(e.salted_id, allow_expired=True, tainted=True) for e in entries)
            entries = [e for e in found if e is not None]
            if not entries:
                return 0
            marks = []
            for entry in entries:
                if entry.num_uses != REVOCATION_PENDING:
                    entry.num_uses = REVOCATION_PENDING
                    marks.append(TxnOp("id/" + entry.salted_id, orjson.dumps(entry.to_storage())))
                    self._remember(entry)
            if marks:
                self.storage.transaction(marks)
        self._run_revoke_hooks(entries)
        ops: list[TxnOp] = []
        with self._lock:
            kids = self._children_of(entries)  # created since they were looked at
            for entry in entries:
                if entry.accessor:
                    ops.append(TxnOp("accessor/" + self.salted(entry.accessor), None))
                if entry.parent:
                    ops.append(TxnOp(f"parent/{entry.parent}/{entry.salted_id}", None))
                for child in kids[entry.salted_id]:
                    ops.append(TxnOp(f"parent/{entry.salted_id}/{child}", None))
                ops.append(TxnOp("id/" + entry.salted_id, None))
            self.storage.transaction(ops)
            for entry in entries:
                self._cache.pop(entry.salted_id, None)
        self._uncount(entries)
        return len(entries)

    def _uncount(self, entries: list[TokenEntry]) -> None:
        counter = self.lease_counter
        if counter is not None and counter.active:
            counter.release_tokens(entries)

    def _run_revoke_hooks(self, entries: list[TokenEntry]) -> None:
        """The bulk hooks when every hook has one (a query per batch, not per token), else each
        hook per token."""
        if self.bulk_revoke_hooks:
            for bulk in self.bulk_revoke_hooks:
                try:
                    bulk(entries)
                except Exception:
                    log.exception("revocation hook failed for %d tokens", len(entries))
            return
        for entry in entries:
            for hook in self.revoke_hooks:
                try:
                    hook(entry)
                except Exception:
                    log.exception("revocation hook failed for accessor %s", entry.accessor)

    def expiry_backlog(self, now: float | None = None) -> tuple[int, float]:
        """(tokens whose expiry has passed but that are still scheduled, seconds the oldest is late).

        Walks only the heap's due part: the cost is the backlog, not the number of tokens.
        """
        now = now if now is not None else time.time()
        with self._expiry_lock:
            heap, scheduled = self._expiry, self._scheduled
            if not heap or heap[0][0] > now:
                return 0, 0.0
            oldest = heap[0][0]
            count, stack = 0, [0]
            while stack:
                i = stack.pop()
                when, salted_id = heap[i]
                if when > now:
                    continue
                if scheduled.get(salted_id) == when:
                    count += 1
                stack.extend(c for c in (2 * i + 1, 2 * i + 2) if c < len(heap))
        return count, now - oldest if count else 0.0

    def scheduled_count(self) -> int:
        """Tokens with an expiry on the schedule (Vault counts them among its leases)."""
        return len(self._scheduled)

    def cache_size(self) -> int:
        return len(self._cache)

    def next_expiry(self) -> float | None:
        with self._expiry_lock:
            return self._expiry[0][0] if self._expiry else None


__all__ = [
    "SERVICE_PREFIXES",
    "RevokeHook",
    "TokenStore",
    "TokenStoreError",
]

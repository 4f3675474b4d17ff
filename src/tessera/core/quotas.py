"""Rate-limit quotas (Vault's vault/quotas): the rules, their buckets, and the HTTP-level check.

Vault applies rate limits in its HTTP wrapper (``rateLimitQuotaWrapping``), before the namespace's
raw handlers, the seal check and the token: a limited request never costs a token use or a storage
read. The rule that applies to a request is the most specific one: a role quota of the login's auth
mount, then a path quota (exact, then ``*`` globs from the longest), then the mount's, then the
global one. Each rule keeps one fixed-window bucket per client IP (go-limiter's memorystore): ``rate``
requests per ``interval``, the window anchored at the client's first request; with a
``block_interval`` a client that overruns is refused for that long.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..framework import Operation, Request
from ..routing.mounts import MountEntry
from ..storage.base import StorageView
from .host import Host
from .lease_quotas import LEASE_COUNT_TYPE, LeaseCounter, LeaseCountQuota
from .quota_rules import most_specific

QUOTA_TYPE = "rate-limit"
DEFAULT_EXEMPT_PATHS = [
    "sys/generate-recovery-token/attempt",
    "sys/generate-recovery-token/update",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
    "sys/health",
    "sys/seal-status",
    "sys/unseal",
]
CONFIG_KEY = "config"
EXEMPT_TOGGLE_KEY = "default_rate_limit_exempt_paths_toggle"
STALE_AGE = 180.0  # memorystore's SweepMinTTL: a client idle this long loses its bucket
_NS = 1_000_000_000


@dataclass
class QuotaResult:
    """What the HTTP layer does with a request: let it through or answer 429, with these headers."""

    allowed: bool
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class _Bucket:
    start: float
    last_tick: int = 0
    available: int = 0
    last_seen: float = 0.0


@dataclass
class RateLimitQuota:
    name: str
    mount_path: str = ""
    path_suffix: str = ""
    role: str = ""
    rate: float = 0.0
    interval: int = 1  # seconds
    block_interval: int = 0  # seconds
    inheritable: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _buckets: dict[str, _Bucket] = field(default_factory=dict, repr=False)
    _blocked: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def api_path(self) -> str:
        return self.mount_path + self.path_suffix

    @property
    def factors(self) -> tuple[str, str, str]:
        return self.mount_path, self.path_suffix, self.role

    def to_json(self) -> dict[str, Any]:
        """Vault's storage shape (durations in nanoseconds)."""
        return {
            "id": self.id,
            "type": QUOTA_TYPE,
            "name": self.name,
            "namespace_path": "root",
            "mount_path": self.mount_path,
            "role": self.role,
            "path_suffix": self.path_suffix,
            "rate": self.rate,
            "interval": self.interval * _NS,
            "block_interval": self.block_interval * _NS,
            "inheritable": self.inheritable,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RateLimitQuota:
        return cls(
            name=str(doc["name"]),
            mount_path=str(doc.get("mount_path", "")),
            path_suffix=str(doc.get("path_suffix", "")),
            role=str(doc.get("role", "")),
            rate=float(doc.get("rate", 0)),
            interval=int(doc.get("interval", _NS)) // _NS or 1,
            block_interval=int(doc.get("block_interval", 0)) // _NS,
            inheritable=bool(doc.get("inheritable", False)),
            id=str(doc.get("id") or uuid.uuid4()),
        )

    def api(self) -> dict[str, Any]:
        return {
            "type": QUOTA_TYPE,
            "name": self.name,
            "path": self.api_path,
            "role": self.role,
            "rate": int(self.rate) if self.rate.is_integer() else self.rate,  # Go prints 5, not 5.0
            "interval": self.interval,
            "block_interval": self.block_interval,
            "inheritable": self.inheritable,
        }

    def allow(self, client: str, now: float | None = None) -> QuotaResult:
        """One request of ``client`` against this rule (go-limiter's Take, plus Vault's blocking)."""
        now = time.time() if now is None else now
        tokens = round(self.rate)
        with self._lock:
            blocked_at = self._blocked.get(client)
            if blocked_at is not None:
                if now - blocked_at >= self.block_interval:
                    del self._blocked[client]
                else:
                    wait = max(0, int(blocked_at + self.block_interval - now - 1e-6))
                    return QuotaResult(False, [(b"retry-after", str(wait).encode())])
            bucket = self._buckets.get(client)
            if bucket is None:
                self._sweep(now)
                bucket = self._buckets[client] = _Bucket(start=now, available=tokens)
            bucket.last_seen = now
            tick = int((now - bucket.start) // self.interval)
            reset_at = bucket.start + (tick + 1) * self.interval
            if bucket.last_tick < tick:
                bucket.available = tokens
                bucket.last_tick = tick
            allowed = bucket.available > 0
            if allowed:
                bucket.available -= 1
            # Go measures the reset with a later clock reading: a fresh window shows interval - 1.
            reset = str(max(0, int(reset_at - now - 1e-6))).encode()
            headers = [
                (b"x-ratelimit-limit", str(tokens).encode()),
                (b"x-ratelimit-remaining", str(bucket.available).encode()),
                (b"x-ratelimit-reset", reset),
            ]
            retry = reset
            if not allowed and self.block_interval > 0:
                self._blocked[client] = now
                retry = str(max(0, self.block_interval - 1)).encode()  # a later clock, as Go
        if not allowed:
            headers.append((b"retry-after", retry))
        return QuotaResult(allowed, headers)

    def _sweep(self, now: float) -> None:
        """Drop the buckets of clients idle for a while, so that many clients cannot grow memory."""
        if len(self._buckets) < 1024:
            return
        for client in [c for c, b in self._buckets.items() if now - b.last_seen > STALE_AGE]:
            del self._buckets[client]


def sanitize_quota_path(path: str) -> str:
    """sys's sanitizePath: a trailing slash added, every leading one removed ("" stays "")."""
    if not path.endswith("/"):
        path += "/"
    return path.lstrip("/")


def _exempt(patterns: list[str], path: str) -> bool:
    """Vault's pathmanager: an exact path, or a prefix when the entry ends in ``*``."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern:
            return True
    return False


class QuotaManager:
    """The quota rules of an unsealed core, kept in ``sys/quotas/`` behind the barrier."""

    def __init__(self, core: Host) -> None:
        self.core = core
        self.storage = StorageView(core.barrier, "sys/quotas/")
        self.quotas: dict[str, RateLimitQuota] = {}
        self.config: dict[str, Any] = {
            "enable_rate_limit_audit_logging": False,
            "enable_rate_limit_response_headers": False,
            "rate_limit_exempt_paths": list(DEFAULT_EXEMPT_PATHS),
        }
        self.lock = threading.RLock()
        self.leases = LeaseCounter(core)

    def setup(self) -> None:
        stored = self.storage.get_json(CONFIG_KEY)
        if stored is not None:
            self.config["enable_rate_limit_audit_logging"] = bool(
                stored.get("enable_rate_limit_audit_logging")
            )
            self.config["enable_rate_limit_response_headers"] = bool(
                stored.get("enable_rate_limit_response_headers")
            )
            if self.storage.get_json(EXEMPT_TOGGLE_KEY):
                self.config["rate_limit_exempt_paths"] = list(stored.get("rate_limit_exempt_paths") or [])
        for name in self.storage.list(QUOTA_TYPE + "/"):
            doc = self.storage.get_json(f"{QUOTA_TYPE}/{name}")
            if doc is not None:
                quota = RateLimitQuota.from_json(doc)
                self.quotas[quota.name] = quota
        self._load_lease_rules()

    def _load_lease_rules(self) -> None:
        for name in self.storage.list(LEASE_COUNT_TYPE + "/"):
            doc = self.storage.get_json(f"{LEASE_COUNT_TYPE}/{name}")
            if doc is not None:
                rule = LeaseCountQuota.from_json(doc)
                self.leases.rules[rule.name] = rule
        self.leases.rules_changed()

    @property
    def any(self) -> bool:
        """Whether any quota of either type exists (workers then forward every request)."""
        return bool(self.quotas or self.leases.rules)

    # -- configuration ---------------------------------------------------------------
    def set_config(self, audit_logging: bool, headers: bool, exempt: list[str]) -> None:
        doc = {
            "enable_rate_limit_audit_logging": audit_logging,
            "enable_rate_limit_response_headers": headers,
            "rate_limit_exempt_paths": list(exempt),
        }
        self.storage.put_json(CONFIG_KEY, doc)
        self.storage.put_json(EXEMPT_TOGGLE_KEY, True)
        with self.lock:
            self.config = doc

    # -- rules -----------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self.quotas)

    def by_name(self, name: str) -> RateLimitQuota | None:
        return self.quotas.get(name)

    def by_factors(self, mount_path: str, path_suffix: str, role: str) -> RateLimitQuota | None:
        for quota in self.quotas.values():
            if quota.factors == (mount_path, path_suffix, role):
                return quota
        return None

    def save(self, quota: RateLimitQuota) -> None:
        """Persist first, then swap the rule in (its buckets start afresh, as Vault's re-initialise)."""
        self.storage.put_json(f"{QUOTA_TYPE}/{quota.name}", quota.to_json())
        with self.lock:
            self.quotas[quota.name] = quota

    def delete(self, name: str) -> None:
        self.storage.delete(f"{QUOTA_TYPE}/{name}")
        with self.lock:
            self.quotas.pop(name, None)

    def save_lease_rule(self, rule: LeaseCountQuota) -> None:
        """Persist a lease-count rule, swap it in, and count the leases it covers afresh."""
        self.storage.put_json(f"{rule.to_json()['type']}/{rule.name}", rule.to_json())
        with self.lock:
            self.leases.rules[rule.name] = rule
            self.leases.rules_changed()
        self.leases.recount_in_background()

    def delete_lease_rule(self, name: str) -> None:
        self.storage.delete(f"{LEASE_COUNT_TYPE}/{name}")
        with self.lock:
            self.leases.rules.pop(name, None)
            self.leases.rules_changed()
        self.leases.recount_in_background()

    def handle_unmount(self, entry: MountEntry) -> None:
        """A disabled mount takes its quotas with it (HandleBackendDisabling)."""
        for quota in list(self.quotas.values()):
            if quota.mount_path == entry.route_prefix:
                self.delete(quota.name)
        for rule in list(self.leases.rules.values()):
            if rule.mount_path == entry.route_prefix:
                self.delete_lease_rule(rule.name)

    def handle_remount(self, old_prefix: str, new_prefix: str) -> None:
        """A moved mount keeps its quotas (HandleRemount)."""
        for quota in list(self.quotas.values()):
            if quota.mount_path == old_prefix:
                quota.mount_path = new_prefix
                self.save(quota)
        for rule in list(self.leases.rules.values()):
            if rule.mount_path == old_prefix:
                rule.mount_path = new_prefix
                self.save_lease_rule(rule)

    # -- enforcement -----------------------------------------------------------------
    def needs_role(self, mount_path: str) -> bool:
        return any(q.mount_path == mount_path and q.role and not q.path_suffix for q in self.quotas.values())

    def resolve_role(self, mount_path: str, body: bytes) -> str:
        """The role a login request names (Vault's ResolveRoleOperation: the mount's backend
        answers, e.g. AppRole the role of a role_id), "" when none."""
        route = self.core.router.get(mount_path)
        if route is None or route.backend.resolve_role is None:
            return ""
        try:
            data = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return ""
        if not isinstance(data, dict):
            return ""
        req = Request(Operation.UPDATE, "login", data=data, mount_point=mount_path, storage=route.storage)
        return route.backend.resolve_role(req)

    def query(self, path: str, mount_path: str, role: str) -> RateLimitQuota | None:
        """The most specific rate-limit rule for a request (queryQuota)."""
        return most_specific(list(self.quotas.values()), path, mount_path, role)

    def apply(self, path: str, client: str, body: bytes) -> QuotaResult | None:
        """The verdict for one request, or None when no rule applies (or the path is exempt)."""
        if not self.quotas or _exempt(self.config["rate_limit_exempt_paths"], path):
            return None
        route = self.core.router.match(path)
        mount_path = route.entry.route_prefix if route is not None else ""
        role = self.resolve_role(mount_path, body) if mount_path and self.needs_role(mount_path) else ""
        quota = self.query(path, mount_path, role)
        if quota is None:
            return None
        result = quota.allow(client)
        if not self.config["enable_rate_limit_response_headers"]:
            result.headers = []
        return result

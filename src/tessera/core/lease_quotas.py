"""Lease-count quotas (Vault Enterprise's sys/quotas/lease-count): rules and their live counts.

Each live lease counts against the one most specific rule that covers it (the rate-limit
precedence: role, path, mount, global). Service tokens with a TTL are leases; batch tokens,
non-expiring (root) tokens and response-wrapping tokens are not. Counts live in memory: a lease
is counted when it is written and uncounted when it is revoked or expires, and every count is
rebuilt from storage in the background at unseal and whenever the rules change (Vault populates
a new rule from the leases already there). Only the active process counts; workers forward
every request while any quota exists.

A rebuild scans storage while leases come and go, so it keeps a log of the keys touched
meanwhile and settles each against what the scan saw: the result is exact, not approximate.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..framework.errors import SealedError
from ..leases.manager import Lease
from ..storage.base import scan_all
from ..tokens.counting import LeaseQuotaExceeded, token_counts, token_role
from ..tokens.entry import TokenEntry
from .host import Host
from .quota_rules import most_specific

LEASE_COUNT_TYPE = "lease-count"
SCAN_PAGE = 5000

log = logging.getLogger("tessera.quotas")


@dataclass
class LeaseCountQuota:
    name: str
    mount_path: str = ""
    path_suffix: str = ""
    role: str = ""
    max_leases: int = 0
    inheritable: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def factors(self) -> tuple[str, str, str]:
        return self.mount_path, self.path_suffix, self.role

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": LEASE_COUNT_TYPE,
            "name": self.name,
            "namespace_path": "root",
            "mount_path": self.mount_path,
            "path_suffix": self.path_suffix,
            "role": self.role,
            "max_leases": self.max_leases,
            "inheritable": self.inheritable,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LeaseCountQuota:
        return cls(
            name=str(doc["name"]),
            mount_path=str(doc.get("mount_path", "")),
            path_suffix=str(doc.get("path_suffix", "")),
            role=str(doc.get("role", "")),
            max_leases=int(doc.get("max_leases", 0)),
            inheritable=bool(doc.get("inheritable", False)),
            id=str(doc.get("id") or uuid.uuid4()),
        )

    def api(self) -> dict[str, Any]:
        return {
            "type": LEASE_COUNT_TYPE,
            "name": self.name,
            "path": self.mount_path + self.path_suffix,
            "role": self.role,
            "max_leases": self.max_leases,
            "inheritable": self.inheritable,
        }


class LeaseCounter:
    """The lease-count rules of an unsealed core and how many live leases each covers."""

    def __init__(self, core: Host) -> None:
        self.core = core
        self.rules: dict[str, LeaseCountQuota] = {}
        self._counts: dict[str, int] = {}  # rule id -> live leases
        self._lock = threading.Lock()
        self._recount_lock = threading.Lock()
        self._events: dict[str, tuple[bool, str]] | None = None  # key -> (exists now, rule id)
        self._rules: tuple[LeaseCountQuota, ...] = ()
        self._global_only: LeaseCountQuota | None = None
        self._rebuilds = 0  # rebuilds started and not finished
        self.settled = threading.Event()  # set when no rebuild is under way
        self.settled.set()

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def count(self, rule: LeaseCountQuota) -> int:
        return self._counts.get(rule.id, 0)

    def rules_changed(self) -> None:
        """Refresh what the hot path reads (call after changing ``rules``)."""
        rules = tuple(self.rules.values())
        self._rules = rules
        # Only global rules (the common case): no need to find the request's mount.
        self._global_only = rules[0] if len(rules) == 1 and rules[0].factors == ("", "", "") else None

    def rule_for(self, path: str, role: str) -> LeaseCountQuota | None:
        if self._global_only is not None:
            return self._global_only
        route = self.core.router.match(path)
        mount_path = route.entry.route_prefix if route is not None else ""
        return most_specific(self._rules, path, mount_path, role)

    # -- the hooks: a lease written, a lease gone ----------------------------------
    def acquire(self, key: str, path: str, role: str) -> None:
        """Count a lease about to be written, or raise LeaseQuotaExceeded when its rule is full."""
        rule = self.rule_for(path, role)
        if rule is None:
            return
        with self._lock:
            held = self._counts.get(rule.id, 0)
            if held >= rule.max_leases:
                raise LeaseQuotaExceeded(path)
            self._counts[rule.id] = held + 1
            if self._events is not None:
                self._events[key] = (True, rule.id)

    def release(self, key: str, path: str, role: str) -> None:
        """Uncount a lease revoked, expired or never written."""
        rule = self.rule_for(path, role)
        if rule is None:
            return
        with self._lock:
            self._counts[rule.id] = max(0, self._counts.get(rule.id, 0) - 1)
            if self._events is not None:
                self._events[key] = (False, rule.id)

    def release_tokens(self, entries: Sequence[TokenEntry]) -> None:
        for entry in entries:
            if token_counts(entry):
                self.release("t:" + entry.salted_id, entry.path, token_role(entry))

    def release_leases(self, leases: list[Lease]) -> None:
        for lease in leases:
            self.release("l:" + lease.lease_id, lease.path, "")

    # -- rebuilding the counts from storage ------------------------------------------
    def recount_in_background(self) -> None:
        if not self.rules:
            return
        with self._lock:
            self._rebuilds += 1
            self.settled.clear()
        threading.Thread(target=self._recount_logged, name="tessera-lease-quota-count", daemon=True).start()

    def _recount_logged(self) -> None:
        try:
            self.recount()
        except SealedError:
            pass  # sealed meanwhile: the next unseal counts again
        except Exception:
            log.exception("counting leases for lease-count quotas failed")
        finally:
            with self._lock:
                self._rebuilds -= 1
                if not self._rebuilds:
                    self.settled.set()

    def recount(self) -> None:
        """Count every stored lease against the current rules, settling the leases that came and
        went during the scan against what it saw."""
        with self._recount_lock:
            started = time.monotonic()
            rules = list(self.rules.values())
            with self._lock:
                self._events = {}
            counts: dict[str, int] = {}
            seen: dict[str, str] = {}
            try:
                for key, path, role in self._stored_leases():
                    rule = self._rule_among(rules, path, role)
                    if rule is None:
                        continue
                    counts[rule.id] = counts.get(rule.id, 0) + 1
                    seen[key] = rule.id
            except BaseException:
                with self._lock:
                    self._events = None
                raise
            with self._lock:
                events, self._events = self._events or {}, None
                for key, (exists, rule_id) in events.items():
                    if exists and key not in seen:
                        counts[rule_id] = counts.get(rule_id, 0) + 1
                    elif not exists and key in seen:
                        counts[seen[key]] -= 1
                self._counts = counts
            log.info(
                "lease-count quotas: %d leases counted in %.1fs",
                sum(counts.values()),
                time.monotonic() - started,
            )

    def _rule_among(self, rules: list[LeaseCountQuota], path: str, role: str) -> LeaseCountQuota | None:
        route = self.core.router.match(path)
        mount_path = route.entry.route_prefix if route is not None else ""
        return most_specific(rules, path, mount_path, role)

    def _stored_leases(self) -> Iterator[tuple[str, str, str]]:
        """(key, path, role) of every stored lease: service tokens, then secrets' leases."""
        tokens, leases = self.core.tokens, self.core.lease_manager
        if tokens is None or leases is None:
            raise SealedError()  # sealed before the rebuild began
        for key, raw in scan_all(tokens.storage, "id/", SCAN_PAGE):
            entry = TokenEntry.from_storage(orjson.loads(raw))
            if token_counts(entry):
                yield "t:" + key[3:], entry.path, token_role(entry)
        for key, raw in scan_all(leases.storage, "id/", SCAN_PAGE):
            yield "l:" + key[3:], str(orjson.loads(raw)["path"]), ""

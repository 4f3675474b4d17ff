"""Vault's metrics as Tessera records them: timers (milliseconds), counters and gauges.

Names are Vault's dotted names (``vault.core.handle_request``); Prometheus sees them with dots
turned to underscores. Every metric is declared once, here, at import; recording one costs a
lock and two additions, and nothing at all when the ``telemetry`` stanza filters it out
(``prefix_filter``, see ``configure``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from time import perf_counter
from typing import cast


class Metric:
    """A named metric with fixed label names; values are kept per tuple of label values."""

    def __init__(self, name: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.labels = labels
        self.enabled = True
        self._lock = threading.Lock()

    def series(self) -> Iterator[tuple[dict[str, str], object]]:
        raise NotImplementedError

    def _labelled(
        self, items: Sequence[tuple[tuple[str, ...], object]]
    ) -> Iterator[tuple[dict[str, str], object]]:
        """Each (label values, value) as (labels by name, value)."""
        for key, value in items:
            yield dict(zip(self.labels, key, strict=True)), value

    def reset(self) -> None:
        raise NotImplementedError


class Timer(Metric):
    """Durations in milliseconds (go-metrics' MeasureSince): count, sum, min and max per label set.

    Recording appends to a deque (atomic, no lock: a few hundred nanoseconds); the readings are
    folded into the totals at a scrape, or by the recording thread once ``FOLD_AT`` are pending.
    """

    FOLD_AT = 4096

    def __init__(self, name: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, labels)
        self._values: dict[tuple[str, ...], list[float]] = {}
        self._pending: deque[tuple[tuple[str, ...], float] | float] = deque()

    def observe(self, millis: float, *label_values: str) -> None:
        if self.enabled:
            pending = self._pending
            pending.append((label_values, millis))
            if len(pending) >= self.FOLD_AT:
                self._fold()

    def since(self, start: float, *label_values: str) -> None:
        """Record the time since ``start`` (a ``time.perf_counter()`` reading)."""
        if self.enabled:
            pending = self._pending
            millis = (perf_counter() - start) * 1000.0
            pending.append((label_values, millis) if label_values else millis)  # a bare float: no labels
            if len(pending) >= self.FOLD_AT:
                self._fold()

    def _fold(self) -> None:
        """Move the pending readings into the totals: the unlabelled ones (most timers have no
        labels) summed as one batch, the labelled ones one by one."""
        with self._lock:
            pending = self._pending
            popleft = pending.popleft
            # What is there now; readings added meanwhile wait for the next fold.
            taken = [popleft() for _ in range(len(pending))]
            bare = [item for item in taken if type(item) is float]
            if bare:
                self._add((), len(bare), sum(bare), min(bare), max(bare))
            if len(bare) < len(taken):
                for item in taken:
                    if type(item) is not float:
                        key, millis = item  # type: ignore[misc]
                        self._add(key, 1, millis, millis, millis)

    def _add(self, key: tuple[str, ...], count: int, total: float, low: float, high: float) -> None:
        cell = self._values.get(key)
        if cell is None:
            self._values[key] = [count, total, low, high]
            return
        cell[0] += count
        cell[1] += total
        if low < cell[2]:
            cell[2] = low
        if high > cell[3]:
            cell[3] = high

    def series(self) -> Iterator[tuple[dict[str, str], object]]:
        self._fold()
        with self._lock:
            items = [(k, tuple(v)) for k, v in self._values.items()]
        return self._labelled(items)

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._values.clear()


class Counter(Metric):
    """A monotonic count per label set (go-metrics' IncrCounter).

    As with ``Timer``, an increment appends its labels to a deque (atomic under the GIL, no lock:
    every token creation counts one, and the lock cost ~1.5k instructions of ~5k); the pending
    increments are added into the totals at a scrape, or by the counting thread once ``FOLD_AT``
    are pending. A scrape folds what is pending first, so it reads every increment made before it.
    """

    FOLD_AT = 4096

    def __init__(self, name: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, labels)
        self._values: dict[tuple[str, ...], float] = {}
        # Label tuples counted once each, or (labels, amount) for another amount.
        self._pending: deque[tuple[str, ...] | tuple[tuple[str, ...], float]] = deque()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        if self.enabled:
            pending = self._pending
            pending.append(label_values if amount == 1.0 else (label_values, amount))
            if len(pending) >= self.FOLD_AT:
                self._fold()

    def _fold(self) -> None:
        with self._lock:
            pending = self._pending
            popleft = pending.popleft
            values = self._values
            for _ in range(len(pending)):  # what is there now; later ones wait for the next fold
                item = popleft()
                if item and type(item[0]) is tuple:
                    key, amount = item
                else:
                    key, amount = cast("tuple[str, ...]", item), 1.0
                values[key] = values.get(key, 0.0) + amount

    def series(self) -> Iterator[tuple[dict[str, str], object]]:
        self._fold()
        with self._lock:
            items: list[tuple[tuple[str, ...], object]] = list(self._values.items())
        return self._labelled(items)

    def reset(self) -> None:
        with self._lock:  # increments pending are dropped with the totals
            self._values.clear()
            self._pending.clear()


class Gauge(Metric):
    """A value per label set, replaced as a whole when it is recomputed (at a scrape)."""

    def __init__(self, name: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def replace(self, values: dict[tuple[str, ...], float]) -> None:
        """Set every label set at once; those not given disappear (a policy no token holds)."""
        if self.enabled:
            with self._lock:
                self._values = dict(values)

    def series(self) -> Iterator[tuple[dict[str, str], object]]:
        with self._lock:
            values = dict(self._values)
        for key, value in values.items():
            yield dict(zip(self.labels, key, strict=True)), value

    def reset(self) -> None:
        with self._lock:
            self._values.clear()


ALL: list[Metric] = []


def _declare(metric: Metric) -> Metric:
    ALL.append(metric)
    return metric


def timer(name: str, *labels: str) -> Timer:
    return _declare(Timer(name, labels))  # type: ignore[return-value]


def counter(name: str, *labels: str) -> Counter:
    return _declare(Counter(name, labels))  # type: ignore[return-value]


def gauge(name: str, *labels: str) -> Gauge:
    return _declare(Gauge(name, labels))  # type: ignore[return-value]


# -- requests (vault/request_handling.go) ---------------------------------------------------
HANDLE_REQUEST = timer("vault.core.handle_request")
HANDLE_LOGIN_REQUEST = timer("vault.core.handle_login_request")
# -- tokens (vault/token_store.go): labels as Vault's, creation_ttl a TTL bucket ---------------
TOKEN_CREATION = counter(
    "vault.token.creation", "auth_method", "mount_point", "creation_ttl", "token_type", "namespace", "cluster"
)
TOKEN_CREATE_ROOT = counter("vault.token.create_root")
TOKEN_COUNT = gauge("vault.token.count", "namespace")
TOKEN_COUNT_BY_POLICY = gauge("vault.token.count.by_policy", "policy", "namespace")
TOKEN_COUNT_BY_TTL = gauge("vault.token.count.by_ttl", "creation_ttl", "namespace")
TOKEN_COUNT_BY_AUTH = gauge("vault.token.count.by_auth", "auth_method", "namespace")
# -- leases (vault/expiration.go) -------------------------------------------------------------
LEASE_COUNT = gauge("vault.expire.num_leases")
LEASE_REVOKE = timer("vault.expire.revoke")
LEASE_EXPIRATIONS = counter("vault.expire.leases.expired")
# Tessera's own, read at each scrape (core/expiry_watch.py): what is past its expiry but still
# stored, how late the oldest is, whether the schedules are rebuilt after an unseal.
EXPIRE_BACKLOG = gauge("tessera.expire.backlog", "kind")
EXPIRE_LATE = gauge("tessera.expire.late_seconds")
EXPIRE_RESTORED = gauge("tessera.expire.restored")
TOKEN_CACHE_ENTRIES = gauge("tessera.token.cache_entries")
SQLITE_WAL = {
    stat: gauge(f"tessera.sqlite.{stat}")
    for stat in ("wal_bytes", "wal_restarts", "wal_pause_max_ms", "wal_pause_total_ms")
}
# -- barrier and storage ------------------------------------------------------------------------
BARRIER_GET = timer("vault.barrier.get")
BARRIER_PUT = timer("vault.barrier.put")
BARRIER_DELETE = timer("vault.barrier.delete")
BARRIER_LIST = timer("vault.barrier.list")
# -- audit (vault/audit_broker.go) ------------------------------------------------------------
AUDIT_LOG_REQUEST = timer("vault.audit.log_request")
AUDIT_LOG_RESPONSE = timer("vault.audit.log_response")
AUDIT_LOG_REQUEST_FAILURE = counter("vault.audit.log_request_failure")
AUDIT_LOG_RESPONSE_FAILURE = counter("vault.audit.log_response_failure")
# -- seal and role ----------------------------------------------------------------------------
# HA: requests standby nodes forwarded, as the active node's cluster listener received them.
HA_CLUSTER_REQUESTS = counter("tessera.ha.cluster_requests")
CORE_UNSEALED = gauge("vault.core.unsealed", "cluster")
CORE_ACTIVE = gauge("vault.core.active", "cluster")
CORE_UNSEAL = timer("vault.core.unseal")
CORE_SEAL = timer("vault.core.pre_seal")


# Vault's ttl buckets (helper/metricsutil/bucket.go): the smallest boundary at or above the TTL.
_TTL_BUCKETS = (
    (60, "1m"),
    (600, "10m"),
    (1200, "20m"),
    (3600, "1h"),
    (7200, "2h"),
    (86400, "1d"),
    (2 * 86400, "2d"),
    (7 * 86400, "7d"),
    (30 * 86400, "30d"),
)


def ttl_bucket(seconds: float) -> str:
    """The label of the smallest bucket at or above ``seconds`` (every token creation asks, with
    a handful of distinct TTLs: answers are remembered, at most ``_BUCKET_MEMO_SIZE``)."""
    label = _bucket_memo.get(seconds)
    if label is None:
        label = _bucket_of(seconds)
        if len(_bucket_memo) < _BUCKET_MEMO_SIZE:
            _bucket_memo[seconds] = label
    return label


_BUCKET_MEMO_SIZE = 1024
_bucket_memo: dict[float, str] = {}


def _bucket_of(seconds: float) -> str:
    for bound, label in _TTL_BUCKETS:
        if seconds <= bound:
            return label
    return "+Inf"


def storage_timers(storage_type: str) -> dict[str, Timer]:
    """``vault.<storage>.get|put|delete|list``, as each of Vault's physical backends names its own."""
    out = {}
    for op in ("get", "put", "delete", "list"):
        name = f"vault.{storage_type}.{op}"
        existing = next((m for m in ALL if m.name == name), None)
        out[op] = existing if isinstance(existing, Timer) else timer(name)
    return out


_FILTER: list[tuple[str, bool]] = []
_FILTER_DEFAULT = [True]


def _allowed(name: str) -> bool:
    allowed = _FILTER_DEFAULT[0]
    best = -1
    for prefix, allow in _FILTER:
        if name.startswith(prefix) and len(prefix) > best:
            best, allowed = len(prefix), allow
    return allowed


def configure(prefix_filter: Iterable[str] = (), filter_default: bool = True) -> None:
    """go-metrics' prefix filter: ``+vault.core`` allows, ``-vault.token`` blocks; the longest
    matching prefix decides, ``filter_default`` when none matches."""
    rules = []
    for rule in prefix_filter:
        rule = rule.strip()
        if len(rule) > 1 and rule[0] in "+-":
            rules.append((rule[1:], rule[0] == "+"))
    _FILTER[:] = rules
    _FILTER_DEFAULT[0] = filter_default
    for metric in ALL:
        metric.enabled = _allowed(metric.name)


_ROUTES: dict[tuple[str, str], Timer] = {}
_ROUTES_LOCK = threading.Lock()


def route_timer(operation: str, mount_point: str) -> Timer:
    """``vault.route.<operation>.<mount>`` (``auth/token/`` → ``auth-token-``), one per mount and
    operation, made on first use (bounded by the mount table)."""
    key = (operation, mount_point)
    found = _ROUTES.get(key)
    if found is not None:
        return found
    with _ROUTES_LOCK:
        found = _ROUTES.get(key)
        if found is None:
            found = Timer(f"vault.route.{operation}.{mount_point.replace('/', '-')}")
            found.enabled = _allowed(found.name)
            ALL.append(found)
            _ROUTES[key] = found
    return found


def reset() -> None:
    """Forget every recorded value (tests that run a core in-process)."""
    for metric in ALL:
        metric.reset()

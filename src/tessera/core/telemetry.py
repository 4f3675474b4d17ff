"""One server's telemetry: its configuration, its exposition, and the core's gauges read at a scrape
(here in core/ because it samples the Core; the metrics themselves live in tessera.telemetry)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from typing import TYPE_CHECKING

from ..telemetry import metrics
from ..telemetry.config import TelemetryConfig
from ..telemetry.exposition import JSON_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, Exposition, local_hostname
from .expiry_watch import measure

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger("tessera.telemetry")
NAMESPACE = "root"


class Telemetry:
    def __init__(self, config: TelemetryConfig | None = None) -> None:
        self.config = config or TelemetryConfig()
        self.exposition = Exposition(hostname="" if self.config.disable_hostname else local_hostname())
        self._usage_at = 0.0
        self._lock = threading.Lock()

    def apply(self) -> None:
        """Make the stanza's filters take effect (process-wide: one server per process)."""
        metrics.configure(self.config.prefix_filter, self.config.filter_default)

    def render(self, core: Core, fmt: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for ``sys/metrics?format=fmt``, as Vault's metricsutil."""
        if fmt not in ("", "json", "prometheus"):
            return 400, "text/plain", f'metric response format "{fmt}" unknown'.encode()
        if fmt == "prometheus" and not self.config.prometheus_enabled:
            return 400, "text/plain", b"prometheus is not enabled"
        self.refresh(core)
        if fmt == "prometheus":
            return 200, PROMETHEUS_CONTENT_TYPE, self.exposition.prometheus()
        return 200, JSON_CONTENT_TYPE, self.exposition.json()

    def refresh(self, core: Core) -> None:
        """Seal state every time; token and lease counts once per ``usage_gauge_period``."""
        cluster = core.cluster_name if not core.sealed else ""
        metrics.CORE_UNSEALED.replace({(cluster,): 0.0 if core.sealed else 1.0})
        metrics.CORE_ACTIVE.replace({(cluster,): 0.0 if core.sealed else 1.0})
        if not core.sealed:
            expiry_gauges(core)
        period = self.config.usage_gauge_period
        if core.sealed or period <= 0:
            return
        with self._lock:
            now = time.monotonic()
            if self._usage_at and now - self._usage_at < period:
                return
            self._usage_at = now
        try:
            count_usage(core)
        except Exception:
            log.exception("counting tokens and leases for the usage gauges failed")


def expiry_gauges(core: Core) -> None:
    """The expiry schedules and backlog, and on SQLite the WAL: cheap, so read at every scrape."""
    tokens, manager = core.tokens, core.lease_manager
    backlog = measure(core)
    scheduled = tokens.scheduled_count() + (manager.scheduled_count() if manager is not None else 0)
    metrics.LEASE_COUNT.replace({(): float(scheduled)})  # Vault counts token leases among them
    metrics.EXPIRE_BACKLOG.replace({("token",): float(backlog.tokens), ("lease",): float(backlog.leases)})
    metrics.EXPIRE_LATE.replace({(): round(backlog.late_seconds, 3)})
    restored = manager is None or manager.loaded.is_set()
    metrics.EXPIRE_RESTORED.replace({(): 1.0 if restored else 0.0})
    metrics.TOKEN_CACHE_ENTRIES.replace({(): float(tokens.cache_size())})
    wal_stats = getattr(core.physical, "wal_stats", None)
    if wal_stats is not None:
        for stat, value in wal_stats().items():
            metrics.SQLITE_WAL[stat].replace({(): float(value)})


def count_usage(core: Core) -> None:
    """vault.token.count{,.by_policy,.by_ttl,.by_auth}.

    Walks the token store's accessor index, as Vault's gauge collectors do each period; batch
    tokens are not stored and are not counted (neither does Vault).
    """
    tokens = core.tokens
    by_policy: Tally[str] = Tally()
    by_ttl: Tally[str] = Tally()
    by_auth: Tally[str] = Tally()
    total = 0
    for accessor in tokens.list_accessors():
        entry = tokens.lookup_accessor(accessor)
        if entry is None:
            continue
        total += 1
        for policy in entry.policies:
            by_policy[policy] += 1
        by_ttl[metrics.ttl_bucket(entry.creation_ttl or entry.ttl)] += 1
        by_auth[_auth_method(entry.path)] += 1
    ns = NAMESPACE
    metrics.TOKEN_COUNT.replace({(ns,): float(total)})
    metrics.TOKEN_COUNT_BY_POLICY.replace({(p, ns): float(n) for p, n in by_policy.items()})
    metrics.TOKEN_COUNT_BY_TTL.replace({(t, ns): float(n) for t, n in by_ttl.items()})
    metrics.TOKEN_COUNT_BY_AUTH.replace({(a, ns): float(n) for a, n in by_auth.items()})


def _auth_method(creation_path: str) -> str:
    """``auth/userpass/login/bob`` → ``userpass``; ``auth/token/create`` → ``token``."""
    parts = creation_path.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "auth" else "token"


def telemetry_of(core: Core) -> Telemetry:
    """The server's Telemetry (from its configuration), or a default one for a bare Core."""
    extra = core.config.extra
    found = extra.get("telemetry")
    if not isinstance(found, Telemetry):
        found = Telemetry(found if isinstance(found, TelemetryConfig) else None)
        extra["telemetry"] = found
    return found

"""The ``telemetry`` stanza of the server configuration (Vault's configutil.Telemetry subset)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..gocompat.durations import DurationError, parse_duration_second

DEFAULT_USAGE_GAUGE_PERIOD = 600
# Sinks Vault offers that Tessera does not: named in the error, not silently ignored.
UNSUPPORTED_SINKS = (
    "statsd_address",
    "dogstatsd_addr",
    "statsite_address",
    "circonus_api_token",
    "stackdriver_project_id",
)


class TelemetryError(ValueError):
    pass


@dataclass
class TelemetryConfig:
    # 0: no Prometheus format (sys/metrics?format=prometheus answers 400, as Vault's).
    prometheus_retention_time: int = 0
    disable_hostname: bool = False
    # How often token and lease counts are recomputed (at a scrape); 0: never.
    usage_gauge_period: int = DEFAULT_USAGE_GAUGE_PERIOD
    prefix_filter: list[str] = field(default_factory=list)
    filter_default: bool = True

    @property
    def prometheus_enabled(self) -> bool:
        return self.prometheus_retention_time > 0


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "t", "yes")


def _duration(name: str, value: Any) -> int:
    try:
        seconds = parse_duration_second(value)
    except DurationError as exc:
        raise TelemetryError(f"telemetry: {name}: {exc}") from None
    if seconds < 0:
        raise TelemetryError(f"telemetry: {name} must not be negative")
    return seconds


def parse_telemetry(raw: Any) -> TelemetryConfig:
    """The stanza (a dict, or a list of them when repeated) as a TelemetryConfig."""
    cfg = TelemetryConfig()
    if raw is None:
        return cfg
    blocks = raw if isinstance(raw, list) else [raw]
    merged: dict[str, Any] = {}
    for block in blocks:
        if not isinstance(block, dict):
            raise TelemetryError("telemetry: expected a block")
        merged.update(block)
    for name in UNSUPPORTED_SINKS:
        if merged.get(name):
            raise TelemetryError(
                f"telemetry: {name} is not supported by Tessera; scrape sys/metrics?format=prometheus instead"
            )
    if "prometheus_retention_time" in merged:
        cfg.prometheus_retention_time = _duration(
            "prometheus_retention_time", merged["prometheus_retention_time"]
        )
    cfg.disable_hostname = _bool(merged.get("disable_hostname", False))
    period = merged.get("usage_gauge_period")
    if period is not None:
        cfg.usage_gauge_period = (
            0 if str(period).lower() == "none" else _duration("usage_gauge_period", period)
        )
    prefixes = merged.get("prefix_filter", [])
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise TelemetryError("telemetry: prefix_filter must be a list of strings")
    for prefix in prefixes:
        if len(prefix.strip()) < 2 or prefix.strip()[0] not in "+-":
            raise TelemetryError(f"telemetry: prefix_filter entry {prefix!r} must start with + or -")
    cfg.prefix_filter = list(prefixes)
    cfg.filter_default = _bool(merged.get("filter_default", True))
    return cfg

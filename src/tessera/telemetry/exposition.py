"""``sys/metrics`` bodies: Prometheus text (``prometheus_client``) and Vault's in-memory-sink JSON.

The Python process itself (CPU, memory, file descriptors, garbage collector) comes from
``prometheus_client``'s own collectors, as Vault's Go runtime metrics come from Go's.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric as PromMetric

from . import metrics
from .metrics import Counter, Gauge, Timer

# The text format generate_latest writes (prometheus_client now names 1.0.0; Vault answers 0.0.4).
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_STARTED = time.time()


def prometheus_name(name: str) -> str:
    """go-metrics' Prometheus names: every character outside [a-zA-Z0-9_] becomes ``_``."""
    return _UNSAFE.sub("_", name)


class Exposition:
    """What one server exposes: the metrics, named as its ``telemetry`` stanza says."""

    def __init__(self, *, hostname: str = "") -> None:
        # go-metrics puts the host name into gauge names unless disable_hostname is set.
        self.hostname = hostname
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_VaultCollector(self))
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)

    def gauge_name(self, name: str) -> str:
        if not self.hostname:
            return name
        service, _, rest = name.partition(".")
        return f"{service}.{self.hostname}.{rest}"

    def prometheus(self) -> bytes:
        """Prometheus text format 0.0.4."""
        text = generate_latest(self.registry)
        # go-metrics calls its counters by their own names (vault_token_creation), where
        # prometheus_client's writer puts a _total suffix on the HELP and TYPE lines only.
        for name in _counter_names():
            text = text.replace(f" {name}_total ".encode(), f" {name} ".encode())
        return text

    def json(self) -> bytes:
        """go-metrics' InmemSink document (cumulative since start, not per 10-second interval)."""
        gauges: list[dict[str, Any]] = []
        counters: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        elapsed = max(time.time() - _STARTED, 1.0)
        for metric in metrics.ALL:
            if not metric.enabled:
                continue
            for labels, value in metric.series():
                if isinstance(metric, Gauge):
                    gauges.append({"Name": self.gauge_name(metric.name), "Value": value, "Labels": labels})
                elif isinstance(metric, Counter):
                    counters.append(_aggregate(metric.name, labels, value, value, 1.0, 1.0, elapsed))
                elif isinstance(metric, Timer):
                    count, total, low, high = value  # type: ignore[misc]
                    samples.append(_aggregate(metric.name, labels, count, total, low, high, elapsed))
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
        doc = {"Timestamp": stamp, "Gauges": gauges, "Points": [], "Counters": counters, "Samples": samples}
        return orjson.dumps(doc)


def _aggregate(
    name: str, labels: dict[str, str], count: Any, total: Any, low: Any, high: Any, elapsed: float
) -> dict[str, Any]:
    return {
        "Name": name,
        "Count": int(count),
        "Rate": total / elapsed,
        "Sum": total,
        "Min": low,
        "Max": high,
        "Mean": total / count if count else 0,
        "Stddev": 0,
        "Labels": labels,
    }


def _counter_names() -> Iterator[str]:
    for metric in metrics.ALL:
        if isinstance(metric, Counter) and metric.enabled:
            yield prometheus_name(metric.name)


class _VaultCollector:
    """Hands the recorded metrics to ``prometheus_client`` as metric families."""

    def __init__(self, exposition: Exposition) -> None:
        self.exposition = exposition

    def collect(self) -> Iterator[PromMetric]:
        for metric in metrics.ALL:
            if not metric.enabled:
                continue
            series = list(metric.series())
            if not series:
                continue
            if isinstance(metric, Gauge):
                name = prometheus_name(self.exposition.gauge_name(metric.name))
                family = PromMetric(name, name, "gauge")
                for labels, value in series:
                    family.add_sample(name, labels, float(value))  # type: ignore[arg-type]
            elif isinstance(metric, Counter):
                name = prometheus_name(metric.name)
                family = PromMetric(name, name, "counter")
                for labels, value in series:
                    family.add_sample(name, labels, float(value))  # type: ignore[arg-type]
            else:
                name = prometheus_name(metric.name)
                family = PromMetric(name, name, "summary")
                for labels, value in series:
                    count, total, _low, _high = value  # type: ignore[misc]
                    family.add_sample(name + "_sum", labels, float(total))
                    family.add_sample(name + "_count", labels, float(count))
            yield family


def local_hostname() -> str:
    return socket.gethostname().split(".", 1)[0]

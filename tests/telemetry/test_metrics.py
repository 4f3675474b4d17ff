"""The metric store, filters, TTL buckets and both renderings, in-process."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tessera.telemetry import metrics
from tessera.telemetry.config import TelemetryError, parse_telemetry
from tessera.telemetry.exposition import Exposition


@pytest.fixture(autouse=True)
def clean_metrics():
    metrics.reset()
    metrics.configure()
    yield
    metrics.reset()
    metrics.configure()


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0, "1m"),
        (60, "1m"),
        (61, "10m"),
        (600, "10m"),
        (1200, "20m"),
        (3600, "1h"),
        (86400, "1d"),
        (30 * 86400, "30d"),
        (30 * 86400 + 1, "+Inf"),
    ],
)
def test_ttl_bucket_is_the_smallest_boundary_at_or_above(seconds: int, bucket: str) -> None:
    assert metrics.ttl_bucket(seconds) == bucket
    assert metrics.ttl_bucket(seconds) == bucket  # remembered
    assert metrics._bucket_of(seconds) == bucket


def test_ttl_bucket_memo_is_bounded() -> None:
    for seconds in range(metrics._BUCKET_MEMO_SIZE + 50):
        assert metrics.ttl_bucket(seconds) == metrics._bucket_of(seconds)
    assert len(metrics._bucket_memo) <= metrics._BUCKET_MEMO_SIZE
    assert metrics.ttl_bucket(10**9) == "+Inf"


def _families(text: bytes) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def test_prometheus_names_counts_and_types_follow_go_metrics() -> None:
    metrics.TOKEN_CREATION.inc("token", "auth/token/", "1h", "service", "root", "c1")
    metrics.TOKEN_CREATION.inc("token", "auth/token/", "1h", "service", "root", "c1")
    metrics.HANDLE_REQUEST.observe(2.5)
    metrics.HANDLE_REQUEST.observe(1.5)
    text = Exposition().prometheus()
    assert b"# TYPE vault_token_creation counter\n" in text  # no _total, as Vault's
    families = _families(text)
    creation = families["vault_token_creation"]
    assert creation.type == "counter"
    [sample] = creation.samples
    assert sample.value == 2
    assert sample.labels == {
        "auth_method": "token",
        "mount_point": "auth/token/",
        "creation_ttl": "1h",
        "token_type": "service",
        "namespace": "root",
        "cluster": "c1",
    }
    handle = {s.name: s.value for s in families["vault_core_handle_request"].samples}
    assert handle == {"vault_core_handle_request_sum": 4.0, "vault_core_handle_request_count": 2.0}
    assert "process_resident_memory_bytes" in families and "python_gc_objects_collected" in families


def test_gauges_carry_the_host_name_unless_disabled() -> None:
    metrics.CORE_UNSEALED.replace({("c1",): 1.0})
    assert b"vault_myhost_core_unsealed{" in Exposition(hostname="myhost").prometheus()
    assert b"vault_core_unsealed{" in Exposition().prometheus()


def test_json_is_the_inmem_sink_document() -> None:
    metrics.HANDLE_REQUEST.observe(3.0)
    metrics.TOKEN_CREATE_ROOT.inc()
    doc = orjson.loads(Exposition().json())
    assert set(doc) == {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
    [sample] = [s for s in doc["Samples"] if s["Name"] == "vault.core.handle_request"]
    assert (sample["Count"], sample["Sum"], sample["Min"], sample["Max"]) == (1, 3.0, 3.0, 3.0)
    [root] = [c for c in doc["Counters"] if c["Name"] == "vault.token.create_root"]
    assert root["Count"] == 1


def test_prefix_filter_longest_prefix_wins() -> None:
    metrics.configure(["-vault.token", "+vault.token.creation"])
    metrics.TOKEN_CREATE_ROOT.inc()
    metrics.TOKEN_CREATION.inc("token", "auth/token/", "1h", "service", "root", "c")
    metrics.HANDLE_REQUEST.observe(1.0)
    families = _families(Exposition().prometheus())
    assert "vault_token_create_root" not in families
    assert "vault_token_creation" in families and "vault_core_handle_request" in families
    metrics.configure(["+vault.core"], filter_default=False)
    metrics.reset()
    metrics.TOKEN_CREATE_ROOT.inc()
    metrics.HANDLE_REQUEST.observe(1.0)
    families = _families(Exposition().prometheus())
    assert "vault_token_create_root" not in families and "vault_core_handle_request" in families


def test_telemetry_stanza() -> None:
    cfg = parse_telemetry(
        {
            "prometheus_retention_time": "30s",
            "disable_hostname": True,
            "usage_gauge_period": "none",
            "prefix_filter": ["-vault.token"],
        }
    )
    assert (cfg.prometheus_retention_time, cfg.disable_hostname, cfg.usage_gauge_period) == (30, True, 0)
    assert cfg.prefix_filter == ["-vault.token"] and cfg.prometheus_enabled
    assert not parse_telemetry(None).prometheus_enabled
    with pytest.raises(TelemetryError, match="statsd_address is not supported"):
        parse_telemetry({"statsd_address": "127.0.0.1:8125"})
    with pytest.raises(TelemetryError, match="must start with"):
        parse_telemetry({"prefix_filter": ["vault.token"]})
    with pytest.raises(TelemetryError, match="prometheus_retention_time"):
        parse_telemetry({"prometheus_retention_time": "soon"})


def test_route_timers_are_made_once_per_mount_and_filtered_like_the_rest() -> None:
    timer = metrics.route_timer("update", "auth/token/")
    assert timer.name == "vault.route.update.auth-token-"
    assert metrics.route_timer("update", "auth/token/") is timer
    metrics.configure(["-vault.route"])
    assert not timer.enabled and not metrics.route_timer("read", "kv-route-test/").enabled
    metrics.configure()
    assert timer.enabled


def test_counter_increments_without_a_lock_are_all_counted() -> None:
    """``Counter.inc`` appends to a deque (no lock); a scrape, or the counting thread once
    ``FOLD_AT`` are pending, adds them up: every increment from every thread is counted once."""
    import threading

    counter = metrics.Counter("vault.test.counter", ("a", "b"))
    threads = 4
    each = counter.FOLD_AT + 123  # past a fold on every thread, then some left pending

    def work() -> None:
        for i in range(each):
            counter.inc("x", "even" if i % 2 == 0 else "odd")
        counter.inc("x", "more", amount=2.5)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    series = {tuple(labels.values()): value for labels, value in counter.series()}
    assert series == {
        ("x", "even"): threads * ((each + 1) // 2),
        ("x", "odd"): threads * (each // 2),
        ("x", "more"): threads * 2.5,
    }
    assert list(counter.series()) == list(counter.series())  # a scrape changes nothing
    counter.inc("x", "odd")
    assert (
        dict((tuple(k.values()), v) for k, v in counter.series())[("x", "odd")] == threads * (each // 2) + 1
    )
    counter.reset()
    assert list(counter.series()) == []


def test_an_unlabelled_counter_folds_plain_and_given_amounts() -> None:
    counter = metrics.Counter("vault.test.bare")
    counter.inc()
    counter.inc(amount=3.0)
    counter.inc()
    assert list(counter.series()) == [({}, 5.0)]
    counter.enabled = False
    counter.inc()
    counter.enabled = True
    assert list(counter.series()) == [({}, 5.0)]

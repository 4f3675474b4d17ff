"""sys/metrics on a real server: a known workload, then a Prometheus scrape that must show it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.servers import TesseraServer, free_port, hcl_config

TELEMETRY = """
telemetry {
  prometheus_retention_time = "1h"
  disable_hostname          = true
  usage_gauge_period        = "1s"
}
unsafe_allow_api_audit_creation = true  # one test enables an audit device through the API
"""
UNAUTHENTICATED_LISTENER = "  telemetry {\n    unauthenticated_metrics_access = true\n  }\n"


def _server(tmp_path: Path, extra: str = "", listener_extra: str = "") -> TesseraServer:
    text = hcl_config(free_port(), extra=extra)
    if listener_extra:
        text = text.replace("  tls_disable = true\n", "  tls_disable = true\n" + listener_extra, 1)
    config = tmp_path / "server.hcl"
    config.write_text(text)
    server = TesseraServer(config=config).start()
    server.init()
    server.unseal()
    return server


@pytest.fixture
def telemetry_server(tmp_path: Path) -> Iterator[TesseraServer]:
    server = _server(tmp_path, TELEMETRY, UNAUTHENTICATED_LISTENER)
    try:
        yield server
    finally:
        server.cleanup()


def scrape(server: TesseraServer, token: str | None = None) -> dict[tuple[str, frozenset], float]:
    headers = {"X-Vault-Token": token} if token else {}
    answer = requests.get(
        f"{server.addr}/v1/sys/metrics", params={"format": "prometheus"}, headers=headers, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict, name: str, *, missing: float | None = None, **labels: str) -> float:
    """The sum over the series of ``name`` whose labels include ``labels``.

    The parser names a counter's samples with ``_total`` (the server sends Vault's bare names).
    """
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n in (name, name + "_total") and wanted <= ls]
    if not found and missing is not None:
        return missing
    assert found, f"no {name} with {labels}"
    return sum(found)


def test_a_known_workload_shows_in_the_scrape(telemetry_server: TesseraServer) -> None:
    s = telemetry_server
    for _ in range(2):
        assert s.call("POST", "auth/token/create", json={"ttl": "1h", "policies": ["default"]})[0] == 200
    assert (
        s.call("POST", "auth/token/create", json={"type": "batch", "ttl": "20m", "policies": ["default"]})[0]
        == 200
    )
    assert s.call("POST", "sys/auth/userpass", json={"type": "userpass"})[0] == 204
    assert s.call("POST", "auth/userpass/users/bob", json={"password": "pw", "token_ttl": "10m"})[0] == 204
    for _ in range(3):
        assert s.call("POST", "auth/userpass/login/bob", json={"password": "pw"}, auth=False)[0] == 200
    assert s.call("POST", "auth/userpass/login/bob", json={"password": "no"}, auth=False)[0] == 400

    samples = scrape(s)  # no token: the listener allows it
    creation = "vault_token_creation"
    assert value(samples, creation, auth_method="token", token_type="service", creation_ttl="1h") == 2
    assert value(samples, creation, auth_method="token", token_type="batch", creation_ttl="20m") == 1
    assert (
        value(samples, creation, auth_method="userpass", mount_point="auth/userpass/", creation_ttl="10m")
        == 3
    )
    assert value(samples, "vault_core_handle_login_request_count") == 4
    assert value(samples, "vault_core_handle_request_count") >= 5
    # Usage gauges: the root token of sys/init, two service tokens, three logins (batch tokens are not stored).
    assert value(samples, "vault_token_count", namespace="root") == 6
    assert value(samples, "vault_token_count_by_auth", auth_method="userpass") == 3
    assert value(samples, "vault_token_count_by_policy", policy="default") == 5
    assert value(samples, "vault_token_count_by_ttl", creation_ttl="10m") == 3
    assert value(samples, "vault_core_unsealed") == 1
    assert value(samples, "vault_barrier_put_count") > 0
    assert value(samples, "vault_inmem_put_count", missing=-1) == -1  # as Vault's inmem: not timed
    assert value(samples, "process_resident_memory_bytes") > 0


def test_audit_timings_and_failures(telemetry_server: TesseraServer, tmp_path: Path) -> None:
    s = telemetry_server
    log = tmp_path / "audit.log"
    assert (
        s.call("PUT", "sys/audit/file", json={"type": "file", "options": {"file_path": str(log)}})[0] == 204
    )
    before = scrape(s)
    for _ in range(3):
        assert s.call("GET", "sys/mounts")[0] == 200
    after = scrape(s)
    requests_logged = value(after, "vault_audit_log_request_count")
    requests_logged -= value(before, "vault_audit_log_request_count", missing=0)
    assert requests_logged >= 3
    assert value(after, "vault_audit_log_request_failure") == 0


def test_json_format_and_errors_as_vaults(telemetry_server: TesseraServer) -> None:
    s = telemetry_server
    answer = requests.get(f"{s.addr}/v1/sys/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    names = {g["Name"] for g in answer.json()["Gauges"]}
    assert "vault.core.unsealed" in names
    bad = requests.get(f"{s.addr}/v1/sys/metrics", params={"format": "xml"}, timeout=10)
    assert (bad.status_code, bad.text, bad.headers["content-type"]) == (
        400,
        'metric response format "xml" unknown',
        "text/plain",
    )


def test_without_telemetry_a_token_is_needed_and_prometheus_is_off(tmp_path: Path) -> None:
    server = _server(tmp_path)
    try:
        assert server.call("GET", "sys/metrics", auth=False)[:2] == (403, {"errors": ["permission denied"]})
        status, body, _ = server.call("GET", "sys/metrics")
        assert status == 200 and "Gauges" in body
        answer = requests.get(
            f"{server.addr}/v1/sys/metrics",
            params={"format": "prometheus"},
            headers={"X-Vault-Token": server.root_token},
            timeout=10,
        )
        assert (answer.status_code, answer.text) == (400, "prometheus is not enabled")
        assert server.call("PUT", "sys/seal")[0] == 204
        assert server.call("GET", "sys/metrics")[:2] == (503, {"errors": ["Vault is sealed"]})
    finally:
        server.cleanup()


def test_a_bad_telemetry_stanza_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "server.hcl"
    config.write_text(hcl_config(free_port(), extra='telemetry {\n  statsd_address = "127.0.0.1:8125"\n}\n'))
    server = TesseraServer(config=config)
    with pytest.raises(Exception):  # noqa: B017 - ServerStartError, with the output checked below
        server.start()
    assert "statsd_address is not supported" in server.output()
    server.cleanup()

"""The listener's limits on slow and idle clients: Vault's setting names, defaults and parsing,
and how they reach granian (the behaviour itself: ``test_hostile_clients.py``)."""

from __future__ import annotations

import resource

import pytest

from tessera.server.config import ConfigError, parse_config
from tessera.server.fdlimit import RESERVED, connection_cap
from tessera.server.intake import body_expected
from tessera.server.listen import _http1_settings


def _listener(settings: str) -> object:
    cfg = parse_config(f'listener "tcp" {{\n  tls_disable = true\n{settings}}}\n')
    return cfg.listeners[0]


def test_defaults_are_vaults() -> None:
    listener = _listener("")
    assert listener.http_read_header_timeout == 10
    assert listener.http_read_timeout == 30
    assert listener.http_write_timeout == 0
    assert listener.http_idle_timeout == 300
    assert listener.max_request_duration == 0
    assert listener.max_connections == 0


def test_durations_are_go_durations_or_seconds() -> None:
    listener = _listener(
        '  http_read_header_timeout = "2s"\n  http_read_timeout = 45\n  http_write_timeout = "1m"\n'
        '  http_idle_timeout = "1h"\n  max_request_duration = "90s"\n  max_connections = 5000\n'
    )
    assert listener.http_read_header_timeout == 2
    assert listener.http_read_timeout == 45
    assert listener.http_write_timeout == 60
    assert listener.http_idle_timeout == 3600
    assert listener.max_request_duration == 90
    assert listener.max_connections == 5000


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('http_read_timeout = "soon"', "listener: error parsing http_read_timeout"),
        ('http_idle_timeout = "-5s"', "listener: http_idle_timeout cannot be negative"),
        ('max_connections = "many"', "listener: max_connections: expected a whole number"),
        ("max_connections = -1", "listener: max_connections cannot be negative"),
    ],
)
def test_bad_settings_are_refused(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _listener(f"  {setting}\n")


def test_header_timeout_is_the_shorter_of_header_and_idle() -> None:
    assert _http1_settings(_listener("")).header_read_timeout == 10_000
    assert _http1_settings(_listener('  http_idle_timeout = "3s"\n')).header_read_timeout == 3_000
    none = _listener("  http_read_header_timeout = 0\n  http_idle_timeout = 0\n")
    assert _http1_settings(none).header_read_timeout == 86_400_000


def test_connection_cap_follows_the_open_file_limit() -> None:
    assert connection_cap(300) == 300
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        assert connection_cap(0) == max(1024, soft - RESERVED)


@pytest.mark.parametrize(
    ("method", "scope", "expected"),
    [
        ("GET", {"CONTENT_LENGTH": "10"}, False),  # Vault never reads a GET's body
        ("DELETE", {"SERVER_PROTOCOL": "HTTP/2"}, False),
        ("POST", {"CONTENT_LENGTH": "0"}, False),
        ("POST", {"CONTENT_LENGTH": "12"}, True),
        ("PUT", {"SERVER_PROTOCOL": "HTTP/1.1"}, False),  # no length, not chunked: no body
        ("PUT", {"SERVER_PROTOCOL": "HTTP/1.1", "HTTP_TRANSFER_ENCODING": "chunked"}, True),
        ("POST", {"SERVER_PROTOCOL": "HTTP/2"}, True),  # HTTP/2 may send a body without a length
    ],
)
def test_which_requests_wait_for_a_body(method: str, scope: dict[str, str], expected: bool) -> None:
    assert body_expected(method, scope) is expected

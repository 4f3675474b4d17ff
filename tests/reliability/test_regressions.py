"""Regression tests for the bugs the reliability suites found (each names the suite that found it)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tessera.gocompat.durations import DurationError, parse_duration_second
from tessera.server.app import App
from tests.reliability.asgi import ROOT, AsgiClient, LogCapture, dev_core


@pytest.fixture(scope="module")
def client() -> Iterator[AsgiClient]:
    core, _ = dev_core()
    c = AsgiClient(App(core))
    try:
        yield c
    finally:
        c.close()
        core.shutdown()


def test_redirect_of_a_non_latin1_path_is_escaped(client: AsgiClient) -> None:
    """Fuzzing: an unclean path with U+20AC made the 307's Location unencodable (500)."""
    with LogCapture() as logs:
        status, _, headers = client.request("GET", "/v1/secret//€ a?", query="x=1")
    assert status == 307
    assert headers["location"] == "/v1/secret/%E2%82%AC%20a%3F?x=1"
    assert not logs.records


@pytest.mark.parametrize("value", [1.8446744073709552e19, 2**70, -(2**70), "9999999999h", "99999999999s"])
def test_durations_beyond_go_range_are_refused(value: object) -> None:
    """Fuzzing: sys/rotate/config interval=1.8e19 reached storage as a 65-bit integer (500)."""
    with pytest.raises(DurationError):
        parse_duration_second(value)


def test_huge_duration_field_is_a_400(client: AsgiClient) -> None:
    status, body, _ = client.request("POST", "sys/rotate/config", token=ROOT, json={"interval": 1.8e19})
    assert status == 400, body
    assert parse_duration_second("2562047h") == 2562047 * 3600  # Go's largest whole-hour duration


@pytest.mark.parametrize("size", [18446744073709551616, 9223372036854775808, "18446744073709551616"])
def test_int_fields_beyond_int64_are_a_400(client: AsgiClient, size: object) -> None:
    """Fuzzing: transit/cache-config size=2**64 was echoed back and failed to render (500)."""
    assert client.request("POST", "sys/mounts/transit-int", token=ROOT, json={"type": "transit"})[0] in (
        204,
        400,
    )
    status, body, _ = client.request("POST", "transit-int/cache-config", token=ROOT, json={"size": size})
    assert (status, body) == (
        400,
        {
            "errors": [
                "Field validation failed: error converting input for field \"size\": '' cannot parse value "
                "as 'int': strconv.ParseInt: value out of range"
            ]
        },
    )


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (33, "invalid key: failed to setup unseal key: crypto/aes: invalid key size 33"),
        (31, "invalid key: failed to setup unseal key: crypto/aes: invalid key size 31"),
        (1, "invalid key: key is shorter than minimum 16 bytes"),
        (65, "invalid key: key is longer than maximum 33 bytes"),
        (
            24,
            "unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: "
            "cipher: message authentication failed",
        ),
    ],
)
def test_unseal_key_of_a_wrong_size_is_a_400(size: int, message: str) -> None:
    """Constant-time review: an unseal key of a size AES refuses was a 500 (texts checked on the reference)."""
    core, key = dev_core()
    c = AsgiClient(App(core))
    try:
        core.seal()
        status, body, _ = c.request(
            "PUT", "sys/unseal", json={"key": base64.b64encode(b"\x01" * size).decode()}
        )
        assert (status, body) == (400, {"errors": [message]})
        status, body, _ = c.request("PUT", "sys/unseal", json={"key": base64.b64encode(key).decode()})
        assert status == 200 and body["sealed"] is False
    finally:
        c.close()
        core.shutdown()

"""Request limits: body size (per listener), JSON nesting depth and string count.

Vault answers 413 ``http: request body too large`` past ``max_request_size`` and refuses JSON with
more than 1000 strings. Its nesting limit is encoding/json's 10000 levels; Tessera stores and
renders with orjson, which stops at 254 levels, so it refuses bodies nested deeper than
``MAX_JSON_DEPTH`` (240) with a 400 (they were a 500 once stored or rendered).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.framework.body import MAX_JSON_DEPTH
from tessera.server.app import App
from tests.helpers.http import call
from tests.helpers.servers import TesseraServer, free_port, hcl_config
from tests.reliability.asgi import ROOT, AsgiClient, LogCapture, dev_core

TOO_LARGE = {"errors": ["http: request body too large"]}


@pytest.fixture(scope="module")
def client() -> Iterator[AsgiClient]:
    core, _ = dev_core()
    c = AsgiClient(App(core, max_request_size=4096))
    try:
        yield c
    finally:
        c.close()
        core.shutdown()


def nested(depth: int) -> bytes:
    return ('{"data":' + '{"a":' * depth + "1" + "}" * depth + "}").encode()


def test_body_over_the_listener_limit_is_413(client: AsgiClient) -> None:
    assert client.request("POST", "secret/data/size", token=ROOT, json={"data": {"v": "x" * 3000}})[0] == 200
    status, body, _ = client.request("POST", "secret/data/size", token=ROOT, json={"data": {"v": "x" * 5000}})
    assert (status, body) == (413, TOO_LARGE)


def test_max_request_size_from_the_config(tmp_path: Path) -> None:
    port = free_port()
    text = hcl_config(port).replace("tls_disable = true\n", "tls_disable = true\n  max_request_size = 2048\n")
    config = tmp_path / "server.hcl"
    config.write_text(text)
    with TesseraServer(config=config) as server:
        status, body, _ = call(server.addr, "PUT", "sys/init", json={"secret_shares": 1, "pad": "x" * 4096})
        assert (status, body) == (413, TOO_LARGE)
        status, _, _ = call(server.addr, "PUT", "sys/init", json={"secret_shares": 1, "secret_threshold": 1})
        assert status == 200


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, 200, 100])
def test_deepest_accepted_bodies_round_trip(client: AsgiClient, depth: int) -> None:
    assert client.request("POST", "secret/data/deep", token=ROOT, body=nested(depth))[0] == 200
    status, body, _ = client.request("GET", "secret/data/deep", token=ROOT)
    assert status == 200
    inner = body["data"]["data"]
    for _ in range(depth - 1):
        inner = inner["a"]
    assert inner == {"a": 1}
    status, wrapped, _ = client.request(
        "GET", "secret/data/deep", token=ROOT, headers={"X-Vault-Wrap-TTL": "5m"}
    )
    assert status == 200
    assert client.request("POST", "sys/wrapping/unwrap", token=wrapped["wrap_info"]["token"])[0] == 200


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 254, 255, 300, 499])
def test_deeper_bodies_are_400_not_500(client: AsgiClient, depth: int) -> None:
    """Regression (fuzzing): depths 254-499 passed the old 500-level check and failed in orjson (500)."""
    with LogCapture() as logs:
        status, body, _ = client.request("POST", "secret/data/deep2", token=ROOT, body=nested(depth))
    assert status == 400
    assert body == {"errors": ["refused JSON input due to high complexity: exceeded maximum nesting depth"]}
    assert not [r for r in logs.records if r.exc_info]


def test_beyond_the_parser_limit_is_go_text(client: AsgiClient) -> None:
    raw = b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}"
    status, body, _ = client.request("POST", "secret/data/deep3", token=ROOT, body=raw)
    assert (status, body) == (400, {"errors": ["failed to decode JSON input: exceeded max depth"]})


def test_too_many_strings(client: AsgiClient) -> None:
    data = {"list": [""] * 1001}  # 1002 strings in under 4 KiB
    status, body, _ = client.request("POST", "secret/data/many", token=ROOT, json={"data": data})
    assert (status, body) == (
        400,
        {"errors": ["refused JSON input due to high complexity: exceeded maximum number of strings"]},
    )

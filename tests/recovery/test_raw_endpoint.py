"""sys/raw on a normal server, side by side with the reference: off unless ``raw_storage_endpoint``,
sudo-only, writes create keys (the router's existence check), the barrier's own keys out of reach."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config

pytestmark = pytest.mark.reference


def _pair(tmp: Path, extra: str) -> tuple[ServerProcess, ServerProcess]:
    ref_cfg, tes_cfg = tmp / "bao.hcl", tmp / "tessera.hcl"
    ref_cfg.write_text(hcl_config(free_port(span=2), extra=extra))
    tes_cfg.write_text(hcl_config(free_port(), extra=extra))
    servers: list[ServerProcess] = [ReferenceServer(config=ref_cfg), TesseraServer(config=tes_cfg)]
    try:
        for server in servers:
            server.start()
            server.init(1, 1)
            server.unseal()
    except BaseException:
        for server in servers:
            server.cleanup()
        raise
    return servers[0], servers[1]


@pytest.fixture
def raw_pair(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    pair = _pair(tmp_path, "raw_storage_endpoint = true\n")
    try:
        yield pair
    finally:
        for server in pair:
            server.cleanup()


def _strip(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in ("request_id", "mount_type")}
    return body


def _same(pair: tuple[ServerProcess, ServerProcess], method: str, path: str, **kw: Any) -> Any:
    a, b = (s.call(method, path, **kw)[:2] for s in pair)
    assert (b[0], _strip(b[1])) == (a[0], _strip(a[1])), f"{method} {path}"
    return a


def test_raw_is_off_by_default(tmp_path: Path) -> None:
    pair = _pair(tmp_path, "")
    try:
        for method in ("GET", "PUT", "DELETE", "LIST"):
            _same(pair, method, "sys/raw/core/seal-config")
    finally:
        for server in pair:
            server.cleanup()


def test_raw_reads_writes_lists_and_deletes_alike(raw_pair: tuple[ServerProcess, ServerProcess]) -> None:
    pair = raw_pair
    _same(pair, "GET", "sys/raw/core/keyring")
    _same(pair, "PUT", "sys/raw/core/keyring", json={"value": "x"})
    _same(pair, "GET", "sys/raw/no/such/key")
    _same(pair, "LIST", "sys/raw/no/such/dir")
    _same(pair, "GET", "sys/raw/core/seal-config", params={"encoding": "hex"})
    for server in pair:  # the seal configuration comes from physical storage, in each server's own shape
        status, body, _ = server.call("GET", "sys/raw/core/seal-config")
        assert status == 200 and '"secret_threshold":1' in body["data"]["value"]
    # Writing a new key creates it (the router's existence check makes it a create).
    _same(pair, "PUT", "sys/raw/tessera-test/plain", json={"value": "hello"})
    _same(pair, "GET", "sys/raw/tessera-test/plain")
    _same(pair, "GET", "sys/raw/tessera-test/plain", params={"encoding": "base64"})
    _same(pair, "PUT", "sys/raw/tessera-test/bin", json={"value": "aGk=", "encoding": "base64"})
    _same(pair, "GET", "sys/raw/tessera-test/bin")
    _same(pair, "PUT", "sys/raw/tessera-test/bad", json={"value": "!!", "encoding": "base64"})
    _same(pair, "PUT", "sys/raw/tessera-test/x", json={"value": "v", "compression_type": "lz"})
    _same(pair, "PUT", "sys/raw/tessera-test/zipped", json={"value": "zip me", "compression_type": "gzip"})
    _same(pair, "GET", "sys/raw/tessera-test/zipped")
    for server in pair:
        status, body, _ = server.call(
            "GET", "sys/raw/tessera-test/zipped", params={"compressed": "false", "encoding": "base64"}
        )
        raw = base64.b64decode(body["data"]["value"])
        assert status == 200 and raw[:1] == b"G" and gzip.decompress(raw[1:]) == b"zip me"
    # Rewriting a compressed entry keeps its scheme; another scheme is refused.
    _same(pair, "PUT", "sys/raw/tessera-test/zipped", json={"value": "again"})
    _same(pair, "GET", "sys/raw/tessera-test/zipped")
    _same(pair, "PUT", "sys/raw/tessera-test/plain", json={"value": "v", "compression_type": "gzip"})
    _same(pair, "LIST", "sys/raw/tessera-test")
    _same(pair, "LIST", "sys/raw/tessera-test/", params={"limit": "2"})
    _same(pair, "LIST", "sys/raw/tessera-test/", params={"after": "bin", "limit": "1"})
    _same(pair, "DELETE", "sys/raw/tessera-test/plain")
    _same(pair, "DELETE", "sys/raw/tessera-test/plain")
    _same(pair, "GET", "sys/raw/tessera-test/plain")
    _same(pair, "PUT", "sys/raw/tessera-test/", json={"value": "v"})


def test_raw_needs_sudo(raw_pair: tuple[ServerProcess, ServerProcess]) -> None:
    pair = raw_pair
    policy = 'path "sys/raw/*" { capabilities = ["create", "read", "update", "delete", "list"] }'
    tokens = []
    for server in pair:
        assert server.call("PUT", "sys/policy/raw-no-sudo", json={"policy": policy})[0] == 204
        status, body, _ = server.call("POST", "auth/token/create", json={"policies": ["raw-no-sudo"]})
        assert status == 200
        tokens.append(body["auth"]["client_token"])
    answers = [
        s.call("GET", "sys/raw/core/seal-config", token=t)[:2] for s, t in zip(pair, tokens, strict=True)
    ]
    assert answers[0] == answers[1] and answers[0][0] == 403
    # A recovery token means nothing to a normal server.
    _same(pair, "GET", "sys/raw/core/seal-config", token="hvr.O4HB1624NwhzR5XaA51Dlmyg")

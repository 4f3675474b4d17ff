"""Recovery mode side by side with the reference: ``bao server -recovery`` (raft) and ``tessera server
-recovery`` (SQLite) answer the same requests with the same statuses and bodies.

Both storages are initialised with 3 shares / threshold 2 first. What differs by nature is masked:
nonces, OTPs, encoded tokens (and the tokens they decode to), storage layouts under ``sys/raw``.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config

pytestmark = pytest.mark.reference


def _reference_config(tmp: Path) -> Path:
    port = free_port(span=2)
    data = tmp / "raft"
    data.mkdir()
    path = tmp / "bao.hcl"
    path.write_text(
        f'storage "raft" {{\n  path = "{data}"\n  node_id = "n1"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{port + 1}"\n'
    )
    return path


def _tessera_config(tmp: Path) -> Path:
    path = tmp / "tessera.hcl"
    path.write_text(
        hcl_config(free_port(), storage="sqlite", storage_options={"path": str(tmp / "tessera.db")})
    )
    return path


def _seed(server: ServerProcess) -> list[str]:
    """init 3/2, unseal, wait until active (raft elects itself), stop; the keys."""
    server.start()
    server.init(3, 2)
    server.unseal(server.keys[:2])
    deadline = time.monotonic() + 30
    while server.call("GET", "sys/health", auth=False)[0] != 200:
        assert time.monotonic() < deadline, "server did not become active"
        time.sleep(0.2)
    server.stop()
    return server.keys


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[tuple[ServerProcess, list[str]], tuple[ServerProcess, list[str]]]]:
    ref_dir, tes_dir = tmp_path / "ref", tmp_path / "tes"
    ref_dir.mkdir()
    tes_dir.mkdir()
    ref_cfg, tes_cfg = _reference_config(ref_dir), _tessera_config(tes_dir)
    servers: list[ServerProcess] = []
    try:
        ref_keys = _seed(_track(servers, ReferenceServer(config=ref_cfg)))
        tes_keys = _seed(_track(servers, TesseraServer(config=tes_cfg)))
        ref = _track(servers, ReferenceServer(config=ref_cfg, extra_args=["-recovery"])).start()
        tes = _track(servers, TesseraServer(config=tes_cfg, extra_args=["-recovery"])).start()
        yield (ref, ref_keys), (tes, tes_keys)
    finally:
        for server in servers:
            server.cleanup()


def _track(servers: list[ServerProcess], server: ServerProcess) -> ServerProcess:
    servers.append(server)
    return server


MASKED = ("nonce", "otp", "encoded_token")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _mask(body: Any) -> Any:
    """Nonces, OTPs and encoded tokens (values and inside error texts) differ by nature."""
    if isinstance(body, dict):
        return {k: ("<set>" if k in MASKED and v else _mask(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [_mask(v) for v in body]
    if isinstance(body, str):
        return UUID.sub("<UUID>", body)
    return body


def _raw_get(server: ServerProcess, path: str, **kwargs: Any) -> tuple[int, str, str]:
    response = requests.get(f"{server.addr}/v1/{path}", timeout=10, allow_redirects=False, **kwargs)
    return response.status_code, response.headers.get("content-type", ""), response.text


def _decode(encoded: str, otp: str) -> str:
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()


def test_recovery_mode_matches_the_reference(pair: Any) -> None:
    (ref, ref_keys), (tes, tes_keys) = pair

    def both(method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
        keys = kwargs.pop("keys", None)
        out = []
        for server, server_keys in ((ref, ref_keys), (tes, tes_keys)):
            json = kwargs.get("json")
            if keys is not None:
                json = {**(json or {}), "key": keys(server_keys)}
            extra = {k: v for k, v in kwargs.items() if k != "json"}
            status, body, _ = server.call(method, path, json=json, auth=False, **extra)
            out.append((status, body))
        return out[0], out[1]

    def same(method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
        a, b = both(method, path, **kwargs)
        assert (b[0], _mask(b[1])) == (a[0], _mask(a[1])), f"{method} {path}"
        return a, b

    for path in ("sys/seal-status", "sys/health", "sys/unseal", "sys/init", "sys/generate-root/attempt"):
        assert _raw_get(tes, path) == _raw_get(ref, path), path
    assert _raw_get(tes, "sys/raw")[0] == _raw_get(ref, "sys/raw")[0] == 307

    attempt = "sys/generate-recovery-token/attempt"
    update = "sys/generate-recovery-token/update"
    same("GET", attempt)
    same("PUT", update, json={})
    same("PUT", update, keys=lambda k: k[0])
    same("PUT", attempt, json={"otp": "short"})
    (_, ref_start), (_, tes_start) = same("PUT", attempt)
    same("PUT", attempt)
    same("PUT", update, json={"nonce": "wrong"}, keys=lambda k: k[0])
    same("PUT", update, json={"key": "AAAA", "nonce": ref_start["nonce"]})

    def share(index: int) -> Any:
        return {"ref": ref_keys[index], "tes": tes_keys[index]}

    def update_each(key_of: Any) -> tuple[Any, Any]:
        out = []
        for server, start, side in ((ref, ref_start, "ref"), (tes, tes_start, "tes")):
            status, body, _ = server.call(
                "PUT", update, json={"key": key_of(side), "nonce": start["nonce"]}, auth=False
            )
            out.append((status, body))
        assert (out[1][0], _mask(out[1][1])) == (out[0][0], _mask(out[0][1]))
        return out[0], out[1]

    update_each(lambda side: share(0)[side])
    update_each(lambda side: share(0)[side])  # the same share twice
    # A share whose x coordinate (last byte) neither real first share uses: otherwise the combine
    # fails as "duplicate part detected" on one side only (share coordinates are random).
    used = {bytes.fromhex(share(0)[side])[-1] for side in ("ref", "tes")}
    bogus = (bytes(32) + bytes([next(x for x in range(250, 0, -1) if x not in used)])).hex()
    update_each(lambda side: bogus)  # aborts: the count starts over
    same("GET", attempt)
    update_each(lambda side: share(1)[side])
    (_, ref_done), (_, tes_done) = update_each(lambda side: share(2)[side])
    ref_token = _decode(ref_done["encoded_token"], ref_start["otp"])
    tes_token = _decode(tes_done["encoded_token"], tes_start["otp"])
    assert ref_token[:4] == tes_token[:4] == "hvr." and len(ref_token) == len(tes_token) == 28

    def raw(method: str, path: str, token: str | None = None, **kwargs: Any) -> None:
        a = ref.call(method, path, token=ref_token if token is None else token, auth=False, **kwargs)[:2]
        b = tes.call(method, path, token=tes_token if token is None else token, auth=False, **kwargs)[:2]
        if a[0] == 200 and isinstance(a[1], dict) and "request_id" in a[1]:
            assert b[0] == 200 and set(b[1]["data"]) == set(a[1]["data"]), path
        else:
            assert b == a, f"{method} {path}"

    raw("GET", "sys/raw/core/seal-config", token="hvr.wrong")
    raw("GET", "sys/raw/core/seal-config", token="", headers={"Authorization": f"Bearer {ref_token}"})
    raw("GET", "sys/raw/core/seal-config")
    raw("GET", "sys/raw/core/seal-config", params={"encoding": "hex"})
    raw("GET", "sys/raw/core/seal-config", params={"encoding": "base64"})
    raw("GET", "sys/raw/core/keyring")
    raw("GET", "sys/raw/core/no-such-key")
    raw("GET", "sys/raw/", params={"list": "true"})
    raw("LIST", "sys/raw/no-such-dir/")
    raw("PUT", "sys/raw/new/key", json={"value": "x"})
    raw("DELETE", "sys/raw/new/key")
    raw(
        "PATCH", "sys/raw/core/seal-config", json={}, headers={"Content-Type": "application/merge-patch+json"}
    )

    same("GET", attempt)
    same("PUT", attempt)
    same("PUT", update, json={"nonce": "x"}, keys=lambda k: k[0])
    same("DELETE", attempt)

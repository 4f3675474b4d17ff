"""A Tessera started from a config file on SQLite, driven by the real bao CLI: init, unseal, restart.

Checks that a restarted server comes back sealed, unseals with a threshold of key shares (hex and
base64), keeps every mount with its tuning and the KV data, and that nothing secret (root token,
unseal keys, secret values) is readable in the SQLite files. The reference OpenBao (config mode,
inmem) runs the same init and unseal steps so the CLI's view of both can be compared.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer, find_bao, free_port, hcl_config
from tests.server.pairs import norm

SECRET_VALUE = "tessera-plaintext-canary-7f3a9c"


def run_bao(server: ReferenceServer | TesseraServer, *args: str, token: str = "") -> tuple[int, str, str]:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(BAO_ADDR=server.addr, HOME=str(server.workdir), NO_COLOR="1")
    if token:
        env["BAO_TOKEN"] = token
    done = subprocess.run(
        [find_bao(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def sqlite_tessera(tmp_path: Path) -> Iterator[TesseraServer]:
    port = free_port()
    config = tmp_path / "tessera.hcl"
    config.write_text(
        hcl_config(port, storage="sqlite", storage_options={"path": str(tmp_path / "tessera.db")})
    )
    server = TesseraServer(config=config)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def config_reference(tmp_path: Path) -> Iterator[ReferenceServer]:
    """The reference in config mode (uninitialised, sealed); OpenBao 2.7 has no file storage: inmem."""
    port = free_port(span=2)
    config = tmp_path / "bao.hcl"
    config.write_text(hcl_config(port, storage="inmem"))
    server = ReferenceServer(config=config)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def _status_table(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if len(parts) == 2:
            rows[parts[0]] = parts[1]
    return rows


def init_with_cli(server: ReferenceServer | TesseraServer) -> dict[str, object]:
    code, out, err = run_bao(server, "operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json")
    assert code == 0, err
    doc = json.loads(out)
    server.root_token = str(doc["root_token"])
    return doc


def test_cli_lifecycle_restart_and_storage(
    sqlite_tessera: TesseraServer, config_reference: ReferenceServer
) -> None:
    tes, ref = sqlite_tessera, config_reference
    # Uninitialised: `bao status` exits 2 on both and shows the same rows.
    before = {}
    for server in (ref, tes):
        code, out, _ = run_bao(server, "status")
        assert code == 2, out
        before[server.name] = _status_table(out)
    for key in ("Seal Type", "Initialized", "Sealed", "Total Shares", "Threshold", "Unseal Progress"):
        assert before["bao"].get(key) == before["tessera"].get(key), key
    docs = {server.name: init_with_cli(server) for server in (ref, tes)}
    assert set(docs["bao"]) == set(docs["tessera"])
    doc = docs["tessera"]
    assert (doc["unseal_shares"], doc["unseal_threshold"]) == (3, 2)
    keys_b64 = [str(k) for k in doc["unseal_keys_b64"]]  # type: ignore[union-attr]
    keys_hex = [str(k) for k in doc["unseal_keys_hex"]]  # type: ignore[union-attr]
    root = str(doc["root_token"])
    assert root.startswith("hvs.")

    # Sealed after init; one share gives progress 1/2, the second unseals (CLI prints the same rows).
    for server, keys in ((ref, docs["bao"]["unseal_keys_b64"]), (tes, keys_b64)):
        code, out, _ = run_bao(server, "operator", "unseal", keys[0])  # type: ignore[index]
        assert code == 0 and _status_table(out)["Unseal Progress"] == "1/2", out
        code, out, _ = run_bao(server, "operator", "unseal", keys[1])  # type: ignore[index]
        assert code == 0 and _status_table(out)["Sealed"] == "false", out
        assert run_bao(server, "status")[0] == 0

    # Mounts, tuning and a secret.
    for args in (
        ("secrets", "enable", "-version=1", "kv"),
        ("secrets", "enable", "-path=kv2", "-version=2", "-description=team secrets", "kv"),
        ("secrets", "tune", "-max-lease-ttl=1h", "-default-lease-ttl=30m", "kv/"),
        ("kv", "put", "kv2/app", f"password={SECRET_VALUE}"),
        ("kv", "put", "kv/legacy", f"value={SECRET_VALUE}"),
    ):
        code, out, err = run_bao(tes, *args, token=root)
        assert code == 0, (args, out, err)
    _, mounts_before, _ = call(tes.addr, "GET", "sys/mounts", root)
    _, auth_before, _ = call(tes.addr, "GET", "sys/auth", root)

    # Restart: sealed again, a wrong share is refused, two good shares (hex, then base64) unseal.
    tes.restart()
    code, out, _ = run_bao(tes, "status")
    assert code == 2 and _status_table(out)["Sealed"] == "true", out
    status, body, _ = call(tes.addr, "GET", "sys/mounts", root)
    assert (status, body) == (503, {"errors": ["Vault is sealed"]})
    status, body, _ = call(tes.addr, "PUT", "sys/unseal", None, json={"key": keys_hex[2]})
    assert status == 200 and (body["sealed"], body["progress"], body["t"], body["n"]) == (True, 1, 2, 3)
    assert body["nonce"]
    status, body, _ = call(tes.addr, "PUT", "sys/unseal", None, json={"key": keys_b64[0]})
    assert status == 200 and body["sealed"] is False and body["progress"] == 0, body
    _, mounts_after, _ = call(tes.addr, "GET", "sys/mounts", root)
    _, auth_after, _ = call(tes.addr, "GET", "sys/auth", root)
    assert norm(mounts_after["data"]) == norm(mounts_before["data"])
    assert mounts_after["data"]["kv/"]["accessor"] == mounts_before["data"]["kv/"]["accessor"]
    assert norm(auth_after["data"]) == norm(auth_before["data"])
    _, tune, _ = call(tes.addr, "GET", "sys/mounts/kv/tune", root)
    assert (tune["data"]["default_lease_ttl"], tune["data"]["max_lease_ttl"]) == (1800, 3600)
    code, out, _ = run_bao(tes, "kv", "get", "-field=password", "kv2/app", token=root)
    assert (code, out.strip()) == (0, SECRET_VALUE)
    code, out, _ = run_bao(tes, "kv", "get", "-field=value", "kv/legacy", token=root)
    assert (code, out.strip()) == (0, SECRET_VALUE)

    # Seal through the CLI, then an unseal attempt with mismatched shares fails with Vault's text.
    assert run_bao(tes, "operator", "seal", token=root)[0] == 0
    call(tes.addr, "PUT", "sys/unseal", None, json={"key": keys_b64[0]})
    share = bytearray(base64.b64decode(keys_b64[1]))
    share[0] ^= 1  # a y-value flipped, its x coordinate (last byte) kept: combines into a wrong key
    wrong = base64.b64encode(bytes(share)).decode()
    status, body, _ = call(tes.addr, "PUT", "sys/unseal", None, json={"key": wrong})
    assert status == 400 and body["errors"][0].startswith("unable to retrieve stored keys: invalid key"), body
    status, body, _ = call(tes.addr, "GET", "sys/seal-status", None)
    assert body["sealed"] is True and body["progress"] == 0
    tes.stop()

    # Nothing secret is written in the clear: not the root token, not a key share, not a value.
    needles = [root.encode(), SECRET_VALUE.encode()]
    for b64, hexed in zip(keys_b64, keys_hex, strict=True):
        needles += [b64.encode(), hexed.encode(), base64.b64decode(b64)]
    store = Path(str(tes.config)).parent
    files = [p for p in store.iterdir() if p.name.startswith("tessera.db")]
    assert files, list(store.iterdir())
    for path in files:
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, (path.name, needle[:12])

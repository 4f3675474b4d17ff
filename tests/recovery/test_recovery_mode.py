"""``tessera server -recovery`` end to end, on SQLite storage that a broken mount table made unusable.

The scenario the mode exists for: a mount-table entry is corrupt, so the normal server cannot serve the
mount. Recovery mode starts on the same storage without mounts, tokens or leases; a recovery token is
generated from the unseal key shares; the entry is repaired through ``sys/raw``; a normal restart
serves the old secrets again.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tessera.barrier.aes_gcm import Barrier
from tessera.core import shamir
from tessera.routing.mounts import SECRETS_TABLE
from tessera.storage.sqlite import SQLitePhysical
from tests.cli.golden import BAO, TESSERA, cli_env, run_cli
from tests.helpers.servers import TesseraServer, free_port, hcl_config

NOT_FOUND = "404 page not found\n"


class Storage:
    """Both servers of one storage: the normal one and the same config started with ``-recovery``."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "tessera.db"
        self.config = tmp_path / "server.hcl"
        self.config.write_text(
            hcl_config(free_port(), storage="sqlite", storage_options={"path": str(self.db)})
        )
        self.normal = TesseraServer(config=self.config)
        self.recovery = TesseraServer(config=self.config, extra_args=["-recovery"])

    def unseal_key(self) -> bytes:
        """The combined unseal key (the test plays the key holders)."""
        shares = [bytes.fromhex(k) for k in self.normal.keys[:2]]
        return shamir.combine(shares)

    def cleanup(self) -> None:
        self.normal.cleanup()
        self.recovery.cleanup()


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    s = Storage(tmp_path)
    try:
        yield s
    finally:
        s.cleanup()


def _seed(storage: Storage) -> None:
    """Initialise (3 shares, threshold 2), mount a KV engine and write secrets, then stop."""
    server = storage.normal.start()
    server.init(3, 2)
    server.unseal(server.keys[:2])
    assert server.call("POST", "sys/mounts/kv", json={"type": "kv"})[0] == 204
    assert server.call("POST", "kv/app", json={"password": "s3cret", "user": "svc"})[0] == 204
    server.stop()


def _corrupt_kv_entry(storage: Storage) -> dict[str, Any]:
    """Rewrite the mount table in the SQLite file with the kv entry mangled; return the original entry."""
    physical = SQLitePhysical(str(storage.db))
    try:
        barrier = Barrier(physical)
        barrier.unseal(storage.unseal_key())
        table = orjson.loads(barrier.get(SECRETS_TABLE) or b"[]")
        index = next(i for i, m in enumerate(table) if m.get("path") == "kv/")
        original = table[index]
        table[index] = "\x00corrupt"
        barrier.put(SECRETS_TABLE, orjson.dumps(table))
    finally:
        physical.close()
    return dict(original)


def _normal_serves_secret(server: TesseraServer) -> bool:
    """Unseal (by the usual keys) and read the secret; False if either does not work."""
    for key in server.keys[:2]:
        status, body, _ = server.call("PUT", "sys/unseal", json={"key": key}, auth=False)
        if status != 200:
            return False
        if not body.get("sealed", True):
            break
    status, body, _ = server.call("GET", "kv/app")
    return status == 200 and body["data"] == {"password": "s3cret", "user": "svc"}


def _recovery_token(server: TesseraServer, keys: list[str]) -> str:
    """generate-recovery-token: attempt (server-made OTP), one share per update, decode."""
    status, attempt, _ = server.call("PUT", "sys/generate-recovery-token/attempt", auth=False)
    assert status == 200 and attempt["started"] and attempt["otp_length"] == 28
    otp, nonce = attempt["otp"], attempt["nonce"]
    body: dict[str, Any] = {}
    for key in keys:
        status, body, _ = server.call(
            "PUT", "sys/generate-recovery-token/update", json={"key": key, "nonce": nonce}, auth=False
        )
        assert status == 200, body
    assert body["complete"] and body["encoded_root_token"] == ""
    raw = base64.b64decode(body["encoded_token"] + "=" * (-len(body["encoded_token"]) % 4))
    token = bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()
    assert token.startswith("hvr.") and len(token) == 28
    return token


def test_repair_a_corrupt_mount_entry_in_recovery_mode(storage: Storage) -> None:
    _seed(storage)
    original = _corrupt_kv_entry(storage)
    normal = storage.normal
    normal.start()
    assert not _normal_serves_secret(normal)
    normal.kill()

    recovery = storage.recovery
    recovery.start()
    assert "Recovery Mode: true" in recovery.output()
    token = _recovery_token(recovery, normal.keys[:2])
    status, listing, _ = recovery.call("GET", "sys/raw/core/", token=token, params={"list": "true"})
    assert status == 200 and "mounts" in listing["data"]["keys"]
    status, read, _ = recovery.call("GET", "sys/raw/core/mounts", token=token)
    assert status == 200
    table = orjson.loads(read["data"]["value"])
    assert "\x00corrupt" in table
    table[table.index("\x00corrupt")] = original
    status, body, _ = recovery.call(
        "PUT", "sys/raw/core/mounts", token=token, json={"value": orjson.dumps(table).decode()}
    )
    assert (status, body) == (200, None)  # OpenBao's recovery handler: 200 with a "null" body
    recovery.stop()

    normal.start()
    assert _normal_serves_secret(normal)
    # The recovery token died with the recovery server, and a normal server never takes hvr. tokens.
    assert normal.call("GET", "kv/app", token=token)[:2] == (403, {"errors": ["permission denied"]})


def test_recovery_mode_serves_three_routes_behind_the_token(storage: Storage) -> None:
    _seed(storage)
    server = storage.recovery.start()
    addr = server.addr
    for path in ("sys/seal-status", "sys/health", "sys/unseal", "sys/generate-root/attempt", "secret/x"):
        response = requests.get(f"{addr}/v1/{path}", timeout=10)
        assert (response.status_code, response.text) == (404, NOT_FOUND), path
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    redirect = requests.get(f"{addr}/v1/sys/raw", timeout=10, allow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/v1/sys/raw/")
    # Before any token exists, nothing gets through; the barrier is still sealed.
    assert server.call("GET", "sys/raw/core/seal-config", token="hvr.x")[:2] == (403, {"errors": []})
    status, body, _ = server.call("GET", "sys/generate-recovery-token/attempt", auth=False)
    assert (status, body["started"], body["required"], body["otp_length"]) == (200, False, 2, 28)

    token = _recovery_token(server, storage.normal.keys[1:3])
    bearer = {"Authorization": f"Bearer {token}"}
    assert server.call("GET", "sys/raw/core/seal-config", headers=bearer, auth=False)[:2] == (
        403,
        {"errors": []},
    )
    assert server.call("GET", "sys/raw/core/seal-config", token=token + "x")[:2] == (403, {"errors": []})
    status, body, _ = server.call("GET", "sys/raw/core/seal-config", token=token)
    assert status == 200 and orjson.loads(body["data"]["value"])["secret_threshold"] == 2
    assert server.call("GET", "sys/raw/core/keyring", token=token)[:2] == (
        400,
        {"errors": ['cannot access "core/keyring"']},
    )
    assert server.call("GET", "sys/raw/core/missing", token=token)[:2] == (404, {"errors": []})
    # No existence check here (as OpenBao): a write is an update, so a new key cannot be created.
    assert server.call("PUT", "sys/raw/new/key", token=token, json={"value": "x"})[:2] == (
        400,
        {"errors": ["cannot figure out compression type because entry does not exist"]},
    )
    # A second token is not possible once the barrier is open.
    assert server.call("PUT", "sys/generate-recovery-token/attempt", auth=False)[:2] == (
        400,
        {"errors": ["attempted to generate recovery operation token when already unsealed"]},
    )


def test_wrong_share_does_not_open_the_barrier(storage: Storage) -> None:
    _seed(storage)
    server = storage.recovery.start()
    status, attempt, _ = server.call("PUT", "sys/generate-recovery-token/attempt", auth=False)
    assert status == 200
    nonce = attempt["nonce"]
    good = storage.normal.keys[0]
    bogus = (bytes(32) + bytes([1 if bytes.fromhex(good)[-1] != 1 else 2])).hex()
    server.call("PUT", "sys/generate-recovery-token/update", json={"key": good, "nonce": nonce}, auth=False)
    status, body, _ = server.call(
        "PUT", "sys/generate-recovery-token/update", json={"key": bogus, "nonce": nonce}, auth=False
    )
    assert (status, body) == (
        400,
        {
            "errors": [
                "root generation aborted: unable to authenticate: unable to retrieve stored keys: invalid key: "
                "failed to decrypt keys from storage: cipher: message authentication failed"
            ]
        },
    )
    status, body, _ = server.call("GET", "sys/generate-recovery-token/attempt", auth=False)
    assert (body["started"], body["progress"]) == (True, 0)


@pytest.mark.parametrize("cli", ["tessera", pytest.param("bao", marks=pytest.mark.reference)])
def test_recovery_token_from_the_cli(storage: Storage, tmp_path: Path, cli: str) -> None:
    """``operator generate-root -recovery-token``: -init, one share per call, -decode (both CLIs)."""
    binary = TESSERA if cli == "tessera" else BAO
    _seed(storage)
    server = storage.recovery.start()
    env = cli_env(server.addr, str(tmp_path), None)
    base = ["operator", "generate-root", "-recovery-token"]
    init = run_cli(binary, [*base, "-init"], env)
    assert init.rc == 0, init.err
    fields = dict(
        line.split(None, 1) for line in init.out.splitlines() if line and not line.startswith("OTP L")
    )
    otp, nonce = fields["OTP"], fields["Nonce"]
    for key in storage.normal.keys[:2]:
        step = run_cli(binary, [*base, f"-nonce={nonce}", key], env)
        assert step.rc == 0, step.err
    encoded = step.out.split("Encoded Token")[1].split()[0]
    decoded = run_cli(binary, [*base, f"-decode={encoded}", f"-otp={otp}"], env)
    assert decoded.rc == 0, decoded.err
    token = decoded.out.strip()
    assert token.startswith("hvr.")
    status, body, _ = server.call("GET", "sys/raw/core/", token=token, params={"list": "true"})
    assert status == 200 and "mounts" in body["data"]["keys"]


def test_unseal_over_a_corrupt_mount_table_seals_again(storage: Storage) -> None:
    """Post-unseal failure must not leave an open barrier serving no mounts (Vault seals again)."""
    _seed(storage)
    _corrupt_kv_entry(storage)
    normal = storage.normal.start()
    status, body, _ = normal.call("PUT", "sys/unseal", json={"key": normal.keys[0]}, auth=False)
    assert status == 200 and body["sealed"] and body["progress"] == 1
    status, body, _ = normal.call("PUT", "sys/unseal", json={"key": normal.keys[1]}, auth=False)
    assert status == 500 and body["errors"], body
    status, body, _ = normal.call("GET", "sys/seal-status", auth=False)
    assert status == 200 and body["sealed"] is True and body["progress"] == 0
    status, body, _ = normal.call("GET", "sys/mounts")
    assert status == 503 and body == {"errors": ["Vault is sealed"]}

"""PGP-encrypted shares and tokens on a real Tessera server (SQLite): init, generate-root, rekey.

Everything that comes back encrypted is decrypted the way Vault's docs say (``base64 -d | gpg -dq``,
here with Sequoia, and once with real gpg) and then used: shares unseal, tokens authenticate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.golden import TESSERA, cli_env, run_cli
from tests.compat.test_generate_root_compat import UNAUTHED
from tests.helpers.pgp import GnuPG, HolderKey, make_key, sign_only_key
from tests.helpers.servers import TesseraServer, tessera_on_sqlite


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TesseraServer]:
    """A Tessera on SQLite, not yet initialised, its unauthenticated key ceremonies turned on."""
    srv = tessera_on_sqlite(tmp_path)
    config = tmp_path / "tessera.hcl"
    config.write_text(
        config.read_text().replace("  tls_disable = true\n", "  tls_disable = true\n" + UNAUTHED)
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def keys() -> list[HolderKey]:
    return [make_key(f"holder{i}") for i in range(3)]


def _init(server: TesseraServer, keys: list[HolderKey]) -> tuple[list[str], str]:
    """Init 3/2 with PGP keys; the decrypted unseal keys (hex text) and root token."""
    status, body, _ = server.call(
        "PUT",
        "sys/init",
        auth=False,
        json={
            "secret_shares": 3,
            "secret_threshold": 2,
            "pgp_keys": [k.pub for k in keys],
            "root_token_pgp_key": keys[0].pub,
        },
    )
    assert status == 200, body
    shares = [k.decrypt(b64) for k, b64 in zip(keys, body["keys_base64"], strict=True)]
    assert [k.decrypt_hex(h) for k, h in zip(keys, body["keys"], strict=True)] == shares
    server.root_token = keys[0].decrypt(body["root_token"])
    return shares, server.root_token


def _token_works(server: TesseraServer, token: str) -> None:
    status, body, _ = server.call("GET", "auth/token/lookup-self", token=token)
    assert status == 200 and body["data"]["policies"] == ["root"], body


def test_init_with_pgp_keys_unseals_and_authenticates(server: TesseraServer, keys: list[HolderKey]) -> None:
    shares, token = _init(server, keys)
    assert all(len(s) == 66 and int(s, 16) >= 0 for s in shares)  # hex of 33 bytes, as Vault's
    assert token.startswith("hvs.")
    assert server.unseal(shares[1:])["sealed"] is False
    _token_works(server, token)


def _generate_root(server: TesseraServer, key: HolderKey, shares: list[str]) -> str:
    status, body, _ = server.call("PUT", "sys/generate-root/attempt", auth=False, json={"pgp_key": key.pub})
    assert status == 200 and body["pgp_fingerprint"] == key.fingerprint and body["otp"] == "", body
    status, got, _ = server.call("GET", "sys/generate-root/attempt", auth=False)
    assert got["pgp_fingerprint"] == key.fingerprint
    for share in shares[:2]:
        status, body, _ = server.call(
            "PUT", "sys/generate-root/update", auth=False, json={"key": share, "nonce": got["nonce"]}
        )
        assert status == 200, body
    assert body["complete"] and body["encoded_token"] == body["encoded_root_token"]
    assert body["pgp_fingerprint"] == key.fingerprint
    return key.decrypt(body["encoded_token"])


def test_generate_root_with_pgp_key(server: TesseraServer, keys: list[HolderKey]) -> None:
    shares, _ = _init(server, keys)
    server.unseal(shares[:2])
    token = _generate_root(server, keys[2], shares)
    _token_works(server, token)


def test_generate_root_cli_with_pgp_key(server: TesseraServer, keys: list[HolderKey], tmp_path: Path) -> None:
    shares, root = _init(server, keys)
    server.unseal(shares[:2])
    keyfile = tmp_path / "holder.gpg"
    keyfile.write_bytes(bytes(keys[1].cert))  # binary, as "gpg --export" writes it
    env = cli_env(server.addr, str(tmp_path), root)
    init = run_cli(TESSERA, ["operator", "generate-root", "-init", f"-pgp-key={keyfile}"], env)
    assert init.rc == 0, init.err
    assert f"PGP Fingerprint    {keys[1].fingerprint}" in init.out
    status = json.loads(run_cli(TESSERA, ["operator", "generate-root", "-status", "-format=json"], env).out)
    for share in shares[:2]:
        last = run_cli(
            TESSERA, ["operator", "generate-root", f"-nonce={status['nonce']}", "-"], env, stdin=share
        )
        assert last.rc == 0, last.err
    encoded = next(line.split()[-1] for line in last.out.splitlines() if line.startswith("Encoded Token"))
    _token_works(server, keys[1].decrypt(encoded))
    bad = run_cli(TESSERA, ["operator", "generate-root", "-init", f"-pgp-key={tmp_path}/missing"], env)
    assert (bad.rc, bad.err.strip()) == (
        1,
        f'invalid value "{tmp_path}/missing" for flag -pgp-key: open {tmp_path}/missing: no such file or directory',
    )


def test_rekey_with_pgp_keys_and_backup(server: TesseraServer, keys: list[HolderKey]) -> None:
    shares, root = _init(server, keys)
    server.unseal(shares[:2])
    new_holders = [keys[2], keys[1]]
    status, body, _ = server.call(
        "PUT",
        "sys/rekey/init",
        auth=False,
        json={
            "secret_shares": 2,
            "secret_threshold": 2,
            "pgp_keys": [k.pub for k in new_holders],
            "backup": True,
        },
    )
    fingerprints = [k.fingerprint for k in new_holders]
    assert status == 200 and body["pgp_fingerprints"] == fingerprints and body["backup"] is True, body
    for share in shares[:2]:
        status, body, _ = server.call(
            "PUT", "sys/rekey/update", auth=False, json={"key": share, "nonce": body["nonce"]}
        )
        assert status == 200, body
    assert body["complete"] and body["pgp_fingerprints"] == fingerprints and body["backup"] is True
    new_shares = [k.decrypt(b64) for k, b64 in zip(new_holders, body["keys_base64"], strict=True)]

    status, backup, _ = server.call("GET", "sys/rekey/backup")
    assert status == 200, backup
    assert backup["data"]["nonce"] == body["nonce"]
    assert backup["data"]["keys"] == {fp: [h] for fp, h in zip(fingerprints, body["keys"], strict=True)}
    assert backup["data"]["keys_base64"] == {
        fp: [b] for fp, b in zip(fingerprints, body["keys_base64"], strict=True)
    }
    assert server.call("DELETE", "sys/rekey/backup")[0] == 204
    status, gone, _ = server.call("GET", "sys/rekey/backup")
    assert (status, gone) == (400, {"errors": ["no backed-up keys found"]})

    server.restart()  # sealed again; only the new shares open it
    assert server.unseal(new_shares)["sealed"] is False
    _token_works(server, root)


def test_rekey_cli_with_pgp_keys_and_backup(
    server: TesseraServer, keys: list[HolderKey], tmp_path: Path
) -> None:
    shares, root = _init(server, keys)
    server.unseal(shares[:2])
    files = [tmp_path / "a.asc", tmp_path / "b.b64"]
    files[0].write_text(str(keys[0].cert))  # armored
    files[1].write_text(keys[1].pub + "\n")  # base64 text
    env = cli_env(server.addr, str(tmp_path), root)
    init = run_cli(
        TESSERA,
        [
            "operator",
            "rekey",
            "-init",
            "-key-shares=2",
            "-key-threshold=2",
            f"-pgp-keys={files[0]},{files[1]}",
            "-backup",
        ],
        env,
    )
    assert init.rc == 0, init.err
    assert f"[{keys[0].fingerprint} {keys[1].fingerprint}]" in init.out
    nonce = json.loads(run_cli(TESSERA, ["operator", "rekey", "-status", "-format=json"], env).out)["nonce"]
    for share in shares[:2]:
        last = run_cli(TESSERA, ["operator", "rekey", f"-nonce={nonce}", "-"], env, stdin=share)
        assert last.rc == 0, last.err
    values = [line.split("value: ")[1] for line in last.out.splitlines() if line.startswith("Key ")]
    new_shares = [k.decrypt(v) for k, v in zip(keys[:2], values, strict=True)]
    assert "core/unseal-keys-backup" in last.out
    retrieved = json.loads(
        run_cli(TESSERA, ["operator", "rekey", "-backup-retrieve", "-format=json"], env).out
    )
    assert retrieved["data"]["keys_base64"] == {
        keys[0].fingerprint: [values[0]],
        keys[1].fingerprint: [values[1]],
    }
    deleted = run_cli(TESSERA, ["operator", "rekey", "-backup-delete"], env)
    assert deleted.out.strip() == "Success! Deleted backed up keys (if they existed)"
    assert run_cli(TESSERA, ["operator", "rekey", "-backup-retrieve"], env).rc == 2
    server.restart()
    assert server.unseal(new_shares)["sealed"] is False


def test_cli_operator_init_with_pgp_key_files(
    server: TesseraServer, keys: list[HolderKey], tmp_path: Path
) -> None:
    files = []
    for i, key in enumerate(keys):
        files.append(tmp_path / f"k{i}.gpg")
        files[-1].write_bytes(bytes(key.cert))
    env = cli_env(server.addr, str(tmp_path), None)
    flags = [f"-pgp-keys={','.join(map(str, files))}", f"-root-token-pgp-key={files[2]}"]
    twice = run_cli(
        TESSERA,
        ["operator", "init", "-key-shares=3", "-key-threshold=2", f"-pgp-keys={files[0]}", *flags],
        env,
    )
    assert twice.rc == 1 and "can only be specified once" in twice.err
    keybase = run_cli(TESSERA, ["operator", "init", "-pgp-keys=keybase:alice"], env)
    assert keybase.rc == 1 and "keybase.io needs network access" in keybase.err
    out = run_cli(
        TESSERA, ["operator", "init", "-key-shares=3", "-key-threshold=2", *flags, "-format=json"], env
    )
    assert out.rc == 0, out.err
    doc = json.loads(out.out)
    shares = [k.decrypt(b64) for k, b64 in zip(keys, doc["unseal_keys_b64"], strict=True)]
    assert server.unseal(shares[:2])["sealed"] is False
    _token_works(server, keys[2].decrypt(doc["root_token"]))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"pgp_keys": ["k"]},
            "invalid seal configuration: count mismatch between number of provided PGP keys and number of shares",
        ),
        (
            {"pgp_keys": ["###", "k"]},
            "invalid seal configuration: error decoding given PGP key: illegal base64 data at input byte 0",
        ),
        (
            {"pgp_keys": ["bm90IGEga2V5", "k"]},
            "invalid seal configuration: error parsing given PGP key: openpgp: invalid data: tag byte does not have MSB set",
        ),
        (
            {"root_token_pgp_key": "bm90IGEga2V5"},
            "error parsing given PGP key: openpgp: invalid data: tag byte does not have MSB set",
        ),
        (
            {"root_token_pgp_key": "SIGN-ONLY"},
            "error setting up encryption for PGP message: openpgp: invalid argument: cannot encrypt",
        ),
        (
            {"pgp_keys": ["SIGN-ONLY", "SIGN-ONLY"]},
            "error setting up encryption for PGP message: openpgp: invalid argument: cannot encrypt",
        ),
    ],
    ids=["count", "not-base64", "not-a-key", "root-not-a-key", "root-no-encryption", "share-no-encryption"],
)
def test_bad_init_keys_are_400_and_leave_the_server_uninitialized(
    server: TesseraServer, body: dict[str, object], message: str
) -> None:
    signer = sign_only_key()
    body = {
        k: [signer if x == "SIGN-ONLY" else x for x in v]
        if isinstance(v, list)
        else signer
        if v == "SIGN-ONLY"
        else v
        for k, v in body.items()
    }
    status, answer, _ = server.call(
        "PUT", "sys/init", auth=False, json={"secret_shares": 2, "secret_threshold": 2, **body}
    )
    assert status == 400 and answer["errors"][0].startswith(message), answer
    assert server.call("GET", "sys/init", auth=False)[1] == {"initialized": False}


def test_bad_generate_root_and_rekey_keys(server: TesseraServer, keys: list[HolderKey]) -> None:
    shares, _ = _init(server, keys)
    server.unseal(shares[:2])
    status, body, _ = server.call(
        "PUT", "sys/generate-root/attempt", auth=False, json={"pgp_key": "bm90IGEga2V5"}
    )
    assert (status, body["errors"]) == (
        400,
        [
            "error parsing PGP key: error parsing given PGP key: openpgp: invalid data: tag byte does not have MSB set"
        ],
    )
    status, body, _ = server.call(
        "PUT",
        "sys/rekey/init",
        auth=False,
        json={"secret_shares": 2, "secret_threshold": 2, "pgp_keys": [keys[0].pub]},
    )
    assert (status, body["errors"]) == (400, ["incorrect number of PGP keys for rekey"])
    # OpenBao answers 500 here (RekeyInit's CodedError for an invalid configuration); bad input
    # is a 400 in Tessera (README, compatibility table).
    status, body, _ = server.call(
        "PUT",
        "sys/rekey/init",
        auth=False,
        json={"secret_shares": 1, "secret_threshold": 1, "pgp_keys": ["!"]},
    )
    assert (status, body["errors"]) == (
        400,
        [
            "invalid rekey seal configuration: error decoding given PGP key: illegal base64 data at input byte 0"
        ],
    )
    # A key without an encryption subkey passes init and fails when the token is encrypted; the
    # token minted for it is revoked again.
    status, attempt, _ = server.call(
        "PUT", "sys/generate-root/attempt", auth=False, json={"pgp_key": sign_only_key()}
    )
    assert status == 200
    for share in shares[:2]:
        status, body, _ = server.call(
            "PUT", "sys/generate-root/update", auth=False, json={"key": share, "nonce": attempt["nonce"]}
        )
    assert status == 400 and body["errors"][0].startswith("error setting up encryption for PGP message"), body


def test_real_gpg_decrypts_shares_and_token(server: TesseraServer) -> None:
    """The Vault docs' procedure, verbatim: ``echo $KEY | base64 -d | gpg -dq``."""
    gpg = GnuPG.start()
    if gpg is None:
        pytest.skip("gpg is not installed")
    try:
        pub = gpg.generate()
        status, body, _ = server.call(
            "PUT",
            "sys/init",
            auth=False,
            json={"secret_shares": 1, "secret_threshold": 1, "pgp_keys": [pub], "root_token_pgp_key": pub},
        )
        assert status == 200, body
        share, token = gpg.decrypt(body["keys_base64"][0]), gpg.decrypt(body["root_token"])
    finally:
        gpg.stop()
    assert server.unseal([share])["sealed"] is False
    _token_works(server, token)

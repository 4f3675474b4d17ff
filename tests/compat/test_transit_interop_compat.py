"""Transit across the two servers: keys moved both ways by backup/restore, ACL create vs update,
the batch-token workload, hvac's transit methods and the ``bao`` CLI, side by side.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import bao
from tests.secrets.transit.pair import B64_HI, Server, Transit, tnorm


@pytest.fixture
def tr(reference: ReferenceServer, tessera: TesseraServer) -> Transit:
    """A transit mount of this test's own on each server."""
    return Transit(reference, tessera)


# -- keys moved between the servers ------------------------------------------------------------------


INTEROP = [
    ("aes256-gcm96", {}),
    ("aes128-gcm96", {}),
    ("chacha20-poly1305", {}),
    ("xchacha20-poly1305", {}),
    ("aes256-gcm96", {"derived": True}),
    ("aes256-gcm96", {"derived": True, "convergent_encryption": True}),
    ("ed25519", {}),
    ("ed25519", {"derived": True}),
    ("ecdsa-p256", {}),
    ("ecdsa-p384", {}),
    ("rsa-2048", {}),
    ("hmac", {"key_size": 32}),
]


@pytest.mark.parametrize(("key_type", "extra"), INTEROP, ids=[f"{t}{'-'.join(['', *e])}" for t, e in INTEROP])
@pytest.mark.parametrize("direction", ["reference-to-tessera", "tessera-to-reference"])
def test_backup_moves_keys_between_servers(
    tr: Transit, key_type: str, extra: dict[str, Any], direction: str
) -> None:
    src, dst = (tr.ref, tr.tes) if direction == "reference-to-tessera" else (tr.tes, tr.ref)
    ctx = {"context": "dGVuYW50"} if extra.get("derived") else {}
    spec = {"type": key_type, "exportable": True, "allow_plaintext_backup": True, **extra}
    assert tr.one(src, "POST", "keys/moved", spec)[0] == 200
    tr.one(src, "POST", "keys/moved/rotate")
    produced: dict[str, Any] = {}
    if key_type in ("aes256-gcm96", "aes128-gcm96", "chacha20-poly1305", "xchacha20-poly1305", "rsa-2048"):
        produced["ciphertexts"] = [
            tr.one(src, "POST", "encrypt/moved", {"plaintext": "bW92ZWQ=", "key_version": v, **ctx})[1][
                "data"
            ]["ciphertext"]
            for v in (1, 2)
        ]
    if key_type in ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048"):
        produced["signature"] = tr.one(src, "POST", "sign/moved", {"input": "bW92ZWQ=", **ctx})[1]["data"]
    produced["hmac"] = tr.one(src, "POST", "hmac/moved", {"input": "bW92ZWQ="})[1]["data"]["hmac"]
    status, backup = tr.one(src, "GET", "backup/moved")
    assert status == 200, backup
    assert tr.one(dst, "POST", "restore", {"backup": backup["data"]["backup"]}) == (204, None)

    src_doc = tr.one(src, "GET", "keys/moved")[1]["data"]
    dst_doc = tr.one(dst, "GET", "keys/moved")[1]["data"]
    for doc in (src_doc, dst_doc):
        doc.pop("backup_info", None)
        doc.pop("restore_info", None)
    assert dst_doc == src_doc
    for ct in produced.get("ciphertexts", []):
        status, body = tr.one(dst, "POST", "decrypt/moved", {"ciphertext": ct, **ctx})
        assert (status, body["data"]) == (200, {"plaintext": "bW92ZWQ="})
    if extra.get("convergent_encryption"):
        a = tr.one(src, "POST", "encrypt/moved", {"plaintext": "bW92ZWQ=", **ctx})[1]["data"]["ciphertext"]
        b = tr.one(dst, "POST", "encrypt/moved", {"plaintext": "bW92ZWQ=", **ctx})[1]["data"]["ciphertext"]
        assert a == b
    if "signature" in produced:
        verify = {"input": "bW92ZWQ=", "signature": produced["signature"]["signature"], **ctx}
        assert tr.one(dst, "POST", "verify/moved", verify)[1]["data"] == {"valid": True}
        again = tr.one(dst, "POST", "sign/moved", {"input": "bW92ZWQ=", **ctx})[1]["data"]
        verify["signature"] = again["signature"]
        assert tr.one(src, "POST", "verify/moved", verify)[1]["data"] == {"valid": True}
        assert again.get("public_key") == produced["signature"].get("public_key")
    assert tr.one(dst, "POST", "hmac/moved", {"input": "bW92ZWQ="})[1]["data"]["hmac"] == produced["hmac"]
    # Exports of the same key material are byte for byte the same.
    for export_type in ("encryption-key", "signing-key", "hmac-key", "public-key"):
        for fmt in ("", "?format=der", "?format=pem"):
            a = tr.one(src, "GET", f"export/{export_type}/moved{fmt}")
            b = tr.one(dst, "GET", f"export/{export_type}/moved{fmt}")
            assert (a[0], tnorm(a[1])) == (b[0], tnorm(b[1])), (export_type, fmt)
            assert a[0] != 200 or a[1]["data"] == b[1]["data"], (export_type, fmt)


# -- ACL, batch tokens, clients -------------------------------------------------------------------------


def _token(server: Server, policy: str, *, batch: bool = False) -> str:
    name = "p" + uuid.uuid4().hex[:8]
    status, body, _ = call(server.addr, "PUT", f"sys/policies/acl/{name}", "root", json={"policy": policy})
    assert status == 204, body
    request: dict[str, Any] = {"policies": [name], "no_default_policy": True}
    if batch:
        request["type"] = "batch"
    status, body, _ = call(server.addr, "POST", "auth/token/create", "root", json=request)
    assert status == 200, body
    return str(body["auth"]["client_token"])


def test_encrypt_to_a_new_key_needs_create(tr: Transit) -> None:
    """Upsert on encrypt is a ``create`` for the ACL: ``update`` alone only reaches existing keys."""
    tr.both("POST", "keys/existing")
    update_only = f'path "{tr.m}/encrypt/*" {{ capabilities = ["update"] }}'
    create_only = f'path "{tr.m}/encrypt/*" {{ capabilities = ["create"] }}'
    up = (_token(tr.ref, update_only), _token(tr.tes, update_only))
    cr = (_token(tr.ref, create_only), _token(tr.tes, create_only))
    tr.same("POST", "encrypt/existing", {"plaintext": B64_HI}, tokens=up)
    tr.same("POST", "encrypt/brand-new", {"plaintext": B64_HI}, tokens=up)
    tr.same("POST", "encrypt/brand-new", {"plaintext": B64_HI}, tokens=cr)
    tr.same("POST", "encrypt/brand-new", {"plaintext": B64_HI}, tokens=cr)
    tr.same("GET", "keys/brand-new", tokens=cr)


def test_batch_token_workload(tr: Transit) -> None:
    """The seeds' pattern: a batch token allowed only encrypt/decrypt on one key, single and batches of 100."""
    tr.both("POST", "keys/app")
    policy = (
        f'path "{tr.m}/encrypt/app" {{ capabilities = ["update"] }}\n'
        f'path "{tr.m}/decrypt/app" {{ capabilities = ["update"] }}'
    )
    tokens = (_token(tr.ref, policy, batch=True), _token(tr.tes, policy, batch=True))
    assert tokens[1].startswith("hvb.")
    tr.same("POST", "encrypt/app", {"plaintext": B64_HI}, tokens=tokens)
    tr.same("POST", "encrypt/other", {"plaintext": B64_HI}, tokens=tokens)
    tr.same("POST", "keys/app/rotate", tokens=tokens)
    tr.same("GET", "keys/app", tokens=tokens)
    items = [{"plaintext": base64.b64encode(f"row {i}".encode()).decode()} for i in range(100)]
    ref, tes = tr.same("POST", "encrypt/app", {"batch_input": items}, tokens=tokens)
    for server, answer, token in ((tr.ref, ref, tokens[0]), (tr.tes, tes, tokens[1])):
        cts = [{"ciphertext": r["ciphertext"]} for r in answer["data"]["batch_results"]]
        status, body = tr.one(server, "POST", "decrypt/app", {"batch_input": cts}, token)
        assert status == 200
        assert [r["plaintext"] for r in body["data"]["batch_results"]] == [i["plaintext"] for i in items]


def _hvac_run(server: Server, action: Any) -> Any:
    client = server.hvac_client()
    try:
        answer = action(client)
    except Exception as exc:
        message: Any = str(exc).split(", on ")[0]
        try:
            message = tnorm(json.loads(message))  # hvac puts a 400 envelope's body in the message
        except ValueError:
            pass
        return ("error", type(exc).__name__, message)
    if hasattr(answer, "status_code"):
        return ("response", answer.status_code)
    return ("ok", tnorm(answer))


def test_hvac_transit_methods(tr: Transit) -> None:
    m = tr.m

    def t(c: Any) -> Any:
        return c.secrets.transit

    steps: list[Any] = [
        lambda c: t(c).create_key("hk", exportable=True, allow_plaintext_backup=True, mount_point=m),
        lambda c: t(c).create_key("hk-ed", key_type="ed25519", mount_point=m),
        lambda c: t(c).create_key("hk-rot", auto_rotate_period="1h", mount_point=m),
        lambda c: t(c).read_key("hk", mount_point=m),
        lambda c: t(c).list_keys(mount_point=m),
        lambda c: t(c).update_key_configuration("hk", deletion_allowed=True, mount_point=m),
        lambda c: t(c).rotate_key("hk", mount_point=m),
        lambda c: t(c).export_key("hk", key_type="hmac-key", mount_point=m),
        lambda c: t(c).export_key("hk", key_type="encryption-key", version="latest", mount_point=m),
        lambda c: t(c).encrypt_data("hk", plaintext=B64_HI, mount_point=m),
        lambda c: t(c).encrypt_data("hk", plaintext="!!", mount_point=m),
        lambda c: t(c).encrypt_data(
            "hk", batch_input=[{"plaintext": B64_HI}, {"plaintext": "x"}], mount_point=m
        ),
        lambda c: t(c).decrypt_data("hk", ciphertext="vault:v1:YWJj", mount_point=m),
        lambda c: t(c).decrypt_data(
            "hk",
            ciphertext=t(c).encrypt_data("hk", plaintext=B64_HI, mount_point=m)["data"]["ciphertext"],
            mount_point=m,
        ),
        lambda c: t(c).rewrap_data(
            "hk",
            ciphertext=t(c).encrypt_data("hk", plaintext=B64_HI, key_version=1, mount_point=m)["data"][
                "ciphertext"
            ],
            mount_point=m,
        ),
        lambda c: t(c).generate_data_key("hk", key_type="wrapped", mount_point=m),
        lambda c: t(c).generate_random_bytes(n_bytes=16, mount_point=m),
        lambda c: t(c).hash_data(B64_HI, algorithm="sha2-512", mount_point=m),
        lambda c: t(c).generate_hmac("hk", hash_input=B64_HI, mount_point=m),
        lambda c: t(c).sign_data("hk-ed", hash_input=B64_HI, mount_point=m),
        lambda c: t(c).sign_data("hk", hash_input=B64_HI, mount_point=m),
        lambda c: t(c).verify_signed_data(
            "hk-ed",
            hash_input=B64_HI,
            signature=t(c).sign_data("hk-ed", hash_input=B64_HI, mount_point=m)["data"]["signature"],
            mount_point=m,
        ),
        lambda c: t(c).verify_signed_data(
            "hk-ed", hash_input=B64_HI, signature="vault:v1:YWJj", mount_point=m
        ),
        lambda c: t(c).backup_key("hk", mount_point=m),
        lambda c: t(c).backup_key("hk-ed", mount_point=m),
        lambda c: t(c).restore_key(t(c).backup_key("hk", mount_point=m)["data"]["backup"], mount_point=m),
        lambda c: t(c).restore_key(
            t(c).backup_key("hk", mount_point=m)["data"]["backup"], name="hk2", mount_point=m
        ),
        lambda c: t(c).restore_key(
            t(c).backup_key("hk", mount_point=m)["data"]["backup"], name="hk2", force=True, mount_point=m
        ),
        lambda c: t(c).update_key_configuration(
            "hk", min_decryption_version=2, min_encryption_version=2, mount_point=m
        ),
        lambda c: t(c).trim_key("hk", min_version=2, mount_point=m),
        lambda c: t(c).delete_key("hk", mount_point=m),
        lambda c: t(c).read_key("hk", mount_point=m),
        lambda c: t(c).delete_key("hk-ed", mount_point=m),
    ]
    for i, step in enumerate(steps):
        ref = _hvac_run(tr.ref, step)
        tes = _hvac_run(tr.tes, step)
        assert ref == tes, f"hvac step {i}\n  reference: {ref!r}\n  tessera:   {tes!r}"


def test_bao_cli(tr: Transit) -> None:
    m = tr.m
    for args in (
        ("write", "-f", f"{m}/keys/cli"),
        ("read", "-format=json", f"{m}/keys/cli"),
        ("list", f"{m}/keys"),
        ("write", "-format=json", f"{m}/encrypt/cli", f"plaintext={B64_HI}"),
        ("write", f"{m}/encrypt/cli", "plaintext=!!"),
        ("write", f"{m}/decrypt/cli", "ciphertext=vault:v1:YWJj"),
        ("write", "-format=json", f"{m}/hash", f"input={B64_HI}"),
        ("write", "-f", f"{m}/keys/cli/rotate"),
        ("write", f"{m}/keys/cli/config", "min_decryption_version=2"),
        ("delete", f"{m}/keys/cli"),
    ):
        ref = bao(tr.ref, *args)
        tes = bao(tr.tes, *args)
        assert _cli(ref) == _cli(tes), f"bao {' '.join(args)}\n  reference: {ref!r}\n  tessera:   {tes!r}"


def _cli(result: tuple[int, str, str]) -> tuple[int, str, str]:
    code, out, err = result
    out = re.sub(r"vault:v(\d+):[A-Za-z0-9+/=]+", r"vault:v\1:<ct>", out)
    out = re.sub(r'"(\d+)": \d{10}', r'"\1": <unix>', out)
    out = re.sub(r"(\d+):\d{10}\b", r"\1:<unix>", out)
    out = re.sub(r"\s+", " ", out)
    return code, out, err

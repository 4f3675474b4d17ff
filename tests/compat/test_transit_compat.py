"""Transit side by side, endpoint by endpoint: the same requests to the reference OpenBao and to Tessera.

Each test mounts transit at a unique path on both servers (``tests/secrets/transit/pair.py``) and
compares status codes, error texts and normalised bodies. Moving keys between the servers, ACLs,
batch tokens, hvac and the CLI are in ``test_transit_interop_compat.py``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.transit.pair import B64_HI, Transit, tnorm


@pytest.fixture
def tr(reference: ReferenceServer, tessera: TesseraServer) -> Transit:
    """A transit mount of this test's own on each server."""
    return Transit(reference, tessera)


# -- keys ------------------------------------------------------------------------------------------


def test_key_lifecycle(tr: Transit) -> None:
    tr.same("POST", "keys/app")
    tr.same("GET", "keys/app")
    tr.same("POST", "keys/app", {"type": "rsa-2048"})  # an existing key is returned unchanged
    tr.same("LIST", "keys")
    tr.same("GET", "keys/nokey")
    tr.same("DELETE", "keys/app")
    for _ in range(3):
        tr.same("POST", "keys/app/rotate")
    tr.same("POST", "keys/app/config", {"min_decryption_version": 0})
    tr.same("POST", "keys/app/config", {"min_decryption_version": 9})
    tr.same("POST", "keys/app/config", {"min_decryption_version": -1})
    tr.same("POST", "keys/app/config", {"min_encryption_version": 1, "min_decryption_version": 2})
    tr.same("POST", "keys/app/config", {"min_decryption_version": 2, "min_encryption_version": 3})
    tr.same("POST", "keys/app/config", {"auto_rotate_period": "30m"})
    tr.same("POST", "keys/app/config", {"auto_rotate_period": "2h"})
    tr.same("POST", "keys/app/config", {"exportable": True, "allow_plaintext_backup": True})
    tr.same("POST", "keys/app/config", {"exportable": False})
    tr.same("POST", "keys/app/trim")
    tr.same("POST", "keys/app/trim", {"min_available_version": 3})
    tr.same("POST", "keys/app/trim", {"min_available_version": 2})
    tr.same("POST", "keys/app/trim", {"min_available_version": 1})
    tr.same("POST", "keys/app/config", {"min_decryption_version": 1})
    tr.same("GET", "keys/app")
    tr.same("DELETE", "keys/app/soft-delete")
    tr.same("DELETE", "keys/app/soft-delete")
    tr.same("POST", "encrypt/app", {"plaintext": B64_HI})
    tr.same("POST", "keys/app/rotate")
    tr.same("POST", "keys/app/soft-delete-restore")
    tr.same("POST", "keys/app/soft-delete-restore")
    tr.same("POST", "keys/app/config", {"deletion_allowed": True})
    tr.same("DELETE", "keys/app")
    tr.same("GET", "keys/app")
    tr.same("DELETE", "keys/app")
    tr.same("POST", "keys/nokey/rotate")
    tr.same("POST", "keys/nokey/config")
    tr.same("POST", "keys/nokey/trim", {"min_available_version": 1})
    tr.same("DELETE", "keys/nokey/soft-delete")
    tr.same("LIST", "keys")


def test_key_creation_errors(tr: Transit) -> None:
    for body in (
        {"type": "nope"},
        {"auto_rotate_period": "10m"},
        {"convergent_encryption": True},
        {"type": "hmac"},
        {"type": "hmac", "key_size": 8},
        {"type": "rsa-2048", "derived": True},
        {"type": "ecdsa-p256", "convergent_encryption": True, "derived": True},
        {"type": "ed25519", "convergent_encryption": True, "derived": True},
        {"key_size": 32},
        {"type": "external-key"},
        {"external_key_ref": "x"},
        {"type": "aes256-gcm96", "derived": "maybe"},
    ):
        tr.same("POST", "keys/bad", body)
    tr.same("GET", "keys/bad")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "aes128-gcm96"},
        {"type": "aes256-gcm96", "exportable": True, "allow_plaintext_backup": True},
        {"type": "chacha20-poly1305", "derived": True},
        {"type": "xchacha20-poly1305", "derived": True, "convergent_encryption": True},
        {"type": "ed25519"},
        {"type": "ed25519", "derived": True},
        {"type": "ecdsa-p256"},
        {"type": "ecdsa-p384"},
        {"type": "ecdsa-p521"},
        {"type": "rsa-2048"},
        {"type": "rsa-3072"},
        {"type": "hmac", "key_size": 64},
        {"type": "aes256-gcm96", "auto_rotate_period": "24h"},
    ],
)
def test_key_documents(tr: Transit, body: dict[str, Any]) -> None:
    tr.same("POST", "keys/k", body)
    tr.same("POST", "keys/k/rotate")
    tr.same("GET", "keys/k")
    tr.same("GET", "keys/k?context=YQ==")


# -- encrypt, decrypt, rewrap, datakey -----------------------------------------------------------------


def test_encrypt_decrypt_round_trip(tr: Transit) -> None:
    tr.same("POST", "encrypt/upserted", {"plaintext": B64_HI})
    tr.same("GET", "keys/upserted")
    ref, tes = tr.both("POST", "encrypt/upserted", {"plaintext": "aGVsbG8gd29ybGQ="})
    for server, answer in ((tr.ref, ref), (tr.tes, tes)):
        status, body = tr.one(
            server, "POST", "decrypt/upserted", {"ciphertext": answer["data"]["ciphertext"]}
        )
        assert (status, body["data"]) == (200, {"plaintext": "aGVsbG8gd29ybGQ="})
    tr.same("POST", "encrypt/upserted", {"plaintext": ""})
    tr.same("POST", "encrypt/aad", {"plaintext": B64_HI, "associated_data": "YWFk"})
    tr.same("POST", "encrypt/chacha", {"plaintext": B64_HI, "type": "chacha20-poly1305"})
    tr.same("GET", "keys/chacha")


def test_encrypt_errors(tr: Transit) -> None:
    tr.both("POST", "keys/k")
    for body in (
        {},
        {"plaintext": "aGk"},
        {"plaintext": B64_HI, "key_version": 2},
        {"plaintext": B64_HI, "key_version": -1},
        {"plaintext": B64_HI, "key_version": "x"},
        {"plaintext": B64_HI, "context": "!!"},
        {"plaintext": B64_HI, "associated_data": "%%"},
        {"batch_input": []},
        {"batch_input": "x"},
        {"batch_input": ["x"]},
        {"batch_input": [{"plaintext": 1}, {}]},
        {"batch_input": [{"plaintext": B64_HI, "key_version": "1"}]},
        {"batch_input": [{"plaintext": B64_HI, "key_version": 1.5}]},
        {"batch_input": [{"plaintext": B64_HI}, {"plaintext": B64_HI, "context": "eA=="}]},
    ):
        tr.same("POST", "encrypt/k", body)
    tr.same("POST", "encrypt/new1", {"plaintext": "", "type": "ed25519"})
    tr.same("POST", "encrypt/new1", {"plaintext": "", "type": "ecdsa-p256"})
    tr.same("POST", "encrypt/new1", {"plaintext": "", "type": "bogus"})
    tr.same("POST", "encrypt/new1", {"plaintext": "", "convergent_encryption": True})
    tr.same("POST", "encrypt/rsa", {"plaintext": B64_HI, "associated_data": "YWFk"})
    tr.both("POST", "keys/rsa", {"type": "rsa-2048"})
    tr.same("POST", "encrypt/rsa", {"plaintext": B64_HI, "associated_data": "YWFk"})
    tr.same("POST", "encrypt/rsa", {"plaintext": B64_HI})
    tr.both("POST", "keys/ed", {"type": "ed25519"})
    tr.same("POST", "encrypt/ed", {"plaintext": B64_HI})
    tr.same("POST", "decrypt/ed", {"ciphertext": "vault:v1:YWJj"})


def test_batches_and_partial_failures(tr: Transit) -> None:
    tr.both("POST", "keys/k")
    good = {"plaintext": B64_HI, "reference": "ok"}
    bad = {"plaintext": "aGk", "reference": "bad"}
    tr.same("POST", "encrypt/k", {"batch_input": [good, good]})
    tr.same("POST", "encrypt/k", {"batch_input": [bad, good]})
    tr.same("POST", "encrypt/k", {"batch_input": [bad, bad]})
    tr.same("POST", "encrypt/k", {"batch_input": [bad, good], "partial_failure_response_code": 207})
    tr.same("POST", "encrypt/k", {"batch_input": [bad, bad], "partial_failure_response_code": 207})
    tr.same("POST", "encrypt/k", {"batch_input": [bad, good], "partial_failure_response_code": 999})
    tr.same("POST", "encrypt/k", {"batch_input": [good, {"plaintext": B64_HI, "key_version": 5}]})
    tr.same("POST", "encrypt/k", {"batch_input": [{"plaintext": B64_HI, "associated_data": "!!"}]})
    items = [
        {"plaintext": base64.b64encode(f"{i}".encode()).decode(), "reference": str(i)} for i in range(100)
    ]
    ref, tes = tr.same("POST", "encrypt/k", {"batch_input": items})
    for server, answer in ((tr.ref, ref), (tr.tes, tes)):
        cts = [
            {"ciphertext": r["ciphertext"], "reference": r["reference"]}
            for r in answer["data"]["batch_results"]
        ]
        status, body = tr.one(server, "POST", "decrypt/k", {"batch_input": cts})
        assert status == 200
        assert [r["plaintext"] for r in body["data"]["batch_results"]] == [i["plaintext"] for i in items]
    tr.same("POST", "decrypt/k", {"batch_input": [{"ciphertext": "x", "reference": "a"}, {"ciphertext": ""}]})
    tr.same("POST", "decrypt/k", {"batch_input": [{"ciphertext": "x"}, {"context": "x"}]})
    tr.same("POST", "decrypt/k", {"batch_input": []})


@pytest.mark.parametrize(
    "ciphertext",
    [
        "nope",
        "vault:v1",
        "vault:vx:abc",
        "vault:v2:abc",
        "vault:v1:abc",
        "vault:v1:YWJj",
        "vault:v0:" + "YWJj" * 12,
        "vault:v1:" + "YWJj" * 12,
        "vault:v-1:YWJj",
    ],
)
def test_decrypt_errors(tr: Transit, ciphertext: str) -> None:
    tr.both("POST", "keys/k")
    tr.same("POST", "decrypt/k", {"ciphertext": ciphertext})


def test_decrypt_misc_errors(tr: Transit) -> None:
    tr.same("POST", "decrypt/nokey", {"ciphertext": "x"})
    tr.both("POST", "keys/k")
    tr.same("POST", "decrypt/k", {})
    tr.same("POST", "decrypt/k", {"ciphertext": "vault:v1:YWJj", "associated_data": "!!"})


def test_min_decryption_version_and_rewrap(tr: Transit) -> None:
    tr.both("POST", "keys/k")
    ref_ct, tes_ct = tr.both("POST", "encrypt/k", {"plaintext": B64_HI})
    tr.both("POST", "keys/k/rotate")
    tr.both("POST", "keys/k/config", {"min_decryption_version": 2})
    rs, rb = tr.one(tr.ref, "POST", "decrypt/k", {"ciphertext": ref_ct["data"]["ciphertext"]})
    ts, tb = tr.one(tr.tes, "POST", "decrypt/k", {"ciphertext": tes_ct["data"]["ciphertext"]})
    assert (
        (rs, rb)
        == (ts, tb)
        == (400, {"errors": ["ciphertext or signature version is disallowed by policy (too old)"]})
    )
    tr.both("POST", "keys/k/config", {"min_decryption_version": 1})
    rs, rb = tr.one(tr.ref, "POST", "rewrap/k", {"ciphertext": ref_ct["data"]["ciphertext"]})
    ts, tb = tr.one(tr.tes, "POST", "rewrap/k", {"ciphertext": tes_ct["data"]["ciphertext"]})
    assert (rs, tnorm(rb)) == (ts, tnorm(tb))
    assert tb["data"]["key_version"] == 2
    tr.same("POST", "rewrap/k", {"ciphertext": "x"})
    tr.same("POST", "rewrap/k", {"batch_input": [{"ciphertext": "x"}, {"ciphertext": ""}, {"ciphertext": 5}]})
    tr.same("POST", "rewrap/k", {"batch_input": [{"ciphertext": True}]})
    tr.same("POST", "rewrap/k", {"batch_input": ["x"]})
    tr.same("POST", "rewrap/nokey", {"ciphertext": "x"})


def test_datakey(tr: Transit) -> None:
    tr.both("POST", "keys/k")
    for kind in ("plaintext", "wrapped"):
        for bits in (128, 256, 512):
            rb, tb = tr.same("POST", f"datakey/{kind}/k", {"bits": bits}, values=False)
            assert set(rb["data"]) == set(tb["data"])
            assert len(tb["data"]["ciphertext"]) == len(rb["data"]["ciphertext"])
    tr.same("POST", "datakey/nope/k")
    tr.same("POST", "datakey/plaintext/k", {"bits": 100})
    tr.same("POST", "datakey/plaintext/k", {"context": "!!"})
    tr.same("POST", "datakey/plaintext/k", {"key_version": 3})
    tr.same("POST", "datakey/plaintext/nokey")


def test_derived_and_convergent_keys(tr: Transit) -> None:
    tr.same("POST", "encrypt/d", {"plaintext": B64_HI, "context": "YQ=="})
    tr.same("GET", "keys/d")
    tr.same("POST", "encrypt/d", {"plaintext": B64_HI})
    tr.same("POST", "decrypt/d", {"ciphertext": "vault:v1:" + "YWJj" * 12})
    tr.same("POST", "encrypt/c", {"plaintext": B64_HI, "context": "YQ==", "convergent_encryption": True})
    tr.same("GET", "keys/c")
    for server in (tr.ref, tr.tes):
        first = tr.one(server, "POST", "encrypt/c", {"plaintext": B64_HI, "context": "YQ=="})[1]
        again = tr.one(server, "POST", "encrypt/c", {"plaintext": B64_HI, "context": "YQ=="})[1]
        assert first["data"]["ciphertext"] == again["data"]["ciphertext"]


# -- sign, verify, hmac, hash, random ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_type", ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "aes256-gcm96", "hmac"]
)
def test_sign_verify_matrix(tr: Transit, key_type: str) -> None:
    body: dict[str, Any] = {"type": key_type}
    if key_type == "hmac":
        body["key_size"] = 32
    tr.both("POST", "keys/s", body)
    variants: list[dict[str, Any]] = [
        {},
        {"hash_algorithm": "sha2-512"},
        {"hash_algorithm": "md5"},
        {"hash_algorithm": "none"},
        {"hash_algorithm": "none", "prehashed": True, "signature_algorithm": "pkcs1v15"},
        {"marshaling_algorithm": "jws"},
        {"marshaling_algorithm": "xx"},
        {"salt_length": "foo"},
        {"salt_length": "-5"},
        {"salt_length": "5000"},
        {"signature_algorithm": "foo"},
        {"key_version": 5},
        {"prehashed": True, "input": "YWJj"},
    ]
    for variant in variants:
        request = {"input": B64_HI, **variant}
        rb, tb = tr.same("POST", "sign/s", request)
        if rb.get("data"):
            for server, answer in ((tr.ref, rb), (tr.tes, tb)):
                verify = {**request, "signature": answer["data"]["signature"]}
                status, got = tr.one(server, "POST", "verify/s", verify)
                assert (status, got["data"]) == (200, {"valid": True}), (server.name, variant, got)
    tr.same("POST", "sign/s", {"input": "aGk"})
    tr.same(
        "POST",
        "sign/s",
        {"batch_input": [{"input": B64_HI, "reference": "a"}, {"input": "x"}, {"context": "a"}]},
    )
    tr.same("POST", "sign/s", {"batch_input": [{"input": B64_HI}], "key_version": 9})
    tr.same("POST", "sign/s", {"batch_input": [{"input": True}]})
    for request in (
        {"input": B64_HI},
        {"input": B64_HI, "signature": "x"},
        {"input": B64_HI, "signature": "vault:v1:!!"},
        {"input": B64_HI, "signature": "vault:v1:YWJj"},
        {"input": B64_HI, "signature": "vault:v9:YWJj"},
        {"input": B64_HI, "signature": "vault:v1:YWJj", "marshaling_algorithm": "jws"},
        {"input": B64_HI, "signature": "vault:v1:YWJj", "hash_algorithm": "md5"},
        {"batch_input": [{"input": B64_HI, "signature": "vault:v1:YWJj"}, {"input": B64_HI, "hmac": "x"}]},
        {"batch_input": [{"input": B64_HI, "signature": "vault:v1:YWJj"}, {"input": B64_HI}]},
        {"batch_input": [{"input": B64_HI}]},
        {
            "batch_input": [
                {"input": B64_HI, "signature": "vault:v1:YWJj", "reference": "z"},
                {"signature": "x"},
            ]
        },
    ):
        tr.same("POST", "verify/s", request)


def test_sign_on_missing_or_unsuitable_keys(tr: Transit) -> None:
    tr.same("POST", "sign/nokey", {"input": B64_HI, "hash_algorithm": "md5"})
    tr.same("POST", "verify/nokey", {"input": B64_HI, "signature": "vault:v1:YWJj"})
    tr.same("POST", "verify/nokey", {"input": B64_HI, "hmac": "vault:v1:YWJj"})
    tr.same("POST", "verify/nokey", {"input": B64_HI, "hmac": "vault:v1:YWJj", "hash_algorithm": "md5"})


def test_derived_ed25519(tr: Transit) -> None:
    tr.both("POST", "keys/e", {"type": "ed25519", "derived": True})
    tr.same("POST", "sign/e", {"input": B64_HI})
    tr.same("POST", "sign/e", {"input": B64_HI, "context": "!"})
    tr.same("POST", "sign/e", {"input": B64_HI, "context": "YQ=="})
    tr.same("POST", "verify/e", {"input": B64_HI, "signature": "vault:v1:" + "A" * 88, "context": "YQ=="})
    tr.same("GET", "keys/e?context=YQ==")
    tr.same("GET", "keys/e?context=!!")


def test_hmac(tr: Transit) -> None:
    tr.both("POST", "keys/k")
    tr.same("POST", "hmac/k", {"input": B64_HI})
    tr.same("POST", "hmac/k/sha2-512", {"input": B64_HI})
    tr.same("POST", "hmac/k", {"input": B64_HI, "algorithm": "nope"})
    tr.same("POST", "hmac/k", {"input": B64_HI, "algorithm": "none"})
    tr.same("POST", "hmac/k", {})
    tr.same("POST", "hmac/k", {"input": B64_HI, "key_version": 3})
    tr.same("POST", "hmac/k", {"batch_input": [{"input": B64_HI, "reference": "q"}, {"input": "x"}, {}]})
    tr.same("POST", "hmac/k", {"batch_input": [{"input": 5}, {"input": None}]})
    tr.same("POST", "hmac/k", {"batch_input": []})
    tr.same("POST", "hmac/nokey", {"input": B64_HI})
    for server in (tr.ref, tr.tes):
        mac = tr.one(server, "POST", "hmac/k", {"input": B64_HI})[1]["data"]["hmac"]
        assert tr.one(server, "POST", "verify/k", {"input": B64_HI, "hmac": mac})[1]["data"] == {
            "valid": True
        }
        batch = [
            {"input": B64_HI, "hmac": mac},
            {"input": B64_HI, "hmac": "vault:v1:YWJj"},
            {"hmac": "vault:vq:x"},
        ]
        results = tr.one(server, "POST", "verify/k", {"batch_input": batch})[1]["data"]["batch_results"]
        assert results == [
            {"valid": True, "reference": ""},
            {"reference": ""},
            {"error": "missing input", "reference": ""},
        ]
    tr.same("POST", "verify/k", {"input": B64_HI, "hmac": "x"})
    tr.same("POST", "verify/k", {"input": B64_HI, "hmac": "vault:v1:YWJj", "hash_algorithm": "none"})


def test_hash_and_random(tr: Transit) -> None:
    tr.same("POST", "hash", {})
    tr.same("POST", "hash", {"input": B64_HI})
    tr.same("POST", "hash", {"input": B64_HI, "algorithm": "sha2-384", "format": "base64"})
    tr.same("POST", "hash", {"input": B64_HI, "urlalgorithm": "sha2-384"})
    for algorithm in ("sha2-224", "sha2-512", "sha3-224", "sha3-256", "sha3-384", "sha3-512", "md5"):
        tr.same("POST", f"hash/{algorithm}", {"input": B64_HI})
    tr.same("POST", "hash", {"input": B64_HI, "format": "b32"})
    tr.same("POST", "hash", {"input": "a"})
    for path, body in (
        ("random", {}),
        ("random/16", {}),
        ("random/seal/16", {"format": "hex"}),
        ("random/seal", {"bytes": 8}),
        ("random/all/5", {}),
        ("random/xx", {}),
        ("random/xx/5", {}),
        ("random/all/x", {}),
        ("random", {"bytes": 0}),
        ("random", {"bytes": 200000}),
        ("random", {"format": "z"}),
    ):
        tr.same("POST", path, body)


# -- export, backup, restore, configuration ------------------------------------------------------------


def test_export(tr: Transit) -> None:
    tr.both("POST", "keys/k", {"exportable": True})
    tr.both("POST", "keys/k/rotate")
    tr.both("POST", "keys/ed", {"type": "ed25519", "exportable": True})
    tr.both("POST", "keys/private")
    for path in (
        "export/encryption-key/k",
        "export/encryption-key/k/v1",
        "export/encryption-key/k/latest",
        "export/hmac-key/k/2",
        "export/signing-key/ed",
        "export/public-key/ed",
        "export/public-key/ed?format=der",
        "export/signing-key/ed?format=pem",
    ):
        tr.same("GET", path)
    for path in (
        "export/encryption-key/k/7",
        "export/encryption-key/k/x",
        "export/signing-key/k",
        "export/public-key/k",
        "export/bogus/k",
        "export/encryption-key/private",
        "export/public-key/nokey",
        "export/encryption-key/k?format=der",
        "export/encryption-key/k?format=bogus",
        "export/certificate-chain/ed",
    ):
        tr.same("GET", path)


def test_backup_and_restore_errors(tr: Transit) -> None:
    tr.both("POST", "keys/k")
    tr.same("GET", "backup/k")
    tr.both("POST", "keys/k/config", {"exportable": True})
    tr.same("GET", "backup/k")
    tr.same("GET", "backup/nokey")
    tr.same("POST", "restore", {})
    tr.same("POST", "restore", {"backup": "!!"})
    for text in ("not json", "[1]", '"x"', '{"a":', '{"policy": 5}', '"\\q"', "1.x", " "):
        tr.same("POST", "restore", {"backup": base64.b64encode(text.encode()).decode()})
    tr.both("POST", "keys/k/config", {"allow_plaintext_backup": True})
    ref_blob, tes_blob = (b["data"]["backup"] for b in tr.both("GET", "backup/k"))
    for server, blob in ((tr.ref, ref_blob), (tr.tes, tes_blob)):
        assert tr.one(server, "POST", "restore", {"backup": blob}) == (
            500,
            {"errors": ['1 error occurred:\n\t* key "k" already exists\n\n']},
        )
        assert tr.one(server, "POST", "restore/a/b", {"backup": blob}) == (
            500,
            {"errors": ["1 error occurred:\n\t* key names cannot be paths\n\n"]},
        )
        assert tr.one(server, "POST", "restore/k", {"backup": blob, "force": True}) == (204, None)
        assert tr.one(server, "POST", "restore/copy", {"backup": blob, "name": "ignored"}) == (204, None)
    tr.same("GET", "keys/copy")
    tr.same("GET", "keys/ignored")


def test_configuration_endpoints(tr: Transit) -> None:
    tr.same("GET", "config/keys")
    tr.same("POST", "config/keys", {"disable_upsert": True})
    tr.same("POST", "encrypt/new", {"plaintext": ""})
    tr.same("POST", "config/keys", {"disable_upsert": False})
    tr.same("POST", "encrypt/new", {"plaintext": ""})
    tr.same("GET", "cache-config")
    tr.same("POST", "cache-config", {"size": 5})
    tr.same("POST", "cache-config", {"size": 50})
    tr.same("GET", "cache-config")
    tr.same("POST", "cache-config", {"size": 0})


def test_list_paging(tr: Transit) -> None:
    for name in ("a", "b", "c", "d"):
        tr.both("POST", f"keys/{name}")
    tr.same("LIST", "keys?after=a&limit=2")
    tr.same("LIST", "keys?limit=3")
    tr.same("LIST", "keys?after=d")

"""Every transit endpoint in process: results, status codes and the reference's error texts.

The expected texts were taken from the reference (OpenBao 2.7.2); ``test_reference_diff.py``
replays the same requests against a live reference.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .harness import InProcessTransit

B64_HI = "aGk="


def ok(transit: InProcessTransit, method: str, path: str, body: Any = None) -> dict[str, Any]:
    status, resp = transit.call(method, path, body)
    assert status == 200, (status, resp)
    return resp["data"]  # type: ignore[no-any-return]


def err(transit: InProcessTransit, method: str, path: str, body: Any = None, status: int = 400) -> str:
    got, resp = transit.call(method, path, body)
    assert got == status, (got, resp)
    assert len(resp["errors"]) == 1
    return resp["errors"][0]  # type: ignore[no-any-return]


def multi(message: str) -> str:
    return f"1 error occurred:\n\t* {message}\n\n"


# -- keys ---------------------------------------------------------------------------------
def test_create_read_list_delete(transit: InProcessTransit) -> None:
    doc = ok(transit, "POST", "keys/app")
    assert doc["type"] == "aes256-gcm96" and doc["latest_version"] == 1 and list(doc["keys"]) == ["1"]
    assert doc["min_decryption_version"] == 1 and doc["min_encryption_version"] == 0
    assert ok(transit, "GET", "keys/app") == doc
    assert ok(transit, "LIST", "keys") == {"keys": ["app"]}
    assert (
        err(transit, "DELETE", "keys/app")
        == "error deleting policy app: deletion is not allowed for this key"
    )
    ok(transit, "POST", "keys/app/config", {"deletion_allowed": True})
    assert transit.call("DELETE", "keys/app") == (204, None)
    assert transit.call("GET", "keys/app") == (404, {"errors": []})
    assert transit.call("LIST", "keys") == (404, {"errors": []})
    assert err(transit, "DELETE", "keys/app") == "error deleting policy app: could not delete key; not found"


def test_create_errors(transit: InProcessTransit) -> None:
    assert err(transit, "POST", "keys/k", {"type": "nope"}) == "unknown key type nope"
    assert (
        err(transit, "POST", "keys/k", {"auto_rotate_period": "10m"})
        == "auto rotate period must be 0 to disable or at least an hour"
    )
    assert (
        err(transit, "POST", "keys/k", {"convergent_encryption": True})
        == "convergent encryption requires derivation to be enabled"
    )
    assert err(transit, "POST", "keys/k", {"type": "hmac"}, 500) == multi(
        "invalid key size for HMAC key, must be between 32 and 512 bytes"
    )
    assert err(transit, "POST", "keys/k", {"type": "rsa-2048", "derived": True}, 500) == multi(
        "key derivation and convergent encryption not supported for keys of type rsa-2048"
    )
    assert (
        err(transit, "POST", "keys/k", {"key_size": 32}) == "key_size is not valid for algorithm aes256-gcm96"
    )
    assert (
        err(transit, "POST", "keys/k", {"type": "external-key"})
        == "must provide external_key_ref to create policy of type external-key"
    )
    assert transit.call("GET", "keys/k") == (404, {"errors": []})


@pytest.mark.parametrize(
    ("key_type", "supports"),
    [
        ("aes128-gcm96", (True, True, False, True)),
        ("aes256-gcm96", (True, True, False, True)),
        ("chacha20-poly1305", (True, True, False, True)),
        ("xchacha20-poly1305", (True, True, False, True)),
        ("ed25519", (False, False, True, True)),
        ("ecdsa-p256", (False, False, True, False)),
        ("ecdsa-p384", (False, False, True, False)),
        ("rsa-2048", (True, True, True, False)),
    ],
)
def test_key_types(transit: InProcessTransit, key_type: str, supports: tuple[bool, ...]) -> None:
    doc = ok(transit, "POST", "keys/k", {"type": key_type})
    flags = ("supports_encryption", "supports_decryption", "supports_signing", "supports_derivation")
    assert tuple(doc[f] for f in flags) == supports
    entry = doc["keys"]["1"]
    if key_type.startswith(("ecdsa", "ed25519", "rsa")):
        assert set(entry) == {"name", "public_key", "certificate_chain", "creation_time"}
    else:
        assert isinstance(entry, int)


def test_hmac_key_document_has_no_keys(transit: InProcessTransit) -> None:
    doc = ok(transit, "POST", "keys/h", {"type": "hmac", "key_size": 48})
    assert "keys" not in doc and doc["key_size"] == 48


def test_rotate_config_trim(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    for _ in range(4):
        doc = ok(transit, "POST", "keys/k/rotate")
    assert doc["latest_version"] == 5 and sorted(doc["keys"]) == ["1", "2", "3", "4", "5"]
    assert err(transit, "POST", "keys/nokey/rotate") == "key not found"
    assert err(transit, "POST", "keys/k/rotate", {"external_key_ref": "x"}) == (
        "cannot use external_key_ref on key of type aes256-gcm96"
    )
    assert err(transit, "POST", "keys/k/config", {"min_decryption_version": 9}) == (
        "cannot set min decryption version of 9, latest key version is 5"
    )
    assert err(
        transit, "POST", "keys/k/config", {"min_encryption_version": 2, "min_decryption_version": 3}
    ) == (
        "cannot set min encryption/decryption values; min encryption version of 2 must be greater than or "
        "equal to min decryption version of 3"
    )
    _status, resp = transit.call("POST", "keys/k/config", {"min_decryption_version": 0})
    assert resp["warnings"] == [
        "since Vault 0.3 (prior to the OpenBao fork), transit key numbering starts at 1; forcing minimum to 1"
    ]
    doc = ok(transit, "POST", "keys/k/config", {"min_decryption_version": 3, "min_encryption_version": 4})
    assert sorted(doc["keys"]) == ["3", "4", "5"]
    assert err(transit, "POST", "keys/k/trim") == "missing min_available_version"
    assert err(transit, "POST", "keys/k/trim", {"min_available_version": 4}) == (
        "minimum available version cannot be greater than minimum decryption version"
    )
    doc = ok(transit, "POST", "keys/k/trim", {"min_available_version": 3})
    assert doc["min_available_version"] == 3
    assert err(transit, "POST", "keys/k/trim", {"min_available_version": 2}) == (
        "minimum available version cannot be decremented"
    )
    # Versions below min_available_version are gone for good; those above come back from the archive.
    doc = ok(transit, "POST", "keys/k/config", {"min_decryption_version": 3})
    assert err(transit, "POST", "keys/k/config", {"min_decryption_version": 2}) == (
        "min decryption version should not be less then min available version"
    )
    assert err(transit, "POST", "keys/nokey/config") == "no existing key named nokey could be found"


def test_archive_brings_versions_back(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    ct1 = ok(transit, "POST", "encrypt/k", {"plaintext": B64_HI})["ciphertext"]
    ok(transit, "POST", "keys/k/rotate")
    ok(transit, "POST", "keys/k/rotate")
    assert sorted(ok(transit, "POST", "keys/k/config", {"min_decryption_version": 3})["keys"]) == ["3"]
    assert err(transit, "POST", "decrypt/k", {"ciphertext": ct1}) == (
        "ciphertext or signature version is disallowed by policy (too old)"
    )
    assert sorted(ok(transit, "POST", "keys/k/config", {"min_decryption_version": 1})["keys"]) == [
        "1",
        "2",
        "3",
    ]
    assert ok(transit, "POST", "decrypt/k", {"ciphertext": ct1}) == {"plaintext": B64_HI}


def test_soft_delete(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    status, resp = transit.call("DELETE", "keys/k/soft-delete")
    assert status == 200 and resp["data"]["soft_deleted"] is True
    status, resp = transit.call("DELETE", "keys/k/soft-delete")
    assert resp["warnings"] == ["key was already marked as soft deleted"]
    assert err(transit, "POST", "encrypt/k", {"plaintext": ""}) == "refusing to use soft-deleted key"
    assert err(transit, "POST", "keys/k/rotate", None, 500) == multi("refusing to use soft-deleted key")
    assert ok(transit, "POST", "keys/k/soft-delete-restore")["soft_deleted"] is False
    ok(transit, "POST", "encrypt/k", {"plaintext": ""})


# -- encrypt / decrypt / rewrap / datakey -------------------------------------------------------
def test_encrypt_upserts_and_round_trips(transit: InProcessTransit) -> None:
    data = ok(transit, "POST", "encrypt/new", {"plaintext": B64_HI})
    assert data["key_version"] == 1 and data["ciphertext"].startswith("vault:v1:")
    # 12-byte nonce + 2 bytes + 16-byte tag
    assert len(base64.b64decode(data["ciphertext"][9:])) == 30
    assert ok(transit, "POST", "decrypt/new", {"ciphertext": data["ciphertext"]}) == {"plaintext": B64_HI}


def test_encrypt_errors(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    assert err(transit, "POST", "encrypt/k", {}) == "missing plaintext to encrypt"
    assert err(transit, "POST", "encrypt/k", {"plaintext": "aGk"}) == "illegal base64 data at input byte 0"
    assert err(transit, "POST", "encrypt/k", {"plaintext": B64_HI, "key_version": 2}) == (
        "requested version for encryption is higher than the latest key version"
    )
    assert err(transit, "POST", "encrypt/k", {"plaintext": B64_HI, "key_version": -1}) == (
        "requested version for encryption is negative"
    )
    assert err(transit, "POST", "encrypt/k", {"batch_input": []}) == "missing batch input to process"
    assert err(transit, "POST", "encrypt/k", {"batch_input": "x"}, 500) == multi(
        "failed to parse batch input: source data must be an array or slice, got string"
    )
    assert err(transit, "POST", "encrypt/k", {"batch_input": [{"plaintext": 1}, {}]}, 500) == multi(
        "failed to parse batch input: '[0].plaintext' expected type 'string', got unconvertible type "
        "'json.Number'\n'[1].plaintext' missing plaintext to encrypt"
    )
    assert err(
        transit,
        "POST",
        "encrypt/k",
        {"batch_input": [{"plaintext": B64_HI}, {"plaintext": "", "context": "eA=="}]},
    ) == ("context should be set either in all the request blocks or in none")
    assert err(transit, "POST", "encrypt/k", {"plaintext": B64_HI, "associated_data": "%%"}, 500) == multi(
        "unable to get associated_data/additional_data from factory[0]: illegal base64 data at input byte 0"
    )
    assert (
        err(transit, "POST", "encrypt/n1", {"plaintext": "", "type": "ed25519"}) == "unknown key type ed25519"
    )
    assert err(transit, "POST", "encrypt/n1", {"plaintext": "", "type": "ecdsa-p256"}) == (
        "key type ecdsa-p256 not supported for this operation"
    )
    assert err(transit, "POST", "encrypt/n1", {"plaintext": "", "convergent_encryption": True}) == (
        "convergent encryption requires derivation to be enabled, so context is required"
    )


def test_batch_failures_answer_400_with_the_envelope(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    body = {"batch_input": [{"plaintext": "aGk", "reference": "r1"}, {"plaintext": B64_HI}]}
    status, resp = transit.call("POST", "encrypt/k", body)
    assert status == 400
    first, second = resp["data"]["batch_results"]
    assert first == {"error": "illegal base64 data at input byte 0", "reference": "r1"}
    assert set(second) == {"ciphertext", "key_version", "reference"}
    status, resp = transit.call("POST", "encrypt/k", {**body, "partial_failure_response_code": 207})
    assert status == 207
    status, resp = transit.call("POST", "encrypt/k", {**body, "partial_failure_response_code": 999})
    assert status == 400
    assert resp["warnings"] == [
        "invalid HTTP response code override from partial_failure_response_code, reverting to 400"
    ]
    status, resp = transit.call(
        "POST", "decrypt/k", {"batch_input": [{"ciphertext": "x", "reference": "a"}, {"ciphertext": ""}]}
    )
    assert status == 400
    assert resp["data"]["batch_results"] == [
        {"plaintext": "", "error": "invalid ciphertext: no prefix", "reference": "a"},
        {"plaintext": "", "error": "missing ciphertext to decrypt", "reference": ""},
    ]


def test_batch_of_100(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    items = [
        {"plaintext": base64.b64encode(f"item {i}".encode()).decode(), "reference": str(i)}
        for i in range(100)
    ]
    results = ok(transit, "POST", "encrypt/k", {"batch_input": items})["batch_results"]
    assert [r["reference"] for r in results] == [str(i) for i in range(100)]
    back = ok(
        transit, "POST", "decrypt/k", {"batch_input": [{"ciphertext": r["ciphertext"]} for r in results]}
    )
    assert [r["plaintext"] for r in back["batch_results"]] == [i["plaintext"] for i in items]


@pytest.mark.parametrize(
    ("ciphertext", "message"),
    [
        ("nope", "invalid ciphertext: no prefix"),
        ("vault:v1", "invalid ciphertext: wrong number of fields"),
        ("vault:vx:abc", "invalid ciphertext: version number could not be decoded"),
        ("vault:v2:abc", "invalid ciphertext: version is too new"),
        ("vault:v1:abc", "invalid ciphertext: could not decode base64"),
        ("vault:v1:YWJj", "invalid ciphertext length"),
        ("vault:v0:" + "YWJj" * 12, "cipher: message authentication failed"),
    ],
)
def test_decrypt_errors(transit: InProcessTransit, ciphertext: str, message: str) -> None:
    ok(transit, "POST", "keys/k")
    assert err(transit, "POST", "decrypt/k", {"ciphertext": ciphertext}) == message


def test_derived_keys_need_context(transit: InProcessTransit) -> None:
    data = ok(transit, "POST", "encrypt/d", {"plaintext": B64_HI, "context": "YQ=="})
    doc = ok(transit, "GET", "keys/d")
    assert doc["derived"] is True and doc["kdf"] == "hkdf_sha256" and doc["convergent_encryption"] is False
    assert err(transit, "POST", "decrypt/d", {"ciphertext": data["ciphertext"], "context": "Yg=="}) == (
        "cipher: message authentication failed"
    )
    assert err(transit, "POST", "decrypt/d", {"ciphertext": data["ciphertext"]}).startswith(
        "missing 'context' for key derivation"
    )
    assert (
        ok(transit, "POST", "decrypt/d", {"ciphertext": data["ciphertext"], "context": "YQ=="})["plaintext"]
        == B64_HI
    )


def test_convergent_encryption_is_deterministic(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/c", {"derived": True, "convergent_encryption": True})
    one = ok(transit, "POST", "encrypt/c", {"plaintext": B64_HI, "context": "YQ=="})["ciphertext"]
    two = ok(transit, "POST", "encrypt/c", {"plaintext": B64_HI, "context": "YQ=="})["ciphertext"]
    other = ok(transit, "POST", "encrypt/c", {"plaintext": B64_HI, "context": "Yg=="})["ciphertext"]
    assert one == two != other
    assert ok(transit, "GET", "keys/c")["convergent_encryption_version"] == -1


def test_rewrap_and_datakey(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    ct = ok(transit, "POST", "encrypt/k", {"plaintext": B64_HI})["ciphertext"]
    ok(transit, "POST", "keys/k/rotate")
    data = ok(transit, "POST", "rewrap/k", {"ciphertext": ct})
    assert data["key_version"] == 2 and data["ciphertext"].startswith("vault:v2:")
    status, resp = transit.call(
        "POST", "rewrap/k", {"batch_input": [{"ciphertext": "x"}, {"ciphertext": ""}]}
    )
    assert status == 200  # rewrap reports item errors without a 400, like the reference
    assert resp["data"]["batch_results"] == [
        {"error": "invalid ciphertext: no prefix", "reference": ""},
        {"error": "missing ciphertext to decrypt", "reference": ""},
    ]
    key = ok(transit, "POST", "datakey/plaintext/k", {"bits": 512})
    assert len(base64.b64decode(key["plaintext"])) == 64
    assert (
        ok(transit, "POST", "decrypt/k", {"ciphertext": key["ciphertext"]})["plaintext"] == key["plaintext"]
    )
    assert "plaintext" not in ok(transit, "POST", "datakey/wrapped/k")
    assert err(transit, "POST", "datakey/nope/k") == "Invalid path, must be 'plaintext' or 'wrapped'"
    assert err(transit, "POST", "datakey/plaintext/k", {"bits": 100}) == "invalid bit length"
    assert err(transit, "POST", "datakey/plaintext/nokey") == "encryption key not found"


def test_upsert_can_be_disabled(transit: InProcessTransit) -> None:
    assert ok(transit, "GET", "config/keys") == {"disable_upsert": False}
    ok(transit, "POST", "config/keys", {"disable_upsert": True})
    assert err(transit, "POST", "encrypt/new", {"plaintext": ""}) == "encryption key not found"
    ok(transit, "POST", "config/keys", {"disable_upsert": False})
    ok(transit, "POST", "encrypt/new", {"plaintext": ""})


def test_existence_check_tells_create_from_update(transit: InProcessTransit) -> None:
    from tessera.framework import Operation, Request

    ok(transit, "POST", "keys/have")
    for name, exists in (("have", True), ("missing", False)):
        req = Request(Operation.UPDATE, f"encrypt/{name}", {"plaintext": ""}, storage=transit.storage)
        assert transit.backend.existence(req) == (True, exists)


# -- sign / verify / hmac / hash / random ----------------------------------------------------------
@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048"])
def test_sign_and_verify(transit: InProcessTransit, key_type: str) -> None:
    ok(transit, "POST", "keys/s", {"type": key_type})
    options: list[dict[str, Any]] = [{}, {"hash_algorithm": "sha2-512"}]
    if key_type.startswith("ecdsa"):
        options.append({"marshaling_algorithm": "jws"})
    if key_type.startswith("rsa"):
        options += [
            {"signature_algorithm": "pkcs1v15"},
            {"salt_length": "hash"},
            {"salt_length": "20"},
            {"hash_algorithm": "none", "prehashed": True, "signature_algorithm": "pkcs1v15"},
        ]
    for opt in options:
        sig = ok(transit, "POST", "sign/s", {"input": B64_HI, **opt})
        assert sig["key_version"] == 1 and sig["signature"].startswith("vault:v1:")
        good = {"input": B64_HI, "signature": sig["signature"], **opt}
        assert ok(transit, "POST", "verify/s", good) == {"valid": True}, opt
        assert ok(transit, "POST", "verify/s", {**good, "input": "aG8="}) == {"valid": False}


def test_sign_errors(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/ec", {"type": "ecdsa-p256"})
    ok(transit, "POST", "keys/aes")
    assert (
        err(transit, "POST", "sign/ec", {"input": B64_HI, "hash_algorithm": "md5"})
        == 'invalid hash algorithm "md5"'
    )
    assert err(transit, "POST", "sign/aes", {"input": B64_HI, "hash_algorithm": "md5"}) == (
        "key type aes256-gcm96 does not support signing"
    )
    assert (
        err(transit, "POST", "sign/nokey", {"input": B64_HI, "hash_algorithm": "md5"})
        == "signing key not found"
    )
    assert err(transit, "POST", "sign/ec", {"input": B64_HI, "hash_algorithm": "none"}) == (
        "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15"
    )
    assert (
        err(transit, "POST", "sign/ec", {"input": B64_HI, "marshaling_algorithm": "x"})
        == 'invalid marshaling type "x"'
    )
    assert err(transit, "POST", "sign/ec", {"input": B64_HI, "salt_length": "x"}) == (
        "salt length neither 'auto', 'hash', nor an int: x"
    )
    assert err(transit, "POST", "sign/ec", {"input": B64_HI, "key_version": 5}, 500) == multi(
        "requested version for signing is higher than the latest key version"
    )
    status, resp = transit.call(
        "POST", "sign/ec", {"batch_input": [{"input": B64_HI, "reference": "a"}, {"input": "x"}]}
    )
    assert status == 200
    assert resp["data"]["batch_results"][1] == {
        "key_version": 0,
        "error": "unable to decode input as base64: illegal base64 data at input byte 0",
        "reference": "",
    }


def test_verify_routing_errors(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/ed", {"type": "ed25519"})
    assert err(transit, "POST", "verify/ed", {"input": B64_HI}) == (
        "neither a 'signature' nor an 'hmac' were given to verify"
    )
    # With both, the signature wins (the reference checks 'signature' first).
    assert err(transit, "POST", "verify/ed", {"input": B64_HI, "signature": "x", "hmac": "y"}) == (
        "invalid signature: no prefix"
    )
    assert err(transit, "POST", "verify/ed", {"input": B64_HI, "signature": "vault:v1:!!"}) == (
        "invalid base64 signature value"
    )
    assert err(transit, "POST", "verify/ed", {"input": B64_HI, "signature": "vault:v9:YWJj"}) == (
        "invalid signature: version is too new"
    )
    assert err(
        transit,
        "POST",
        "verify/ed",
        {"batch_input": [{"input": B64_HI, "signature": "vault:v1:YWJj"}, {"input": B64_HI, "hmac": "x"}]},
    ) == ("elements of batch_input must all provide 'signature' or all provide 'hmac'")


def test_hmac(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    mac = ok(transit, "POST", "hmac/k", {"input": B64_HI})["hmac"]
    assert mac.startswith("vault:v1:") and len(base64.b64decode(mac[9:])) == 32
    assert len(base64.b64decode(ok(transit, "POST", "hmac/k/sha2-512", {"input": B64_HI})["hmac"][9:])) == 64
    assert ok(transit, "POST", "verify/k", {"input": B64_HI, "hmac": mac}) == {"valid": True}
    assert ok(transit, "POST", "verify/k", {"input": "aG8=", "hmac": mac}) == {"valid": False}
    assert (
        err(transit, "POST", "hmac/k", {"input": B64_HI, "algorithm": "nope"})
        == "unsupported algorithm '\\x00'"
    )
    assert (
        err(transit, "POST", "hmac/k", {"input": B64_HI, "algorithm": "none"}) == "algorithm cannot be none"
    )
    assert err(transit, "POST", "hmac/k", {}) == "missing input for HMAC"
    assert err(transit, "POST", "hmac/k", {"input": B64_HI, "key_version": 3}) == (
        "key version does not exist; latest key version is 1"
    )
    _status, resp = transit.call(
        "POST",
        "verify/k",
        {"batch_input": [{"input": B64_HI, "hmac": mac}, {"input": B64_HI, "hmac": "vault:vq:YWJj"}]},
    )
    assert resp["data"]["batch_results"] == [
        {"valid": True, "reference": ""},
        {"error": "invalid HMAC: version number could not be decoded", "reference": ""},
    ]


def test_hash_and_random(transit: InProcessTransit) -> None:
    assert ok(transit, "POST", "hash", {"input": B64_HI}) == {
        "sum": "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
    }
    assert len(ok(transit, "POST", "hash/sha3-512", {"input": B64_HI})["sum"]) == 128
    assert err(transit, "POST", "hash", {}) == "input missing"
    assert err(transit, "POST", "hash/md5", {"input": B64_HI}) == "unsupported algorithm md5"
    _, resp = transit.call("POST", "hash", {"input": B64_HI, "urlalgorithm": "sha2-384"})
    assert len(resp["data"]["sum"]) == 64  # the URL (no algorithm) wins over the body, with a warning
    assert resp["warnings"] == [
        "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: "
        "[urlalgorithm]"
    ]
    assert len(base64.b64decode(ok(transit, "POST", "random")["random_bytes"])) == 32
    assert len(ok(transit, "POST", "random/16", {"format": "hex"})["random_bytes"]) == 32
    _status, resp = transit.call("POST", "random/seal/8")
    assert resp["warnings"] == ["no seal/entropy augmentation available, using platform entropy source"]
    assert err(transit, "POST", "random", {"bytes": 0}) == "'bytes' cannot be less than 1"
    assert err(transit, "POST", "random/xx/5") == (
        'unsupported entropy source "xx"; must be "platform" or "seal", or "all"'
    )
    assert err(transit, "POST", "random/all/x") == (
        'error parsing url-set byte count: strconv.Atoi: parsing "x": invalid syntax'
    )


# -- export / backup / restore / cache-config ----------------------------------------------------
def test_export(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k", {"exportable": True})
    ok(transit, "POST", "keys/k/rotate")
    assert set(ok(transit, "GET", "export/encryption-key/k")["keys"]) == {"1", "2"}
    assert set(ok(transit, "GET", "export/encryption-key/k/latest")["keys"]) == {"2"}
    assert set(ok(transit, "GET", "export/hmac-key/k/v1")["keys"]) == {"1"}
    assert err(transit, "GET", "export/encryption-key/k/7") == "version does not exist or cannot be found"
    assert err(transit, "GET", "export/encryption-key/k/x") == "invalid key version"
    assert err(transit, "GET", "export/signing-key/k") == "signing not supported for the key"
    assert err(transit, "GET", "export/bogus/k") == "invalid export type: bogus"
    ok(transit, "POST", "keys/private")
    assert err(transit, "GET", "export/encryption-key/private") == "private key material is not exportable"
    assert transit.call("GET", "export/public-key/nokey") == (404, {"errors": []})


def test_backup_and_restore(transit: InProcessTransit) -> None:
    ok(transit, "POST", "keys/k")
    assert err(transit, "GET", "backup/k", None, 500) == multi("exporting is disallowed on the policy")
    ok(transit, "POST", "keys/k/config", {"exportable": True})
    assert err(transit, "GET", "backup/k", None, 500) == multi("plaintext backup is disallowed on the policy")
    ok(transit, "POST", "keys/k/config", {"allow_plaintext_backup": True})
    ct = ok(transit, "POST", "encrypt/k", {"plaintext": B64_HI})["ciphertext"]
    blob = ok(transit, "GET", "backup/k")["backup"]
    assert err(transit, "POST", "restore", {"backup": blob}, 500) == multi('key "k" already exists')
    assert transit.call("POST", "restore/copy", {"backup": blob}) == (204, None)
    assert ok(transit, "POST", "decrypt/copy", {"ciphertext": ct}) == {"plaintext": B64_HI}
    assert transit.call("POST", "restore/k", {"backup": blob, "force": True}) == (204, None)
    assert ok(transit, "GET", "keys/copy")["restore_info"]["version"] == 1
    assert err(transit, "POST", "restore", {}) == "'backup' must be supplied"
    assert err(transit, "POST", "restore/a/b", {"backup": blob}, 500) == multi("key names cannot be paths")
    assert err(transit, "POST", "restore", {"backup": "!!"}, 500) == multi(
        "illegal base64 data at input byte 0"
    )
    assert err(transit, "GET", "backup/nokey", None, 500) == multi('key "nokey" not found')


def test_cache_config(transit: InProcessTransit) -> None:
    assert ok(transit, "GET", "cache-config") == {"size": 0}
    assert (
        err(transit, "POST", "cache-config", {"size": 5})
        == "size must be 0 or a value greater or equal to 10"
    )
    assert ok(transit, "POST", "cache-config", {"size": 50}) == {"size": 50}
    assert ok(transit, "GET", "cache-config") == {"size": 50}


@pytest.mark.parametrize(
    ("prefix", "ok_"),
    [("vault:v01:", True), ("vault:v+1:", True), ("vault:v1 :", False), ("vault:v 1:", False)],
)
def test_version_numbers_are_read_like_strconv_atoi(
    transit: InProcessTransit, prefix: str, ok_: bool
) -> None:
    """The batch fast path hands odd spellings to the full parser, which reads them as Go does."""
    ok(transit, "POST", "keys/k")
    ct = ok(transit, "POST", "encrypt/k", {"plaintext": B64_HI})["ciphertext"].replace("vault:v1:", prefix)
    for body in ({"ciphertext": ct}, {"batch_input": [{"ciphertext": ct}]}):
        status, resp = transit.call("POST", "decrypt/k", body)
        assert status == (200 if ok_ else 400), resp
        if not ok_ and "batch_input" not in body:
            assert resp["errors"] == ["invalid ciphertext: version number could not be decoded"]

"""Keys made by the reference, restored here: everything they produced there must check out here.

``data/reference_keys.json`` was recorded from OpenBao 2.7.2: for each key type a backup blob, the
key document, and ciphertexts / signatures / HMACs the reference made with it (after two rotations
and ``min_decryption_version=2``, so the archive is exercised).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from .harness import InProcessTransit

IGNORED = {"backup_info", "restore_info"}


def _restore(transit: InProcessTransit, rec: dict[str, Any]) -> None:
    status, body = transit.call("POST", "restore", {"backup": rec["backup"]})
    assert status == 204, body


def _ctx(rec: dict[str, Any]) -> dict[str, str]:
    return {"context": rec["context"]} if rec["context"] else {}


def test_restored_key_documents_match(
    transit: InProcessTransit, reference_keys: list[dict[str, Any]]
) -> None:
    for rec in reference_keys:
        _restore(transit, rec)
        status, body = transit.call("GET", f"keys/{rec['name']}")
        assert status == 200
        mine = {k: v for k, v in body["data"].items() if k not in IGNORED}
        theirs = {k: v for k, v in rec["key"].items() if k not in IGNORED}
        assert mine == theirs, rec["label"]
        assert body["data"]["restore_info"]["version"] == rec["key"]["latest_version"]


def test_reference_ciphertexts_decrypt(
    transit: InProcessTransit, reference_keys: list[dict[str, Any]]
) -> None:
    for rec in reference_keys:
        if "ciphertexts" not in rec:
            continue
        _restore(transit, rec)
        for ver, ct in rec["ciphertexts"].items():
            status, body = transit.call("POST", f"decrypt/{rec['name']}", {"ciphertext": ct, **_ctx(rec)})
            assert status == 200, (rec["label"], ver, body)
            assert body["data"]["plaintext"] == rec["plaintext"]
        # Version 1 is below min_decryption_version: archived, and refused like the reference does.
        first = next(iter(rec["ciphertexts"].values())).replace("vault:v2:", "vault:v1:")
        status, body = transit.call("POST", f"decrypt/{rec['name']}", {"ciphertext": first, **_ctx(rec)})
        assert (status, body) == (
            400,
            {"errors": ["ciphertext or signature version is disallowed by policy (too old)"]},
        )


def test_convergent_encryption_reproduces_the_reference(
    transit: InProcessTransit, reference_keys: list[dict[str, Any]]
) -> None:
    rec = next(r for r in reference_keys if "convergent" in r)
    _restore(transit, rec)
    status, body = transit.call(
        "POST", f"encrypt/{rec['name']}", {"plaintext": rec["plaintext"], **_ctx(rec)}
    )
    assert status == 200
    assert body["data"]["ciphertext"] == rec["convergent"]


def test_reference_signatures_verify(transit: InProcessTransit, reference_keys: list[dict[str, Any]]) -> None:
    for rec in reference_keys:
        if "signature" not in rec:
            continue
        _restore(transit, rec)
        sig = rec["signature"]["signature"]
        req = {"input": rec["sign_input"], "signature": sig, **_ctx(rec)}
        status, body = transit.call("POST", f"verify/{rec['name']}", req)
        assert (status, body["data"]) == (200, {"valid": True}), rec["label"]
        status, body = transit.call("POST", f"verify/{rec['name']}", {**req, "input": "b3RoZXI="})
        assert body["data"] == {"valid": False}
        if "public_key" in rec["signature"]:
            status, body = transit.call(
                "POST", f"sign/{rec['name']}", {"input": rec["sign_input"], **_ctx(rec)}
            )
            assert body["data"]["public_key"] == rec["signature"]["public_key"]
        if rec["spec"]["type"] == "ed25519" and not rec["context"]:
            # ed25519 signatures are deterministic: the same bytes come out here.
            status, body = transit.call("POST", f"sign/{rec['name']}", {"input": rec["sign_input"]})
            assert body["data"]["signature"] == sig


def test_reference_hmacs_are_reproduced(
    transit: InProcessTransit, reference_keys: list[dict[str, Any]]
) -> None:
    for rec in reference_keys:
        _restore(transit, rec)
        _status, body = transit.call("POST", f"hmac/{rec['name']}", {"input": rec["hmac_input"]})
        assert body["data"]["hmac"] == rec["hmac"], rec["label"]


def test_backup_taken_here_has_the_reference_shape(
    transit: InProcessTransit, reference_keys: list[dict[str, Any]]
) -> None:
    for rec in reference_keys:
        _restore(transit, rec)
        status, body = transit.call("GET", f"backup/{rec['name']}")
        assert status == 200
        mine = json.loads(base64.b64decode(body["data"]["backup"]))
        theirs = json.loads(base64.b64decode(rec["backup"]))
        for doc in (mine, theirs):
            doc["policy"]["backup_info"]["time"] = doc["policy"]["restore_info"] = None
        assert mine == theirs, rec["label"]


@pytest.mark.parametrize("fmt", ["", "der", "pem"])
def test_exported_public_keys_survive_restore(
    transit: InProcessTransit, reference_keys: list[dict[str, Any]], fmt: str
) -> None:
    rec = next(r for r in reference_keys if r["label"] == "p256")
    _restore(transit, rec)
    status, body = transit.call("GET", f"export/public-key/{rec['name']}", {"format": fmt} if fmt else None)
    assert status == 200
    assert set(body["data"]["keys"]) == {"2", "3"}
    if fmt == "":
        assert body["data"]["keys"]["3"] == rec["key"]["keys"]["3"]["public_key"].strip()

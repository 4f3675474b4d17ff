"""Key rings over real storage: persistence through the barrier, upgrades, auto-rotation, concurrency."""

from __future__ import annotations

import base64
import json
import threading
import time

from tessera.gocompat.json import go_json_exact
from tessera.gocompat.times import rfc3339_nano_ns
from tessera.secrets.transit import factory

from .harness import InProcessTransit

B64_HI = "aGk="


def _data(transit: InProcessTransit, method: str, path: str, body: object = None) -> dict:
    status, resp = transit.call(method, path, body)
    assert status == 200, resp
    return resp["data"]  # type: ignore[no-any-return]


def test_keys_survive_a_new_backend_and_stay_encrypted(transit: InProcessTransit) -> None:
    _data(transit, "POST", "keys/k", {"exportable": True})
    _data(transit, "POST", "keys/k/rotate")
    ct = _data(transit, "POST", "encrypt/k", {"plaintext": B64_HI, "key_version": 1})["ciphertext"]
    keys = _data(transit, "GET", "export/encryption-key/k")["keys"]
    # A mount rebuilt over the same storage (restart, remount, unseal) loads the same key ring.
    transit.backend = factory(None, None)
    assert _data(transit, "POST", "decrypt/k", {"ciphertext": ct}) == {"plaintext": B64_HI}
    assert _data(transit, "GET", "export/encryption-key/k")["keys"] == keys
    # Nothing of the key material reaches the physical layer in clear.
    raw_values = b"".join(transit.physical.get(k) or b"" for k in transit.physical.list_all(""))
    for key in keys.values():
        assert base64.b64decode(key) not in raw_values
        assert key.encode() not in raw_values
    assert b"policy/k" not in raw_values


def test_archive_and_policy_entries_are_the_reference_layout(transit: InProcessTransit) -> None:
    _data(transit, "POST", "keys/k")
    _data(transit, "POST", "keys/k/rotate")
    names = sorted(transit.storage.list_all(""))
    assert names == ["archive/k", "policy/k"]
    policy = json.loads(transit.storage.get("policy/k") or b"")
    archive = json.loads(transit.storage.get("archive/k") or b"")
    assert policy["latest_version"] == 2 and policy["archive_version"] == 2
    assert len(archive["keys"]) == 3 and archive["keys"][0]["key"] is None  # version 0 placeholder


def test_legacy_policy_is_upgraded_on_load(transit: InProcessTransit) -> None:
    key = b"k" * 32
    legacy = {"name": "old", "key": base64.b64encode(key).decode(), "type": 0}
    transit.storage.put("policy/old", go_json_exact(legacy))
    doc = _data(transit, "GET", "keys/old")
    assert doc["latest_version"] == 1 and doc["min_decryption_version"] == 1
    stored = json.loads(transit.storage.get("policy/old") or b"")
    assert "key" not in stored and stored["archive_version"] == 1
    assert stored["keys"]["1"]["hmac_key"]
    ct = _data(transit, "POST", "encrypt/old", {"plaintext": B64_HI})["ciphertext"]
    assert _data(transit, "POST", "decrypt/old", {"ciphertext": ct}) == {"plaintext": B64_HI}


def test_old_counter_mode_derivation_still_works(transit: InProcessTransit) -> None:
    _data(transit, "POST", "keys/d", {"derived": True})
    stored = json.loads(transit.storage.get("policy/d") or b"")
    stored["kdf"] = 0  # keys derived before HKDF used NIST SP 800-108 counter mode
    transit.storage.put("policy/d", go_json_exact(stored))
    transit.backend = factory(None, None)
    doc = _data(transit, "GET", "keys/d")
    assert doc["kdf"] == "hmac-sha256-counter" and doc["kdf_mode"] == "hmac-sha256-counter"
    ct = _data(transit, "POST", "encrypt/d", {"plaintext": B64_HI, "context": "YQ=="})["ciphertext"]
    assert _data(transit, "POST", "decrypt/d", {"ciphertext": ct, "context": "YQ=="}) == {"plaintext": B64_HI}


def test_auto_rotation_happens_when_the_period_has_passed(transit: InProcessTransit) -> None:
    _data(transit, "POST", "keys/r", {"auto_rotate_period": "1h"})
    assert _data(transit, "GET", "keys/r")["latest_version"] == 1
    stored = json.loads(transit.storage.get("policy/r") or b"")
    stored["keys"]["1"]["time"] = rfc3339_nano_ns(time.time_ns() - 2 * 3600 * 10**9)
    transit.storage.put("policy/r", go_json_exact(stored))
    transit.backend = factory(None, None)
    assert _data(transit, "GET", "keys/r")["latest_version"] == 2
    assert _data(transit, "GET", "keys/r")["latest_version"] == 2


def test_encryption_during_rotation(transit: InProcessTransit) -> None:
    _data(transit, "POST", "keys/k")
    results: list[tuple[str, str]] = []
    errors: list[object] = []

    def encrypt() -> None:
        for i in range(100):
            pt = base64.b64encode(f"{threading.get_ident()}-{i}".encode()).decode()
            status, resp = transit.call("POST", "encrypt/k", {"plaintext": pt})
            if status != 200:
                errors.append(resp)
            else:
                results.append((pt, resp["data"]["ciphertext"]))

    def rotate() -> None:
        for _ in range(10):
            status, resp = transit.call("POST", "keys/k/rotate")
            if status != 200:
                errors.append(resp)

    threads = [threading.Thread(target=encrypt) for _ in range(4)] + [threading.Thread(target=rotate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _data(transit, "GET", "keys/k")["latest_version"] == 11
    batch = [{"ciphertext": ct} for _, ct in results]
    out = _data(transit, "POST", "decrypt/k", {"batch_input": batch})["batch_results"]
    assert [r["plaintext"] for r in out] == [pt for pt, _ in results]

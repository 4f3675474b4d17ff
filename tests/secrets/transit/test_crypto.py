"""Primitives: published test vectors, and the reference's exact derivations."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from tessera.secrets.transit import consts as C
from tessera.secrets.transit import crypto


def test_hchacha20_vector() -> None:
    # draft-irtf-cfrg-xchacha-03, section 2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert crypto._hchacha20(key, nonce).hex() == (
        "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    )


def test_xchacha20_poly1305_vector() -> None:
    # draft-irtf-cfrg-xchacha-03, appendix A.3.1
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
        b"sunscreen would be it."
    )
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    key = bytes.fromhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    nonce = bytes.fromhex("404142434445464748494a4b4c4d4e4f5051525354555657")
    sealed = crypto.XChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    assert sealed[-16:].hex() == "c0875924c1c7987947deafd8780acf49"
    assert sealed[:16].hex() == "bd6d179d3e83d43b9576579493c0e939"
    assert crypto.XChaCha20Poly1305(key).decrypt(nonce, sealed, aad) == plaintext


def test_counter_kdf_is_nist_800_108_hmac_sha256() -> None:
    key, context = os.urandom(32), b"ctx"
    expected = hmac.new(key, b"\x00\x00\x00\x00" + context + b"\x00\x00\x01\x00", hashlib.sha256).digest()
    assert crypto.counter_kdf(key, context) == expected


def test_hkdf_prefix_property_used_by_convergent_keys() -> None:
    # Convergent encryption derives enc_key ‖ hmac_key at once and decryption derives enc_key
    # alone: both must agree on the first bytes.
    key = os.urandom(32)
    assert crypto.hkdf_sha256(key, b"c", 64)[:32] == crypto.hkdf_sha256(key, b"c", 32)


@pytest.mark.parametrize("kt", [C.ECDSA_P256, C.ECDSA_P384, C.ECDSA_P521])
@pytest.mark.parametrize("size", [20, 28, 32, 48, 64, 5])
def test_ecdsa_any_digest_length_verifies_like_go(kt: int, size: int) -> None:
    priv = ec.generate_private_key(crypto.CURVES[kt]())
    digest = os.urandom(size)
    r, s = crypto.ecdsa_sign(kt, priv, digest)
    assert crypto.ecdsa_verify(kt, priv.public_key(), digest, r, s)
    assert not crypto.ecdsa_verify(kt, priv.public_key(), os.urandom(size), r, s)
    natural = {
        20: hashes.SHA1(),
        28: hashes.SHA224(),
        32: hashes.SHA256(),
        48: hashes.SHA384(),
        64: hashes.SHA512(),
    }
    if size in natural:
        # OpenSSL truncates a long digest the way Go does, so the digest taken as is verifies too.
        priv.public_key().verify(
            utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(natural[size]))
        )


def test_raw_pkcs1v15_signature_round_trip() -> None:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = os.urandom(32)
    sig = crypto.rsa_sign_raw_pkcs1v15(priv, data)
    assert crypto.rsa_verify_raw_pkcs1v15(priv.public_key(), data, sig)
    assert not crypto.rsa_verify_raw_pkcs1v15(priv.public_key(), bytes([data[0] ^ 1]) + data[1:], sig)


def test_rsa_json_round_trip() -> None:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    doc = crypto.rsa_to_go(priv)
    assert set(doc) == {"N", "E", "D", "Primes", "Precomputed"}
    again = crypto.rsa_private_from_go(doc)
    assert again.private_numbers() == priv.private_numbers()
    # A key without primes (as very old Go wrote it) is still usable.
    bare = crypto.rsa_private_from_go({"N": doc["N"], "E": doc["E"], "D": doc["D"]})
    assert bare.public_key().public_numbers() == priv.public_key().public_numbers()

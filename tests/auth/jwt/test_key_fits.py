"""``keys.key_fits``: a key's algorithm family decided as ``isinstance`` against the family's
key types decides it, remembered by the key's class (the types are ABCs, checked in Python)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from tessera.auth.jwt import keys as jwt_keys

FAMILIES = ("RS", "PS", "ES", "Ed")


def _public_keys() -> list[Any]:
    return [
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
        ed448.Ed448PrivateKey.generate().public_key(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),  # a private key: no family
        b"not a key",
    ]


def test_key_fits_is_isinstance_of_the_family_types() -> None:
    for _ in range(2):  # the second round is answered from the memo
        for key in _public_keys():
            for family in FAMILIES:
                assert jwt_keys.key_fits(key, family) is isinstance(key, jwt_keys._KEY_TYPES[family])
    assert (type(_public_keys()[0]), "RS") in jwt_keys._FITS

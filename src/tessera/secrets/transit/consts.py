"""Key types and algorithm names, numbered exactly as OpenBao's keysutil does.

The numbers are part of the stored policy (and so of every backup blob), which is why they are not
an ``enum.auto()``: a key backed up on the reference must mean the same type here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes

AES256_GCM96 = 0
ECDSA_P256 = 1
ED25519 = 2
RSA2048 = 3
RSA4096 = 4
CHACHA20_POLY1305 = 5
ECDSA_P384 = 6
ECDSA_P521 = 7
AES128_GCM96 = 8
RSA3072 = 9
HMAC = 10
XCHACHA20_POLY1305 = 11
EXTERNAL_KEY = 10000

NAMES: dict[int, str] = {
    AES128_GCM96: "aes128-gcm96",
    AES256_GCM96: "aes256-gcm96",
    CHACHA20_POLY1305: "chacha20-poly1305",
    XCHACHA20_POLY1305: "xchacha20-poly1305",
    ECDSA_P256: "ecdsa-p256",
    ECDSA_P384: "ecdsa-p384",
    ECDSA_P521: "ecdsa-p521",
    ED25519: "ed25519",
    RSA2048: "rsa-2048",
    RSA3072: "rsa-3072",
    RSA4096: "rsa-4096",
    HMAC: "hmac",
    EXTERNAL_KEY: "external-key",
}
BY_NAME: dict[str, int] = {v: k for k, v in NAMES.items()}


def type_name(kt: int) -> str:
    """KeyType.String(): unknown numbers print as ``[unknown]``."""
    return NAMES.get(kt, "[unknown]")


SYMMETRIC = frozenset({AES128_GCM96, AES256_GCM96, CHACHA20_POLY1305, XCHACHA20_POLY1305})
ECDSA = frozenset({ECDSA_P256, ECDSA_P384, ECDSA_P521})
RSA = frozenset({RSA2048, RSA3072, RSA4096})

ENCRYPTION = SYMMETRIC | RSA | {EXTERNAL_KEY}
DECRYPTION = ENCRYPTION
SIGNING = ECDSA | RSA | {ED25519, EXTERNAL_KEY}
HASH_SIGNATURE_INPUT = ECDSA | RSA | {EXTERNAL_KEY}
DERIVATION = SYMMETRIC | {ED25519}
ASSOCIATED_DATA = SYMMETRIC | {EXTERNAL_KEY}

RSA_BITS = {RSA2048: 2048, RSA3072: 3072, RSA4096: 4096}
ECDSA_CURVE_NAMES = {ECDSA_P256: "P-256", ECDSA_P384: "P-384", ECDSA_P521: "P-521"}
ECDSA_CURVE_BITS = {ECDSA_P256: 256, ECDSA_P384: 384, ECDSA_P521: 521}

HMAC_MIN_KEY_SIZE = 32
HMAC_MAX_KEY_SIZE = 512

KDF_HMAC_SHA256_COUNTER = 0
KDF_HKDF_SHA256 = 1

CURRENT_CONVERGENT_VERSION = 3

ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
ERR_SOFT_DELETED = "refusing to use soft-deleted key"
DEFAULT_VERSION_TEMPLATE = "vault:v{{version}}:"

# HashType numbers (keysutil.HashTypeMap); ``none`` is 0.
HASH_NONE = 0
HASH_TYPES: dict[str, int] = {
    "none": 0,
    "sha1": 1,
    "sha2-224": 2,
    "sha2-256": 3,
    "sha2-384": 4,
    "sha2-512": 5,
    "sha3-224": 6,
    "sha3-256": 7,
    "sha3-384": 8,
    "sha3-512": 9,
}

# hashlib names per HashType (for plain hashing and HMAC).
HASHLIB_NAMES: dict[int, str] = {
    1: "sha1",
    2: "sha224",
    3: "sha256",
    4: "sha384",
    5: "sha512",
    6: "sha3_224",
    7: "sha3_256",
    8: "sha3_384",
    9: "sha3_512",
}

# cryptography hash classes per HashType (for signatures).
CRYPTO_HASHES: dict[int, Callable[[], hashes.HashAlgorithm]] = {
    1: hashes.SHA1,
    2: hashes.SHA224,
    3: hashes.SHA256,
    4: hashes.SHA384,
    5: hashes.SHA512,
    6: hashes.SHA3_224,
    7: hashes.SHA3_256,
    8: hashes.SHA3_384,
    9: hashes.SHA3_512,
}

HASH_SIZES: dict[int, int] = {k: hashlib.new(v).digest_size for k, v in HASHLIB_NAMES.items()}

MARSHALING_ASN1 = 1
MARSHALING_JWS = 2
MARSHALING_TYPES = {"asn1": MARSHALING_ASN1, "jws": MARSHALING_JWS}

# rsa.PSSSaltLengthAuto / rsa.PSSSaltLengthEqualsHash
PSS_SALT_AUTO = 0
PSS_SALT_EQUALS_HASH = -1

"""Cryptographic primitives with the reference's exact constructions (all from ``cryptography``).

Derivation, nonces and signature encodings must match OpenBao bit for bit: a key restored from
the reference has to decrypt its ciphertexts and verify its signatures here, and the other way round.
"""

from __future__ import annotations

import hmac as _hmac
import struct
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import consts as C


class AEAD(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


# -- key derivation ----------------------------------------------------------------------
def hkdf_sha256(key: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    """hkdf.New(sha256.New, key, salt, info) read for ``length`` bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(key)


def counter_kdf(key: bytes, context: bytes) -> bytes:
    """kdf.CounterMode(HMACSHA256PRF, 256, key, context, 256): the pre-HKDF derivation (kdf 0)."""
    msg = struct.pack(">I", 0) + context + struct.pack(">I", 256)
    return _hmac.digest(key, msg, "sha256")


# -- XChaCha20-Poly1305 (not in cryptography: HChaCha20 + ChaCha20-Poly1305) -------------
def _rotl(v: int, c: int) -> int:
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a: int, b: int, c: int, d: int) -> None:
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(1, 5, 9, 13)
        qr(2, 6, 10, 14)
        qr(3, 7, 11, 15)
        qr(0, 5, 10, 15)
        qr(1, 6, 11, 12)
        qr(2, 7, 8, 13)
        qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


class XChaCha20Poly1305:
    """chacha20poly1305.NewX: 24-byte nonces."""

    NONCE_SIZE = 24

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("chacha20poly1305: bad key length")
        self._key = key

    def _inner(self, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
        if len(nonce) != 24:
            raise ValueError("chacha20poly1305: bad nonce length passed to Seal")
        sub = _hchacha20(self._key, nonce[:16])
        return ChaCha20Poly1305(sub), b"\x00\x00\x00\x00" + nonce[16:]

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        aead, n = self._inner(nonce)
        return aead.encrypt(n, data, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        aead, n = self._inner(nonce)
        return aead.decrypt(n, data, associated_data)


def aead_for(key_type: int, key: bytes) -> AEAD:
    if key_type in (C.AES128_GCM96, C.AES256_GCM96):
        return AESGCM(key)
    if key_type == C.CHACHA20_POLY1305:
        return ChaCha20Poly1305(key)
    return XChaCha20Poly1305(key)


def nonce_size(key_type: int) -> int:
    return 24 if key_type == C.XCHACHA20_POLY1305 else 12


def open_error(key_type: int) -> str:
    """The text of Go's AEAD Open failure for this cipher."""
    if key_type in (C.CHACHA20_POLY1305, C.XCHACHA20_POLY1305):
        return "chacha20poly1305: message authentication failed"
    return "cipher: message authentication failed"


# -- asymmetric key objects ---------------------------------------------------------------
CURVES: dict[int, Any] = {C.ECDSA_P256: ec.SECP256R1, C.ECDSA_P384: ec.SECP384R1, C.ECDSA_P521: ec.SECP521R1}


def ec_private(key_type: int, x: int, y: int, d: int) -> ec.EllipticCurvePrivateKey:
    pub = ec.EllipticCurvePublicNumbers(x, y, CURVES[key_type]())
    return ec.EllipticCurvePrivateNumbers(d, pub).private_key()


def ec_public(key_type: int, x: int, y: int) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicNumbers(x, y, CURVES[key_type]()).public_key()


def rsa_private_from_go(doc: dict[str, Any]) -> rsa.RSAPrivateKey:
    """An rsa.PrivateKey as Go's encoding/json writes it (N, E, D, Primes, Precomputed)."""
    n, e, d = int(doc["N"]), int(doc["E"]), int(doc["D"])
    primes = [int(p) for p in doc.get("Primes") or []]
    if len(primes) < 2:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
    else:
        p, q = primes[0], primes[1]
    pub = rsa.RSAPublicNumbers(e, n)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=pub,
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def rsa_to_go(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """Go's JSON shape of an rsa.PrivateKey (what a backup carries)."""
    nums = key.private_numbers()
    return {
        "N": nums.public_numbers.n,
        "E": nums.public_numbers.e,
        "D": nums.d,
        "Primes": [nums.p, nums.q],
        "Precomputed": {"Dp": nums.dmp1, "Dq": nums.dmq1, "Qinv": nums.iqmp, "CRTValues": []},
    }


def rsa_public_from_go(doc: dict[str, Any]) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(int(doc["E"]), int(doc["N"])).public_key()


def ed25519_from_go(key: bytes) -> ed25519.Ed25519PrivateKey:
    """Go keeps seed ‖ public (64 bytes); the seed is what matters."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(key[:32])


def ed25519_go_bytes(priv: ed25519.Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """(64-byte Go private key, 32-byte public key)."""
    seed = priv.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    pub = priv.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return seed + pub, pub


# -- signatures ---------------------------------------------------------------------------
_ORDER_BITS = {C.ECDSA_P256: 256, C.ECDSA_P384: 384, C.ECDSA_P521: 521}
_PREHASH = {
    C.ECDSA_P256: (32, hashes.SHA256),
    C.ECDSA_P384: (48, hashes.SHA384),
    C.ECDSA_P521: (64, hashes.SHA512),
}


def _ec_input(key_type: int, digest: bytes) -> tuple[bytes, ec.ECDSA] | None:
    """Go's hashToInt value re-expressed as a Prehashed input OpenSSL reads the same way.

    Go (and OpenSSL) keep the leftmost order-size bytes and shift off excess bits; a shorter input
    is a big-endian integer, i.e. zero-padded on the left. ``cryptography`` insists the prehash has
    a standard digest length, so the integer is re-encoded at the curve's natural hash size.
    None when the value cannot be expressed that way (P-521 with a >64-byte prehashed input).
    """
    bits = _ORDER_BITS[key_type]
    window = digest[: (bits + 7) // 8]
    value = int.from_bytes(window, "big")
    excess = len(window) * 8 - bits
    if excess > 0:
        value >>= excess
    size, algo = _PREHASH[key_type]
    if value.bit_length() > size * 8:
        return None
    return value.to_bytes(size, "big"), ec.ECDSA(utils.Prehashed(algo()))


def ecdsa_sign(key_type: int, priv: ec.EllipticCurvePrivateKey, digest: bytes) -> tuple[int, int]:
    prepared = _ec_input(key_type, digest)
    if prepared is None:
        raise ValueError("ecdsa: input too long for this curve")
    return utils.decode_dss_signature(priv.sign(*prepared))


def ecdsa_verify(key_type: int, pub: ec.EllipticCurvePublicKey, digest: bytes, r: int, s: int) -> bool:
    if r <= 0 or s <= 0:
        return False
    prepared = _ec_input(key_type, digest)
    if prepared is None:
        return False
    try:
        pub.verify(utils.encode_dss_signature(r, s), *prepared)
    except InvalidSignature:
        return False
    return True


def pss_padding(hash_type: int, salt_length: int, *, signing: bool) -> padding.PSS:
    algo = C.CRYPTO_HASHES[hash_type]()
    if salt_length == C.PSS_SALT_AUTO:
        salt: Any = padding.PSS.MAX_LENGTH if signing else padding.PSS.AUTO
    elif salt_length == C.PSS_SALT_EQUALS_HASH:
        salt = padding.PSS.DIGEST_LENGTH
    else:
        salt = salt_length
    return padding.PSS(mgf=padding.MGF1(algo), salt_length=salt)


def rsa_sign_raw_pkcs1v15(priv: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """rsa.SignPKCS1v15 with hash 0: EMSA-PKCS1-v1_5 padding around the raw input, no DigestInfo."""
    nums = priv.private_numbers()
    n = nums.public_numbers.n
    k = (n.bit_length() + 7) // 8
    if len(data) > k - 11:
        raise ValueError("crypto/rsa: message too long for RSA key size")
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
    m = int.from_bytes(em, "big")
    # CRT with the private numbers; blinding is unnecessary for this rarely used mode.
    m1 = pow(m, nums.dmp1, nums.p)
    m2 = pow(m, nums.dmq1, nums.q)
    h = (nums.iqmp * (m1 - m2)) % nums.p
    s = m2 + h * nums.q
    return s.to_bytes(k, "big")


def rsa_verify_raw_pkcs1v15(pub: rsa.RSAPublicKey, data: bytes, sig: bytes) -> bool:
    try:
        recovered = pub.recover_data_from_signature(sig, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return _hmac.compare_digest(recovered, data)


def oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)

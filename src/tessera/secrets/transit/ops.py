"""What a key ring does with data: derive, encrypt, decrypt, sign, verify (keysutil's Policy methods).

Error texts and kinds follow the reference line by line: clients match on them and the handlers turn
their kind into the status code. The common path (non-derived AES-GCM) touches no storage and reuses
one AEAD object per key version.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac as _hmac
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils

from ...runtime.nonces import nonce_bytes
from . import consts as C
from . import crypto
from .encoding import Base64Error, atoi, b64decode, b64encode, b64url_raw, b64url_raw_decode
from .errors import GoError, InternalErr, UserError
from .policy import KeyEntry, Policy


def derive_key(p: Policy, context: bytes, salt: bytes, ver: int, num_bytes: int) -> bytes:
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    if p.type not in C.DERIVATION:
        raise UserError(f"derivation not supported for key type {C.type_name(p.type)}")
    if not p.keys or p.latest_version == 0:
        raise InternalErr("unable to access the key; no key versions found")
    if ver <= 0 or ver > p.latest_version:
        raise UserError("invalid key version")
    if not context:
        raise UserError(
            "missing 'context' for key derivation; the key was created using a derived key, which means "
            "additional, per-request information must be included in order to perform operations with the key"
        )
    entry = p.entry(ver)
    if p.kdf == C.KDF_HMAC_SHA256_COUNTER:
        return crypto.counter_kdf(entry.key or b"", context + salt)
    if p.kdf == C.KDF_HKDF_SHA256:
        if p.type in C.SYMMETRIC:
            return crypto.hkdf_sha256(entry.key or b"", context, num_bytes, salt)
        if p.type == C.ED25519:
            seed = crypto.hkdf_sha256(entry.key or b"", context, 32, salt)
            full, _ = crypto.ed25519_go_bytes(ed25519.Ed25519PrivateKey.from_private_bytes(seed))
            return full
        raise InternalErr("unsupported key type for derivation")
    raise InternalErr("unsupported key derivation mode")


def get_key(p: Policy, context: bytes, ver: int, num_bytes: int) -> bytes:
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    if not p.derived:
        return p.entry(ver).key or b""
    return derive_key(p, context, b"", ver, num_bytes)


# -- encryption ----------------------------------------------------------------------------
def _aad(encoded: str) -> bytes | None:
    """AssocDataFactory.GetAssociatedData, decoded where the reference decodes it."""
    if not encoded:
        return None
    try:
        return b64decode(encoded)
    except Base64Error as exc:
        raise InternalErr(f"unable to get associated_data/additional_data from factory[0]: {exc}") from None


def encrypt(p: Policy, ver: int, context: bytes, plaintext: bytes, aad_b64: str = "") -> str:
    """EncryptWithFactory with the plaintext already decoded (the caller reports decode errors)."""
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    kt = p.type
    if kt not in C.ENCRYPTION:
        raise UserError(f"message encryption not supported for key type {C.type_name(kt)}")
    if ver == 0:
        ver = p.latest_version
    elif ver < 0:
        raise UserError("requested version for encryption is negative")
    elif ver > p.latest_version:
        raise UserError("requested version for encryption is higher than the latest key version")
    elif ver < p.min_encryption_version:
        raise UserError("requested version for encryption is less than the minimum encryption key version")

    if kt in C.SYMMETRIC:
        enc_bytes = 16 if kt == C.AES128_GCM96 else 32
        if not p.derived:
            entry = p.entry(ver)
            if p.convergent_encryption:
                raise InternalErr("could not derive key, length too small")
            aad = _aad(aad_b64) if aad_b64 else None
            aead = entry.aead(kt)
            nonce = nonce_bytes(crypto.nonce_size(kt))
            sealed = nonce + aead.encrypt(nonce, plaintext, aad)
            return p.version_prefix(ver) + b64encode(sealed)
        cv = p.convergent_version_of(ver)
        hmac_bytes = 32 if cv > 2 else 0
        key = get_key(p, context, ver, enc_bytes + hmac_bytes)
        if len(key) < enc_bytes + hmac_bytes:
            raise InternalErr("could not derive key, length too small")
        enc_key = key[:enc_bytes]
        aad = _aad(aad_b64)
        sealed = _symmetric_encrypt(
            p, ver, enc_key, key[enc_bytes:] if hmac_bytes else context, plaintext, aad
        )
        return p.version_prefix(ver) + b64encode(sealed)

    if kt in C.RSA:
        entry = p.entry(ver)
        pub = entry.rsa_public()
        if pub is None:
            raise InternalErr("failed to RSA encrypt the plaintext: crypto/rsa: missing public modulus")
        try:
            ct = pub.encrypt(plaintext, crypto.oaep())
        except ValueError:
            raise InternalErr(
                "failed to RSA encrypt the plaintext: crypto/rsa: message too long for RSA key size"
            ) from None
        return p.version_prefix(ver) + b64encode(ct)
    raise InternalErr(f"unsupported key type {C.type_name(kt)}")


def _symmetric_encrypt(
    p: Policy, ver: int, enc_key: bytes, hmac_key: bytes, plaintext: bytes, aad: bytes | None
) -> bytes:
    """SymmetricEncryptRaw for derived keys (random or convergent nonce)."""
    aead = crypto.aead_for(p.type, enc_key)
    size = crypto.nonce_size(p.type)
    if p.convergent_encryption:
        cv = p.convergent_version_of(ver)
        if 0 < cv < C.CURRENT_CONVERGENT_VERSION:
            raise UserError(
                f"refusing to support decryption with old convergent encryption key: version {cv}"
            )
        if cv != 3:
            raise InternalErr(f"unhandled convergent version {cv}")
        if not hmac_key:
            raise InternalErr("invalid hmac key length of zero")
        nonce = _hmac.digest(hmac_key, plaintext, "sha256")[:size]
    else:
        nonce = nonce_bytes(size)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def parse_versioned(p: Policy, value: str, what: str) -> tuple[int, str]:
    """Split ``vault:v<N>:<payload>``: (version, payload), with the reference's error texts."""
    head, sep = p.template_parts()
    if not value.startswith(head):
        raise UserError(f"invalid {what}: no prefix")
    rest = value[len(head) :]
    idx = rest.find(sep) if sep else 0
    if idx < 0 or not sep:
        raise UserError(f"invalid {what}: wrong number of fields")
    try:
        ver = atoi(rest[:idx])
    except ValueError:
        raise UserError(f"invalid {what}: version number could not be decoded") from None
    return ver, rest[idx + len(sep) :]


def decrypt(p: Policy, context: bytes, value: str, aad_b64: str = "") -> bytes:
    """DecryptWithFactory: the plaintext bytes (the caller base64-encodes them)."""
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    kt = p.type
    if kt not in C.DECRYPTION:
        raise UserError(f"message decryption not supported for key type {C.type_name(kt)}")
    ver, payload = parse_versioned(p, value, "ciphertext")
    if ver == 0:
        ver = 1
    if ver > p.latest_version:
        raise UserError("invalid ciphertext: version is too new")
    if p.min_decryption_version > 0 and ver < p.min_decryption_version:
        raise UserError(C.ERR_TOO_OLD)
    cv = p.convergent_version_of(ver)
    if p.convergent_encryption and 0 < cv < C.CURRENT_CONVERGENT_VERSION:
        raise UserError(f"refusing to support decryption with old convergent encryption key: version {cv}")
    try:
        decoded = b64decode(payload)
    except Base64Error:
        raise UserError("invalid ciphertext: could not decode base64") from None

    if kt in C.SYMMETRIC:
        num = 16 if kt == C.AES128_GCM96 else 32
        if p.derived:
            key = get_key(p, context, ver, num)
            if len(key) != num:
                raise InternalErr("could not derive enc key, length not correct")
            aead = crypto.aead_for(kt, key)
        else:
            entry = p.entry(ver)
            if len(entry.key or b"") != num:
                raise InternalErr("could not derive enc key, length not correct")
            aead = entry.aead(kt)
        aad = _aad(aad_b64) if aad_b64 else None
        if p.convergent_encryption and 0 < p.convergent_version < C.CURRENT_CONVERGENT_VERSION:
            raise UserError(
                f"refusing to support decryption with old convergent encryption key: version {p.convergent_version}"
            )
        size = crypto.nonce_size(kt)
        if len(decoded) < size:
            raise UserError("invalid ciphertext length")
        try:
            return aead.decrypt(decoded[:size], decoded[size:], aad)
        except InvalidTag:
            raise UserError(crypto.open_error(kt)) from None
    if kt in C.RSA:
        entry = p.entry(ver)
        priv = entry.rsa_private()
        if priv is None:
            raise InternalErr("cannot decrypt ciphertext, key version does not have a private counterpart")
        try:
            return priv.decrypt(decoded, crypto.oaep())
        except ValueError:
            raise InternalErr("failed to RSA decrypt the ciphertext: crypto/rsa: decryption error") from None
    raise InternalErr(f"unsupported key type {C.type_name(kt)}")


def hmac_key(p: Policy, version: int) -> bytes:
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    if version < 0:
        raise GoError("key version does not exist (cannot be negative)")
    if version > p.latest_version:
        raise GoError(f"key version does not exist; latest key version is {p.latest_version}")
    entry = p.entry(version)
    if p.type == C.HMAC:
        return entry.key or b""
    if entry.hmac_key is None:
        raise GoError("no HMAC key exists for that key version")
    return entry.hmac_key


# -- signatures ----------------------------------------------------------------------------
def _max_pss_salt(bits: int, hash_type: int) -> int:
    return (bits - 1 + 7) // 8 - 2 - C.HASH_SIZES[hash_type]


def _derived_ed25519(p: Policy, context: bytes, ver: int) -> bytes:
    """The derived ed25519 key of a version for this context (seed ‖ public, as Go keeps it)."""
    try:
        return get_key(p, context, ver, 32)
    except (UserError, InternalErr, GoError) as exc:
        raise InternalErr(f"error deriving key: {exc}") from None


def _signing_version(p: Policy, ver: int) -> int:
    """The version to sign with (0: the latest), checked against the key's bounds."""
    if ver == 0:
        return p.latest_version
    if ver < 0:
        raise UserError("requested version for signing is negative")
    if ver > p.latest_version:
        raise UserError("requested version for signing is higher than the latest key version")
    if p.min_encryption_version > 0 and ver < p.min_encryption_version:
        raise UserError("requested version for signing is less than the minimum encryption key version")
    return ver


def _sign_ecdsa(kt: int, entry: KeyEntry, data: bytes, marshaling: int) -> bytes:
    try:
        r, s = crypto.ecdsa_sign(kt, entry.ec_private(kt), data)
    except ValueError as exc:
        raise GoError(str(exc)) from None
    if marshaling == C.MARSHALING_ASN1:
        return utils.encode_dss_signature(r, s)
    if marshaling == C.MARSHALING_JWS:
        size = (C.ECDSA_CURVE_BITS[kt] + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise UserError("requested marshaling type is invalid")


def _sign_rsa(entry: KeyEntry, data: bytes, hash_type: int, sig_algorithm: str, salt_length: int) -> bytes:
    priv_rsa = entry.rsa_private()
    if priv_rsa is None:
        raise UserError("requested version for signing does not contain a private part")
    sig_algorithm = sig_algorithm or "pss"
    if sig_algorithm not in ("pss", "pkcs1v15"):
        raise InternalErr(f"unsupported rsa signature algorithm {sig_algorithm}")
    if sig_algorithm == "pss":
        if hash_type == C.HASH_NONE:
            raise GoError("crypto/rsa: PSS requires a hash function")
        if not (C.PSS_SALT_EQUALS_HASH <= salt_length <= _max_pss_salt(priv_rsa.key_size, hash_type)):
            raise UserError(f"requested salt length {salt_length} is invalid")
    try:
        if sig_algorithm == "pss":
            pss = crypto.pss_padding(hash_type, salt_length, signing=True)
            return priv_rsa.sign(data, pss, utils.Prehashed(C.CRYPTO_HASHES[hash_type]()))
        if hash_type == C.HASH_NONE:
            return crypto.rsa_sign_raw_pkcs1v15(priv_rsa, data)
        return priv_rsa.sign(data, padding.PKCS1v15(), utils.Prehashed(C.CRYPTO_HASHES[hash_type]()))
    except ValueError:
        raise GoError("crypto/rsa: input must be hashed with given hash") from None


def sign(
    p: Policy,
    ver: int,
    context: bytes,
    data: bytes,
    hash_type: int,
    sig_algorithm: str,
    marshaling: int,
    salt_length: int,
) -> tuple[str, bytes | None]:
    """SignWithOptions: (``vault:vN:...`` signature, derived public key or None)."""
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    kt = p.type
    if kt not in C.SIGNING:
        raise GoError(f"message signing not supported for key type {C.type_name(kt)}")
    ver = _signing_version(p, ver)
    entry = p.entry(ver)
    if entry.private_key_missing():
        raise UserError("requested version for signing does not contain a private part")
    pub_out: bytes | None = None
    if kt in C.ECDSA:
        sig = _sign_ecdsa(kt, entry, data, marshaling)
    elif kt == C.ED25519:
        if p.derived:
            full = _derived_ed25519(p, context, ver)
            priv = crypto.ed25519_from_go(full)
            pub_out = full[32:]
        else:
            priv = entry.ed25519_private()
        sig = priv.sign(data)
    elif kt in C.RSA:
        sig = _sign_rsa(entry, data, hash_type, sig_algorithm, salt_length)
    else:
        raise GoError(f"unsupported key type {C.type_name(kt)}")
    encoded = b64url_raw(sig) if marshaling == C.MARSHALING_JWS else b64encode(sig)
    return p.version_prefix(ver) + encoded, pub_out


def _signature_bytes(payload: str, marshaling: int) -> bytes:
    """The signature's bytes: standard base64 for ASN.1, raw URL base64 for JWS."""
    try:
        if marshaling == C.MARSHALING_ASN1:
            return b64decode(payload)
        if marshaling == C.MARSHALING_JWS:
            return b64url_raw_decode(payload)
    except Base64Error:
        raise UserError("invalid base64 signature value") from None
    raise UserError("requested marshaling type is invalid")


def _ed25519_public(p: Policy, context: bytes, ver: int) -> ed25519.Ed25519PublicKey:
    """The version's public key: derived for this context, else the stored one."""
    if p.derived:
        return ed25519.Ed25519PublicKey.from_public_bytes(_derived_ed25519(p, context, ver)[32:])
    try:
        raw_pub = b64decode(p.entry(ver).public_key)
    except Base64Error as exc:
        raise GoError(str(exc)) from None
    if len(raw_pub) != 32:
        raise GoError(f"ed25519: bad public key length: {len(raw_pub)}")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw_pub)


def _verify_ed25519(p: Policy, context: bytes, ver: int, data: bytes, sig: bytes) -> bool:
    pub = _ed25519_public(p, context, ver)
    if len(sig) != 64:
        return False
    try:
        pub.verify(sig, data)
    except InvalidSignature:
        return False
    return True


def _verify_rsa(
    entry: KeyEntry, data: bytes, sig: bytes, hash_type: int, sig_algorithm: str, salt_length: int
) -> bool:
    pub_rsa = entry.rsa_public()
    sig_algorithm = sig_algorithm or "pss"
    if pub_rsa is None:
        raise GoError("crypto/rsa: missing public modulus")
    pad: padding.AsymmetricPadding
    if sig_algorithm == "pss":
        if hash_type == C.HASH_NONE:
            return False
        if not (C.PSS_SALT_EQUALS_HASH <= salt_length <= _max_pss_salt(pub_rsa.key_size, hash_type)):
            raise UserError(f"requested salt length {salt_length} is invalid")
        pad = crypto.pss_padding(hash_type, salt_length, signing=False)
    elif sig_algorithm == "pkcs1v15":
        if hash_type == C.HASH_NONE:
            return crypto.rsa_verify_raw_pkcs1v15(pub_rsa, data, sig)
        pad = padding.PKCS1v15()
    else:
        raise InternalErr(f"unsupported rsa signature algorithm {sig_algorithm}")
    try:
        pub_rsa.verify(sig, data, pad, utils.Prehashed(C.CRYPTO_HASHES[hash_type]()))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(
    p: Policy,
    context: bytes,
    data: bytes,
    signature: str,
    hash_type: int,
    sig_algorithm: str,
    marshaling: int,
    salt_length: int,
) -> bool:
    """VerifySignatureWithOptions."""
    if p.soft_deleted:
        raise UserError(C.ERR_SOFT_DELETED)
    kt = p.type
    if kt not in C.SIGNING:
        raise UserError(f"message verification not supported for key type {C.type_name(kt)}")
    ver, payload = parse_versioned(p, signature, "signature")
    if ver > p.latest_version:
        raise UserError("invalid signature: version is too new")
    if p.min_decryption_version > 0 and ver < p.min_decryption_version:
        raise UserError(C.ERR_TOO_OLD)
    sig = _signature_bytes(payload, marshaling)
    if kt in C.ECDSA:
        if marshaling == C.MARSHALING_ASN1:
            r, s = _decode_der_signature(sig)
        else:
            half = len(sig) // 2
            r, s = int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")
        return crypto.ecdsa_verify(kt, p.entry(ver).ec_public(kt), data, r, s)
    if kt == C.ED25519:
        return _verify_ed25519(p, context, ver, data, sig)
    if kt in C.RSA:
        return _verify_rsa(p.entry(ver), data, sig, hash_type, sig_algorithm, salt_length)
    raise InternalErr(f"unsupported key type {C.type_name(kt)}")


def _decode_der_signature(raw: bytes) -> tuple[int, int]:
    """asn1.Unmarshal into {R, S}: ``supplied signature is invalid`` / ``... contains extra data``."""
    if len(raw) < 2 or raw[0] != 0x30:
        raise UserError("supplied signature is invalid")
    length = raw[1]
    offset = 2
    if length & 0x80:
        nlen = length & 0x7F
        if nlen == 0 or nlen > 2 or len(raw) < 2 + nlen:
            raise UserError("supplied signature is invalid")
        length = int.from_bytes(raw[2 : 2 + nlen], "big")
        offset = 2 + nlen
    end = offset + length
    if end > len(raw):
        raise UserError("supplied signature is invalid")
    try:
        r, s = utils.decode_dss_signature(raw[:end])
    except ValueError:
        raise UserError("supplied signature is invalid") from None
    if end != len(raw):
        raise UserError("supplied signature contains extra data")
    return r, s


def hash_input(hash_type: int, data: bytes) -> bytes:
    return hashlib.new(C.HASHLIB_NAMES[hash_type], data).digest()


def key_entry_public_b64(entry: KeyEntry) -> str:
    return entry.public_key


# -- fast paths for batches (non-derived symmetric keys, the batch-token workload) ---------------
def fast_encryptor(p: Policy) -> tuple[str, crypto.AEAD, int] | None:
    """(version prefix, AEAD, nonce size) for encrypting with the latest version, when nothing else applies.

    Items without key_version or associated data then cost one AEAD call and a base64 each; anything
    else goes through ``encrypt``, which holds every check and error text.
    """
    kt = p.type
    if p.soft_deleted or p.derived or p.convergent_encryption or kt not in C.SYMMETRIC:
        return None
    entry = p.keys.get(str(p.latest_version))
    if entry is None or len(entry.key or b"") != (16 if kt == C.AES128_GCM96 else 32):
        return None
    return p.version_prefix(p.latest_version), entry.aead(kt), crypto.nonce_size(kt)


_DEFAULT_HEAD = "vault:v"


def fast_decryptor(p: Policy) -> Callable[[str], bytes] | None:
    """A decrypt function for well-formed ciphertexts of a non-derived symmetric key.

    Anything unusual (other template, bad version, bad base64, failed tag) is handed to ``decrypt``
    so that errors keep the reference's texts.
    """
    kt = p.type
    if p.soft_deleted or p.derived or p.convergent_encryption or kt not in C.SYMMETRIC or p.version_template:
        return None
    size = crypto.nonce_size(kt)
    key_len = 16 if kt == C.AES128_GCM96 else 32
    lowest = max(p.min_decryption_version, 1)
    latest = p.latest_version
    keys = p.keys
    aeads: dict[str, crypto.AEAD | None] = {}

    def aead_for(version_text: str) -> crypto.AEAD | None:
        """The AEAD of a plainly written, usable version (looked up once per request)."""
        found = aeads.get(version_text, False)
        if found is not False:
            return found  # type: ignore[return-value]
        aead = None
        entry = keys.get(version_text)
        if (
            entry is not None
            and version_text.isdigit()
            and version_text[0] != "0"
            and lowest <= int(version_text) <= latest
            and len(entry.key or b"") == key_len
        ):
            aead = entry.aead(kt)
        aeads[version_text] = aead
        return aead

    a2b = binascii.a2b_base64

    def run(value: str) -> bytes:
        if value.startswith(_DEFAULT_HEAD):
            idx = value.find(":", 7)
            aead = aead_for(value[7:idx]) if idx > 7 else None
            if aead is not None:
                try:
                    raw = a2b(value[idx + 1 :], strict_mode=True)
                except (binascii.Error, ValueError):
                    raw = b""
                if len(raw) >= size:
                    try:
                        return aead.decrypt(raw[:size], raw[size:], None)
                    except InvalidTag:
                        raise UserError(crypto.open_error(kt)) from None
        return decrypt(p, b"", value)

    return run

"""OpenPGP for the key ceremonies: PGP-encrypted unseal shares, root tokens and rekey backups.

Vault lets operators hand in public keys (``pgp_keys``, ``root_token_pgp_key``, ``pgp_key``) so that
secrets leave the server only encrypted to their owners. Each key is the base64 of a binary
(non-armored) OpenPGP public key, what ``gpg --export KEYID | base64`` prints. As in Vault, unseal
shares are encrypted as their *hex text* (so ``base64 -d | gpg -dq`` yields a usable unseal key) and
tokens as the token string. All OpenPGP work happens here, on top of Sequoia (``pysequoia``); error
texts are those of OpenBao's ``helper/pgpkeys`` and of the Go OpenPGP library under it, since clients
and tests compare them.
"""

from __future__ import annotations

import base64
import os
import warnings

import pysequoia

from ..gocompat.base64 import Base64Error, go_b64decode

__all__ = [
    "PGPKeyError",
    "check_keys",
    "decode_key",
    "encrypt",
    "encrypt_shares",
    "encrypt_token",
    "fingerprints",
    "parse_key_files",
]

# Packet tags go-crypto's packet.Read knows (others are skipped as unknown; 10 is the ignored marker).
_KNOWN_TAGS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 17, 18, 19, 20}
_KEY_TAGS = {5, 6}  # secret key, public key
_SUBKEY_TAGS = {7, 14}
_MARKER = 10


class PGPKeyError(ValueError):
    """A refused key or a failed encryption, worded as OpenBao words it."""


# -- decoding -----------------------------------------------------------------------------------
def _packet_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, body start, body end) of the packet at ``pos``, with go-crypto's errors."""
    first = data[pos]
    if not first & 0x80:
        raise PGPKeyError("openpgp: invalid data: tag byte does not have MSB set")
    pos += 1
    if not first & 0x40:  # old format
        tag, kind = (first & 0x3F) >> 2, first & 3
        if kind == 3:
            return tag, pos, len(data)
        size = 1 << kind
        if pos + size > len(data):
            raise PGPKeyError("unexpected EOF")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    else:
        tag = first & 0x3F
        if pos >= len(data):
            raise PGPKeyError("unexpected EOF")
        o1 = data[pos]
        if o1 < 192:
            length, pos = o1, pos + 1
        elif o1 < 224:
            if pos + 2 > len(data):
                raise PGPKeyError("unexpected EOF")
            length, pos = ((o1 - 192) << 8) + data[pos + 1] + 192, pos + 2
        elif o1 == 255:
            if pos + 5 > len(data):
                raise PGPKeyError("unexpected EOF")
            length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
        else:  # partial body lengths: only data packets use them; let Sequoia judge
            return tag, pos, len(data)
    if pos + length > len(data):
        raise PGPKeyError("unexpected EOF")
    return tag, pos, pos + length


def _first_entity(data: bytes) -> bytes:
    """The packets of the first key in ``data`` (openpgp.ReadEntity reads just that one)."""
    if not data:
        raise PGPKeyError("EOF")
    pos, start = 0, -1
    while pos < len(data):
        tag, _, end = _packet_header(data, pos)
        if start < 0:
            if tag in _KEY_TAGS:
                start = pos
            elif tag in _KNOWN_TAGS:
                raise PGPKeyError("openpgp: invalid data: first packet was not a public/private key")
        elif tag in _KEY_TAGS:
            return data[start:pos]
        pos = end
    if start < 0:
        raise PGPKeyError("EOF")
    return data[start:]


def _cert(data: bytes) -> pysequoia.Cert:
    try:
        return pysequoia.Cert.from_bytes(_first_entity(data))
    except PGPKeyError:
        raise
    except Exception as exc:  # Sequoia's own parse errors (malformed key material, ...)
        raise PGPKeyError(f"openpgp: invalid data: {exc}") from None


def decode_key(key: str) -> pysequoia.Cert:
    """pgpkeys.GetEntities for one key: base64, then the first OpenPGP key in it."""
    try:
        data = go_b64decode(key)
    except Base64Error as exc:
        raise PGPKeyError(f"error decoding given PGP key: {exc}") from None
    try:
        return _cert(data)
    except PGPKeyError as exc:
        raise PGPKeyError(f"error parsing given PGP key: {exc}") from None


def _fingerprint(cert: pysequoia.Cert) -> str:
    return str(cert.fingerprint).lower()


def fingerprints(keys: list[str]) -> list[str]:
    """pgpkeys.GetFingerprints: lowercase hex of each primary key's fingerprint."""
    return [_fingerprint(decode_key(k)) for k in keys]


def check_keys(keys: list[str], shares: int) -> None:
    """The PGP part of SealConfig.Validate (the caller prefixes the message)."""
    if keys and len(keys) != shares:
        raise PGPKeyError("count mismatch between number of provided PGP keys and number of shares")
    for key in keys:
        decode_key(key)


# -- encryption ---------------------------------------------------------------------------------
def encrypt(plaintext: bytes, key: str) -> bytes:
    """One binary OpenPGP message to ``key`` (its encryption subkeys), as openpgp.Encrypt makes it."""
    return _encrypt_to(decode_key(key), plaintext)


def _encrypt_to(cert: pysequoia.Cert, plaintext: bytes) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return bytes(pysequoia.encrypt(plaintext, recipients=[cert], armor=False))
    except Exception:
        key_id = int(cert.fingerprint[-16:], 16)
        raise PGPKeyError(
            "error setting up encryption for PGP message: openpgp: invalid argument: cannot encrypt a "
            f"message to key id {key_id:x} because it has no valid encryption keys"
        ) from None


def encrypt_shares(shares: list[bytes], keys: list[str]) -> tuple[list[str], list[bytes]]:
    """Unseal shares encrypted as hex text, one key each (vault/init.go, rekey.go); + fingerprints."""
    if len(shares) != len(keys):
        raise PGPKeyError("mismatch between number items to encrypt and number of PGP keys")
    certs = [decode_key(key) for key in keys]
    encrypted = [_encrypt_to(cert, share.hex().encode()) for share, cert in zip(shares, certs, strict=True)]
    return [_fingerprint(cert) for cert in certs], encrypted


def encrypt_token(token: str, key: str) -> str:
    """A token encrypted to ``key``, base64 (standard, padded) as the API returns it."""
    return base64.b64encode(encrypt(token.encode(), key)).decode()


# -- the CLI's -pgp-keys / -pgp-key files ------------------------------------------------------
def read_key_file(path: str) -> str:
    """pgpkeys.ReadPGPFile: armored (exactly one key), base64 text, or binary; always base64 out."""
    if not path:
        raise PGPKeyError("empty path")
    if path.startswith("@"):
        path = path[1:]
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise PGPKeyError(f"open {path}: {reason}") from None
    if raw.lstrip().startswith(b"-----BEGIN PGP"):
        try:
            certs = pysequoia.Cert.split_bytes(raw)
        except Exception:
            certs = []
        if len(certs) > 1:
            raise PGPKeyError(f'more than one key found in file "{path}"')
        if len(certs) == 1:
            return base64.b64encode(bytes(certs[0])).decode()
    try:
        go_b64decode(raw)
        return raw.decode()
    except (Base64Error, UnicodeDecodeError):
        return base64.b64encode(raw).decode()


def parse_key_files(value: str) -> list[str]:
    """pgpkeys.ParsePGPKeys for a comma-separated flag value (``keybase:`` needs keybase.io)."""
    entries = [e.strip() for e in value.split(",")]
    keybase = [e for e in entries if e.startswith("keybase:")]
    if keybase:
        raise PGPKeyError(
            f"cannot look up {', '.join(keybase)}: fetching keys from keybase.io needs network access, "
            'which Tessera does not use; export the public key to a file ("gpg --export KEYID > key.gpg") '
            "and give its path instead"
        )
    return [read_key_file(e) for e in entries]

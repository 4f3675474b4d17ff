"""Random token IDs, accessors and the salted hashes under which service tokens are stored."""

from __future__ import annotations

import hmac

from ..barrier.keyed_hash import KeyedSha256
from ..runtime.nonces import secret_bytes

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# Byte -> base62 character for the 248 bytes kept (248 = 62 * 4); the other 8 are dropped, so
# every character stays equally likely (rejection sampling, no modulo bias).
_KEEP = bytes(range(248))
_TO_BASE62 = bytes.maketrans(_KEEP, (_BASE62 * 4).encode())
_REJECTED = bytes(range(248, 256))


def base62(length: int) -> str:
    """Uniform random base62 string; the byte loop done by bytes.translate in C. The bytes come
    from OpenSSL's CSPRNG with the GIL held (``runtime/nonces.py``): ``secrets`` let go of it on
    every token, waking the server's waiting threads."""
    out = b""
    while len(out) < length:
        out += secret_bytes(length + 8).translate(_TO_BASE62, _REJECTED)
    return out[:length].decode()


def new_service_id() -> str:
    """Service tokens: ``hvs.`` + 24 base62 characters (28 in all, like Vault's root tokens)."""
    return "hvs." + base62(24)


def new_accessor() -> str:
    return base62(24)


class Salt:
    """HMAC-SHA256 keyed by a per-cluster secret: storage keys never reveal a token ID."""

    def __init__(self, key: bytes) -> None:
        self._hmac = KeyedSha256(key)

    def hash(self, value: str) -> str:
        return "h" + self._hmac.digest(value.encode()).hex()

    def hmac_sha256(self, value: str) -> str:
        return self._hmac.digest(value.encode()).hex()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

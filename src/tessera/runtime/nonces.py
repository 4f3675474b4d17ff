"""Random bytes for per-request nonces, drawn without letting go of the GIL.

``os.urandom`` releases the GIL around its system call. On the runner thread (server/dispatch.py),
with granian's threads waiting to hand in requests, every release is a switch: another thread
runs, and the runner then waits to get the GIL back. Measured on 2 cores with 4 threads waiting:
~9 µs of CPU per call against ~1 µs here (docs/performance.md). ``ssl.RAND_bytes`` is OpenSSL's
CSPRNG (seeded from the kernel, reseeded in a forked child), called with the GIL held.

For values drawn on every request that must be unique and unpredictable: AES-GCM nonces and
token IDs and accessors (``tokens/ids.py``). Long-lived keys keep their own generators.
"""

from __future__ import annotations

import os
import ssl
from collections import deque


def nonce_bytes(size: int) -> bytes:
    """``size`` cryptographically strong random bytes."""
    return ssl.RAND_bytes(size)


# AES-GCM nonces for the barrier, drawn from the same generator in blocks: one ``RAND_bytes``
# call (~1 µs, most of it the call's own cost) then serves this many nonces at ~0.25 µs each.
# A nonce is public (it is written next to the ciphertext) and only has to be unique, which
# bytes drawn earlier are as much as bytes drawn now. ``deque.popleft`` is atomic under the GIL,
# so no two threads are ever handed the same nonce; a forked child empties the pool, so it never
# reuses a nonce its parent drew.
GCM_NONCE_SIZE = 12
GCM_NONCE_BLOCK = 256
_gcm_pool: deque[bytes] = deque()


def gcm_nonce() -> bytes:
    """A fresh 12-byte AES-GCM nonce (every barrier encryption takes one)."""
    try:
        return _gcm_pool.popleft()
    except IndexError:
        return _refill_gcm_pool()


def _refill_gcm_pool() -> bytes:
    size = GCM_NONCE_SIZE
    block = ssl.RAND_bytes(size * GCM_NONCE_BLOCK)
    nonces = [block[at : at + size] for at in range(0, len(block), size)]
    _gcm_pool.extend(nonces[1:])
    return nonces[0]


os.register_at_fork(after_in_child=_gcm_pool.clear)


def secret_bytes(size: int) -> bytes:
    """``size`` cryptographically strong random bytes for a secret made per request (a token ID):
    the same generator, named for what the caller makes of it."""
    return ssl.RAND_bytes(size)

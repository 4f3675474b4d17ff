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

import ssl


def nonce_bytes(size: int) -> bytes:
    """``size`` cryptographically strong random bytes."""
    return ssl.RAND_bytes(size)


def secret_bytes(size: int) -> bytes:
    """``size`` cryptographically strong random bytes for a secret made per request (a token ID):
    the same generator, named for what the caller makes of it."""
    return ssl.RAND_bytes(size)

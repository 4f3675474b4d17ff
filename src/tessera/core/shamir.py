"""Shamir's secret sharing over GF(2^8), as Vault uses it to split the unseal key.

A share is the secret's length in y-values followed by one byte: its x coordinate.
"""

from __future__ import annotations

import secrets

_EXP = [0] * 512
_LOG = [0] * 256


def _init_tables() -> None:
    x = 1
    for i in range(255):
        _EXP[i] = x
        _LOG[x] = i
        # multiply by the generator 3 in GF(2^8) with the AES polynomial 0x11b
        x2 = x << 1
        if x2 & 0x100:
            x2 ^= 0x11B
        x = x2 ^ x
    for i in range(255, 512):
        _EXP[i] = _EXP[i - 255]


_init_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


class ShamirError(ValueError):
    pass


def split(secret: bytes, parts: int, threshold: int) -> list[bytes]:
    if parts < threshold:
        raise ShamirError("parts cannot be less than threshold")
    if parts > 255:
        raise ShamirError("parts cannot exceed 255")
    if threshold < 2:
        raise ShamirError("threshold must be at least 2")
    if threshold > 255:
        raise ShamirError("threshold cannot exceed 255")
    if not secret:
        raise ShamirError("cannot split an empty secret")
    xs = list(range(1, 256))
    rng = secrets.SystemRandom()
    rng.shuffle(xs)
    xs = xs[:parts]
    shares = [bytearray(len(secret) + 1) for _ in range(parts)]
    for i, x in enumerate(xs):
        shares[i][len(secret)] = x
    for idx, byte in enumerate(secret):
        coeffs = [byte] + [secrets.randbelow(256) for _ in range(threshold - 1)]
        for i, x in enumerate(xs):
            # Horner's rule
            acc = 0
            for c in reversed(coeffs):
                acc = _mul(acc, x) ^ c
            shares[i][idx] = acc
    return [bytes(s) for s in shares]


def combine(shares: list[bytes]) -> bytes:
    if len(shares) < 2:
        raise ShamirError("less than two parts cannot be used to reconstruct the secret")
    length = len(shares[0])
    if length < 2:
        raise ShamirError("parts must be at least two bytes")
    if any(len(s) != length for s in shares):
        raise ShamirError("all parts must be the same length")
    xs = [s[-1] for s in shares]
    if len(set(xs)) != len(xs):
        raise ShamirError("duplicate part detected")
    secret = bytearray(length - 1)
    for idx in range(length - 1):
        # Lagrange interpolation at x = 0
        acc = 0
        for i, xi in enumerate(xs):
            num, den = 1, 1
            for j, xj in enumerate(xs):
                if i == j:
                    continue
                num = _mul(num, xj)
                den = _mul(den, xi ^ xj)
            acc ^= _mul(shares[i][idx], _div(num, den))
        secret[idx] = acc
    return bytes(secret)

"""Vault's TTL arithmetic (sdk/framework.CalculateTTL) with its exact warning texts.

One function serves token creation, logins and renewals so that the three can never drift apart:
the caps, the period rule and the "past the max TTL" refusal all live here.
"""

from __future__ import annotations

import math
import time

from ..gocompat.durations import human_duration


class TTLError(ValueError):
    """A TTL that cannot be granted (e.g. ``past the max TTL, cannot renew``)."""


def calculate_ttl(
    *,
    default_ttl: int,
    max_ttl: int,
    increment: int = 0,
    backend_ttl: int = 0,
    period: int = 0,
    backend_max_ttl: int = 0,
    explicit_max_ttl: int = 0,
    start: float | None = None,
    now: float | None = None,
) -> tuple[int, list[str]]:
    """The TTL to grant and the warnings to return, exactly as Vault computes them.

    ``default_ttl``/``max_ttl`` are the mount's effective values (its tuning, else the system's).
    ``start`` is the issue time the max TTL counts from (None = now, as at creation).
    """
    now_s = math.floor(now if now is not None else time.time())
    start_s = now_s if start is None or start <= 0 else math.floor(start)
    limit = max_ttl
    if 0 < backend_max_ttl < limit:
        limit = backend_max_ttl
    if 0 < explicit_max_ttl < limit:
        limit = explicit_max_ttl
    if limit <= 0:
        raise TTLError("max TTL must be greater than zero")
    warnings: list[str] = []
    max_valid: int | None = None
    if period > 0:
        if period > limit:
            warnings.append(
                f'period of "{human_duration(period)}" exceeded the effective max_ttl of '
                f'"{human_duration(limit)}"; period value is capped accordingly'
            )
            period = limit
        ttl = period
        if explicit_max_ttl > 0:
            max_valid = start_s + explicit_max_ttl
    else:
        if increment > 0:
            ttl = increment
        elif backend_ttl > 0:
            ttl = backend_ttl
        else:
            ttl = default_ttl
        max_valid = start_s + limit
    if max_valid is not None:
        valid_ttl = max_valid - now_s
        if valid_ttl <= 0:
            raise TTLError("past the max TTL, cannot renew")
        if valid_ttl < ttl:
            warnings.append(
                f'TTL of "{human_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{human_duration(valid_ttl)}"; TTL value is capped accordingly'
            )
            ttl = valid_ttl
    return ttl, warnings

"""Timestamps printed the way Go prints them in Vault's JSON (RFC 3339 with nanoseconds)."""

from __future__ import annotations

import datetime as _dt


def rfc3339_nano(ts: float) -> str:
    """``2026-11-23T06:16:23.921651369Z``; whole seconds print without a fraction, as Go does."""
    whole = int(ts)
    frac_ns = round((ts - whole) * 1e9)
    if frac_ns >= 1_000_000_000:
        whole += 1
        frac_ns -= 1_000_000_000
    base = _dt.datetime.fromtimestamp(whole, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac_ns == 0:
        return base + "Z"
    return base + "." + f"{frac_ns:09d}".rstrip("0") + "Z"


def rfc3339_seconds(ts: float) -> str:
    return _dt.datetime.fromtimestamp(int(ts), tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 time (nanoseconds allowed) to a Unix timestamp."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    frac = 0.0
    if "." in t:
        head, rest = t.split(".", 1)
        digits = ""
        for ch in rest:
            if ch.isdigit():
                digits += ch
            else:
                break
        tz = rest[len(digits) :]
        frac = float("0." + digits) if digits else 0.0
        t = head + tz
    return _dt.datetime.fromisoformat(t).timestamp() + frac

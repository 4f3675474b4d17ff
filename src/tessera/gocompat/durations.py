"""Go durations: ``time.ParseDuration``, ``time.Duration.String()`` and Vault's parseutil.

Vault accepts durations as integers (seconds), numeric strings, Go duration strings ("1h30m")
and a ``d`` suffix for days, and prints them the Go way ("768h0m0s").
"""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_MAX_SECONDS = (2**63 - 1) // 1_000_000_000
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zµμ]*)")
_INTEGER = re.compile(r"[+-]?\d+")
_DAYS = re.compile(r"-?\d+d")


class DurationError(ValueError):
    """Carries Go's exact error text, e.g. ``time: invalid duration "abc"``."""


def parse_go_duration(text: str) -> float:
    """Parse a Go ``time.ParseDuration`` string into seconds."""
    quoted = '"' + text + '"'
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if text == "":
        raise DurationError(f"time: invalid duration {quoted}")
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m:
            raise DurationError(f"time: invalid duration {quoted}")
        number, unit = m.group(1), m.group(2)
        if unit == "":
            raise DurationError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise DurationError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number) * _UNITS[unit]
        pos = m.end()
    if total > _MAX_SECONDS:
        raise DurationError(f"time: invalid duration {quoted}")  # Go's int64 nanoseconds overflow
    return sign * total


# Parsed strings: clients send the same few ("1h", "768h", "30m") on every request.
_PARSED: dict[str, int] = {}
_PARSED_MAX = 1024


def parse_duration_second(value: object) -> int:
    """Vault's parseutil.ParseDurationSecond: returns whole seconds (may be negative).

    Beyond Go's time.Duration (about 292 years) Go wraps around silently; here it is refused, so
    that no out-of-range integer reaches storage (orjson, like Go, holds 64 bits at most).
    """
    if type(value) is str:
        cached = _PARSED.get(value)
        if cached is not None:
            return cached
    seconds = _parse_duration_second(value)
    if abs(seconds) > _MAX_SECONDS:
        raise DurationError(f"could not parse duration from input {value!r}")
    if type(value) is str and len(_PARSED) < _PARSED_MAX:
        _PARSED[value] = seconds  # only valid inputs: errors are raised afresh each time
    return seconds


def _parse_duration_second(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise DurationError(f"could not parse duration from input {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return int(parse_go_duration(_float_text(value)))
    if isinstance(value, str):
        s = value.strip()
        if s == "":
            return 0
        if _DAYS.fullmatch(s):
            return int(s[:-1]) * 86400
        if _INTEGER.fullmatch(s):
            return int(s)
        return int(parse_go_duration(s))
    raise DurationError(f"could not parse duration from input {value!r}")


def _float_text(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def format_go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``: 2764800 → "768h0m0s", 90 → "1m30s", 0 → "0s"."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    ns = round(abs(seconds) * 1e9)
    if ns < 1_000_000_000:
        if ns < 1000:
            return f"{sign}{ns}ns"
        if ns < 1_000_000:
            return f"{sign}{_trim(ns / 1000)}µs"
        return f"{sign}{_trim(ns / 1_000_000)}ms"
    whole, frac = divmod(ns, 1_000_000_000)
    hours, rem = divmod(whole, 3600)
    minutes, secs = divmod(rem, 60)
    sec_text = _trim(secs + frac / 1e9) if frac else str(secs)
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{sign}{minutes}m{sec_text}s"
    return f"{sign}{sec_text}s"


def human_duration(seconds: float) -> str:
    """Vault's humanDuration: Go's form without zero minutes/seconds (``768h``, ``1h30s``)."""
    if seconds == 0:
        return "0s"
    text = format_go_duration(seconds)
    if text.endswith("m0s"):
        text = text[:-2]
    idx = text.find("h0m")
    if idx > 0:
        text = text[: idx + 1] + text[idx + 3 :]
    return text


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")

"""Go durations for the CLI: parse flag values and print them as Vault does.

A local copy of the few helpers the CLI needs, so that ``tessera`` starts without importing the
server framework.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zµμ]*)")


def parse_go_duration(text: str) -> float:
    """time.ParseDuration, in seconds, with Go's error texts."""
    quoted = f'"{text}"'
    s = text
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(f"time: invalid duration {quoted}")
        number, unit = m.group(1), m.group(2)
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number) * _UNITS[unit]
        pos = m.end()
    return sign * total


def parse_duration_second(text: str) -> int:
    """parseutil.ParseDurationSecond: integers are seconds, ``Nd`` days, else a Go duration."""
    s = text.strip()
    if s == "":
        return 0
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    if re.fullmatch(r"\d+d", s):
        return int(s[:-1]) * 86400
    return int(parse_go_duration(s))


def format_go_duration(seconds: int) -> str:
    """time.Duration.String() for whole seconds: 2764800 -> ``768h0m0s``, 0 -> ``0s``."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    s = abs(int(seconds))
    hours, rem = divmod(s, 3600)
    minutes, secs = divmod(rem, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def human_duration(seconds: int) -> str:
    """The CLI's humanDuration: Go's string without the trailing zero units (``768h``, ``1h30s``)."""
    if seconds == 0:
        return "0s"
    text = format_go_duration(seconds)
    if text.endswith("m0s"):
        text = text[:-2]
    idx = text.find("h0m")
    if idx > 0:
        text = text[: idx + 1] + text[idx + 3 :]
    return text

"""Times as Go's ``time.Time`` prints and parses them in RFC 3339 (``time.RFC3339Nano``).

Go drops trailing zeros of the fraction (and the dot with them), writes ``Z`` for a zero offset,
and always prints four-digit years (the zero time is ``0001-01-01T00:00:00Z``).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
import time

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


def rfc3339_nano_ns(ns: int, offset_minutes: int = 0) -> str:
    """RFC3339Nano of Unix nanoseconds, shown at ``offset_minutes`` east of UTC."""
    secs, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(secs + offset_minutes * 60)
    text = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def rfc3339_nano(ts: float) -> str:
    """``2026-11-23T06:16:23.921651369Z`` for Unix seconds; whole seconds print without a fraction."""
    whole = int(ts)
    frac_ns = round((ts - whole) * 1e9)  # split first: ts * 1e9 would lose the low digits
    return rfc3339_nano_ns(whole * 1_000_000_000 + frac_ns)


def rfc3339_seconds(ts: float) -> str:
    """Go's time.RFC3339 in UTC: whole seconds only."""
    return rfc3339_nano_ns(int(ts) * 1_000_000_000)


def rfc3339_datetime(moment: _dt.datetime) -> str:
    """RFC3339Nano in UTC of an aware datetime (microsecond precision)."""
    utc = moment.astimezone(_dt.UTC)
    return rfc3339_nano_ns(calendar.timegm(utc.timetuple()) * 1_000_000_000 + utc.microsecond * 1000)


def now_rfc3339_nano() -> str:
    """``time.Now().UTC().Format(time.RFC3339Nano)``."""
    return rfc3339_nano_ns(time.time_ns())


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 time as Go's time.Parse reads it (year 1 included)."""
    m = _RFC3339.match(text or "")
    if m is None:
        raise ValueError(f"parsing time {text!r}: not RFC 3339")
    year, month, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    _dt.datetime(year, month, day, hour, minute, sec)  # Go refuses out-of-range fields too
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    base = calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        base -= offset if m.group(9) == "+" else -offset
    return base + frac

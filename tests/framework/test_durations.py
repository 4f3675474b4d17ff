"""Durations parse and print exactly as Go and Vault's parseutil do (spec tokens.md §2, row 41-43)."""

from __future__ import annotations

import pytest

from tessera.framework.durations import (
    DurationError,
    format_go_duration,
    format_human_duration,
    parse_duration_second,
)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("15m", 900),
        (3600, 3600),
        ("3600", 3600),
        ("1d", 86400),
        ("1h30m", 5400),
        ("7200s", 7200),
        ("768h", 2764800),
        ("0", 0),
        (0, 0),
        ("", 0),
        ("-5", -5),
        (90.0, 90),
        ("1.5h", 5400),
        ("500ms", 0),
    ],
)
def test_parse_duration_second(raw: object, seconds: int) -> None:
    assert parse_duration_second(raw) == seconds


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", 'time: invalid duration "abc"'),
        (1.5, 'time: missing unit in duration "1.5"'),
        ("1.5", 'time: missing unit in duration "1.5"'),
        ("5y", 'time: unknown unit "y" in duration "5y"'),
    ],
)
def test_parse_duration_errors(raw: object, message: str) -> None:
    with pytest.raises(DurationError) as exc:
        parse_duration_second(raw)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("seconds", "go", "human"),
    [
        (0, "0s", "0s"),
        (2764800, "768h0m0s", "768h"),
        (2764786, "767h59m46s", "767h59m46s"),
        (5400, "1h30m0s", "1h30m"),
        (90, "1m30s", "1m30s"),
        (59, "59s", "59s"),
        (3600, "1h0m0s", "1h"),
    ],
)
def test_format(seconds: int, go: str, human: str) -> None:
    assert format_go_duration(seconds) == go
    assert format_human_duration(seconds) == human

"""Durations parse and print exactly as Go and Vault's parseutil do (spec tokens.md §2, row 41-43)."""

from __future__ import annotations

import pytest

from tessera.gocompat.durations import (
    DurationError,
    format_go_duration,
    human_duration,
    parse_duration_second,
    parse_go_duration,
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
    assert human_duration(seconds) == human


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1.5, "1.5s"),
        (0.0015, "1.5ms"),
        (0.000002, "2µs"),
        (1e-9, "1ns"),
        (-90, "-1m30s"),
        (3630, "1h0m30s"),
        (90.25, "1m30.25s"),
    ],
)
def test_format_fractions_and_signs(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


def test_human_duration_drops_zero_units_inside() -> None:
    assert human_duration(3630) == "1h30s"
    assert human_duration(3660) == "1h1m"


@pytest.mark.parametrize("text", ["", "-", "+", "1", ".s", "1.5"])
def test_parse_go_duration_refuses(text: str) -> None:
    with pytest.raises(DurationError):
        parse_go_duration(text)


def test_parse_go_duration() -> None:
    assert parse_go_duration("1h2m3.5s") == 3723.5
    assert parse_go_duration("-1.5h") == -5400
    assert parse_go_duration("0") == 0
    assert parse_go_duration("300ms") == pytest.approx(0.3)
    assert parse_go_duration("1µs") == pytest.approx(1e-6)
    assert parse_duration_second("-2d") == -172800

"""RFC 3339 times as Go's time.Time prints and parses them, and Go type names."""

from __future__ import annotations

import datetime

import pytest

from tessera.gocompat.times import (
    now_rfc3339_nano,
    parse_rfc3339,
    rfc3339_datetime,
    rfc3339_nano,
    rfc3339_nano_ns,
    rfc3339_seconds,
)
from tessera.gocompat.types import GO_FIELD_TYPES, go_type, json_kind


@pytest.mark.parametrize(
    ("ns", "offset", "text"),
    [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1_500_000_000, 0, "1970-01-01T00:00:01.5Z"),
        (1_000_000_001, 0, "1970-01-01T00:00:01.000000001Z"),
        (1_500_000_000, 120, "1970-01-01T02:00:01.5+02:00"),
        (0, -330, "1969-12-31T18:30:00-05:30"),
        (-62135596800 * 10**9, 0, "0001-01-01T00:00:00Z"),
    ],
)
def test_rfc3339_nano_ns(ns: int, offset: int, text: str) -> None:
    assert rfc3339_nano_ns(ns, offset) == text


def test_float_seconds_and_whole_seconds() -> None:
    assert rfc3339_nano(1_764_000_000.25) == "2025-11-24T16:00:00.25Z"
    assert rfc3339_nano(1_764_000_000.0) == "2025-11-24T16:00:00Z"
    assert rfc3339_seconds(1_764_000_000.9) == "2025-11-24T16:00:00Z"


def test_datetime_is_shown_in_utc_with_microseconds() -> None:
    tz = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2026, 1, 2, 5, 4, 5, 120000, tzinfo=tz)
    assert rfc3339_datetime(moment) == "2026-01-02T03:04:05.12Z"


def test_now_has_go_shape() -> None:
    text = now_rfc3339_nano()
    assert text.endswith("Z") and abs(parse_rfc3339(text) - datetime.datetime.now().timestamp()) < 5


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("1970-01-01T00:00:01.5Z") == 1.5
    assert parse_rfc3339("1970-01-01T02:00:00+02:00") == 0
    assert parse_rfc3339("1970-01-01t00:00:00.000000001z") == pytest.approx(1e-9)
    assert parse_rfc3339("0001-01-01T00:00:00Z") == -62135596800
    for bad in ("tomorrow", "2026-13-01T00:00:00Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00Z\n"):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)


@pytest.mark.parametrize(
    ("value", "number", "plain"),
    [
        (None, "<nil>", "<nil>"),
        (True, "bool", "bool"),
        (1, "json.Number", "int"),
        (1.5, "json.Number", "float64"),
        ("s", "string", "string"),
        ([1], "[]interface {}", "[]interface {}"),
        ({"a": 1}, "map[string]interface {}", "map[string]interface {}"),
        (b"x", "interface {}", "interface {}"),
    ],
)
def test_go_type(value: object, number: str, plain: str) -> None:
    assert go_type(value) == number
    assert go_type(value, json_number=False) == plain


def test_json_kind_and_field_types() -> None:
    kinds = [json_kind(v) for v in (None, False, 3, 2.5, "s", [], {})]
    assert kinds == ["null", "bool", "number", "number", "string", "array", "object"]
    assert GO_FIELD_TYPES[list] == "[]string"

"""``check_complexity`` and ``check_raw_strings`` (framework/body.py): their shortcuts for small
bodies refuse exactly what the full walk and count refuse."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.framework.body import (
    MAX_JSON_DEPTH,
    MAX_JSON_STRINGS,
    check_complexity,
    check_raw_strings,
    parse_body,
)
from tessera.framework.errors import CodedError


def _walk_refuses(value: Any) -> bool:
    """The limits counted the long way: every string (keys included) and every level."""

    def strings(item: Any) -> int:
        if isinstance(item, dict):
            return len(item) + sum(strings(v) for v in item.values())
        if isinstance(item, list):
            return sum(strings(v) for v in item)
        return 1 if isinstance(item, str) else 0

    def depth(item: Any) -> int:
        if isinstance(item, dict):
            return 1 + max((depth(v) for v in item.values()), default=0)
        if isinstance(item, list):
            return 1 + max((depth(v) for v in item), default=0)
        return 0

    return strings(value) > MAX_JSON_STRINGS or depth(value) > MAX_JSON_DEPTH


def _refused(check: Any, value: Any) -> bool:
    try:
        check(value)
    except CodedError:
        return True
    return False


@pytest.mark.parametrize("entries", [1, 2, 499, 500, 501, 700])
def test_flat_bodies_at_the_string_limit(entries: int) -> None:
    """A flat dict of n string entries is 2n strings: 500 pass, 501 are refused."""
    body = {f"k{i}": "v" for i in range(entries)}
    assert _refused(check_complexity, body) == (2 * entries > MAX_JSON_STRINGS)
    body = {f"k{i}": 1 for i in range(entries)}  # numbers are no strings: only the keys count
    assert _refused(check_complexity, body) == (entries > MAX_JSON_STRINGS)


def test_a_nested_value_takes_the_walk() -> None:
    assert _refused(check_complexity, {"a": ["x"] * MAX_JSON_STRINGS})
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    assert _refused(check_complexity, {"a": deep})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=40) | st.dictionaries(st.text(max_size=3), inner, max_size=40),
    max_leaves=1500,
)


@given(json_values)
def test_check_complexity_refuses_as_the_full_walk(value: Any) -> None:
    assert _refused(check_complexity, value) == _walk_refuses(value)


@given(st.binary(max_size=2 * MAX_JSON_STRINGS + 10))
def test_short_texts_are_never_counted_over(raw: bytes) -> None:
    """Over the limit needs more than 2,000 quotes, so more than 2,000 bytes."""
    quoted = len(re.findall(rb'"(?:[^"\\]|\\.)*"', raw)) > MAX_JSON_STRINGS
    assert _refused(check_raw_strings, raw) == quoted


def test_a_login_body_parses_as_before() -> None:
    body = {"role": "deploy", "jwt": "e" * 900}
    assert parse_body(orjson.dumps(body), "application/json") == body

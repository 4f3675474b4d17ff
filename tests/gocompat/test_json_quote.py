"""Go's encoding/json and strconv.Quote, byte for byte."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.gocompat.json import go_escape, go_json, go_json_exact
from tessera.gocompat.quote import go_quote, go_quote_list


def test_go_json_escapes_html_and_line_separators() -> None:
    assert go_json({"a": "<b>&\u2028\u2029"}) == b'{"a":"\\u003cb\\u003e\\u0026\\u2028\\u2029"}'


def test_go_json_keeps_non_ascii_and_order() -> None:
    assert go_json({"z": "é日本", "a": 1}) == '{"z":"é日本","a":1}'.encode()


def test_go_json_exact_big_integers_sorted_and_indented() -> None:
    assert go_json_exact({"b": 2**70, "a": "&"}) == b'{"b":1180591620717411303424,"a":"\\u0026"}'
    assert (
        go_json_exact({"b": 1, "a": [1]}, sort_keys=True, indent=2)
        == b'{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    )
    assert go_json_exact({"t": object()}, default=lambda _: "x") == b'{"t":"x"}'


def test_go_escape_text() -> None:
    assert go_escape('"<>&\u2028\u2029é"') == '"\\u003c\\u003e\\u0026\\u2028\\u2029é"'


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("", '""'),
        ("c", '"c"'),
        ('a"b\\', '"a\\"b\\\\"'),
        ("a\tb\n\r", '"a\\tb\\n\\r"'),
        ("\a\b\f\v", '"\\a\\b\\f\\v"'),
        ("\x01\x7f", '"\\x01\\x7f"'),
        ("é ü 日本", '"é ü 日本"'),
        ("\u00a0\u200b\u2028", '"\\u00a0\\u200b\\u2028"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("😀", '"😀"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_go_quote_list() -> None:
    assert go_quote_list(["a", 'b"c']) == '["a" "b\\"c"]'
    assert go_quote_list([]) == "[]"
    assert go_quote_list(None) == "[]"


@given(st.text(alphabet=st.sampled_from("a<>&é\u2020\u2026\u2028\u2029\u20ac\u3000")))
def test_go_json_escapes_exactly_what_go_escape_does(text: str) -> None:
    """The byte scans (with the separators' shared lead bytes, which the dagger and the ellipsis
    share too) give the escaping of the text-level reference."""
    assert go_json({"t": text}) == go_escape(orjson.dumps({"t": text}).decode()).encode()

"""The positional HCL v1 / JSON reader: structure, values, positions and Go's error texts."""

from __future__ import annotations

import pytest

from tessera import hcl


def test_blocks_keep_duplicates_keys_and_assign_lines() -> None:
    items = hcl.parse('path "a" {\n  capabilities = ["read"]\n}\npath "a" { x = 1 }\nname = "n"')
    assert [[k.value() for k in i.keys] for i in items] == [["path", "a"], ["path", "a"], ["name"]]
    first = items[0].val
    assert isinstance(first, hcl.ObjectNode)
    assert first.items[0].assign.line == 2
    assert str(items[0].pos) == "1:1"
    assert items[2].assign == hcl.Pos(5, 6)


def test_literal_values() -> None:
    text = 'a = "x\\ty\\u00e9"\nb = 0x1F\nc = 017\nd = 1.5\ne = true\nf = <<EOF\nline\nEOF\ng = <<-EOT\n  x\n  y\n  EOT\n'
    values = {i.key(): i.val.tok.value() for i in hcl.parse(text)}  # type: ignore[union-attr]
    assert values == {"a": "x\tyé", "b": 31, "c": 15, "d": 1.5, "e": True, "f": "line\n", "g": "x\ny\n"}


def test_interpolation_is_left_raw_and_comments_are_skipped() -> None:
    items = hcl.parse('# c\na = "${x["k"]}" // tail\n/* block\ncomment */ b = 2')
    assert [i.key() for i in items] == ["a", "b"]
    assert items[0].val.tok.value() == '${x["k"]}'  # type: ignore[union-attr]


def test_lists_and_nested_objects() -> None:
    (item,) = hcl.parse('a = [1, "two", [3], {k = "v"}, true,]')
    node = item.val
    assert isinstance(node, hcl.ListNode)
    assert [type(n).__name__ for n in node.items] == [
        "Literal",
        "Literal",
        "ListNode",
        "ObjectNode",
        "Literal",
    ]


def test_json_is_flattened_like_hcl() -> None:
    items = hcl.parse('{"path": {"a": {"capabilities": ["read"]}, "b/*": {"policy": "write"}}}')
    assert [[k.value() for k in i.keys] for i in items] == [["path", "a"], ["path", "b/*"]]
    items = hcl.parse('{"path": [{"a": {"x": 1}}, {"b": {"y": 2}}]}')
    assert [[k.value() for k in i.keys] for i in items] == [["path", "a"], ["path", "b"]]


def test_json_is_lenient_like_go() -> None:
    assert len(hcl.parse('{"path":{"a":{"capabilities":["read"]}}')) == 1
    assert len(hcl.parse('{"a": 1,}')) == 1
    assert hcl.parse("{}") == []


def test_filter_is_case_insensitive_and_strips_the_key() -> None:
    items = hcl.parse('PATH "a" {}\npath "b" "c" {}\nother = 1')
    assert [[k.value() for k in i.keys] for i in hcl.filter_items(items, "path")] == [["a"], ["b", "c"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'path "a" { capabilities = ["read" }',
            "At 1:35: error parsing list, expected comma or list end, got: RBRACE",
        ),
        ('path "a" { capabilities = ["read"] ', "At 1:37: object expected closing RBRACE got: EOF"),
        (
            'path "a" { capabilities = ["read"] }}',
            "At 1:37: expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE",
        ),
        ("x", "At 1:3: key 'x' expected start of object ('{') or assignment ('=')"),
        ("a b = 1", "At 1:5: nested object expected: LBRACE got: ASSIGN"),
        ("= 1", "At 1:1: no object keys found!"),
        ('path "a" { capabilities = }', "At 1:27: Unknown token: 1:27 RBRACE }"),
        ('path "a', "At 1:8: literal not terminated"),
        ("/* open", "At 1:8: comment not terminated"),
        ('a = "\\q"', "At 1:7: illegal char escape"),
        ("a = 0x", "At 1:7: illegal hexadecimal number"),
        ("a = <<\nx\n", "At 1:7: zero-length heredoc anchor"),
        ("a = @", "At 1:5: illegal char"),
        ('{"a":@}', "1:6: illegal char: @"),
        ('{"a":tru}', "1:8: illegal char"),
        ('{"a" 1}', "expected: STRING got: NUMBER"),
        ('{"a":[', "unexpected token while parsing list: EOF"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(hcl.HCLError) as exc:
        hcl.parse(text)
    assert str(exc.value) == message


def test_go_parse_int() -> None:
    assert hcl.go_parse_int("-0x10") == -16
    assert hcl.go_parse_int("010") == 8
    for bad in ("", "08", "1.5", "x"):
        with pytest.raises(ValueError, match="invalid syntax"):
            hcl.go_parse_int(bad)
    with pytest.raises(ValueError, match="out of range"):
        hcl.go_parse_int(str(2**63))

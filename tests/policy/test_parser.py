"""Policy documents to PathRules, and the exact error texts of the reference."""

from __future__ import annotations

import time

import pytest

from tessera.gocompat.quote import go_quote
from tessera.policy.parser import (
    DENY,
    LIST,
    READ,
    PolicyParseError,
    TemplateInput,
    duration_seconds,
    parse_absolute_time,
    parse_policy,
)


def rules(text: str) -> dict[str, object]:
    return {r.key: r for r in parse_policy(text).paths}


def test_capabilities_prefix_and_segment_flags() -> None:
    got = rules(
        'path "/secret/*" { capabilities = ["read", "list"] }\n'
        'path "a/+/b*" { capabilities = ["update"] }\n'
        'path "exact" { capabilities = ["create"] }'
    )
    star = got["/secret/*"]
    assert (star.path, star.is_prefix, star.bitmap) == ("secret/", True, READ | LIST)  # type: ignore[attr-defined]
    seg = got["a/+/b*"]
    assert (seg.path, seg.is_prefix, seg.has_segment_wildcards) == ("a/+/b*", False, True)  # type: ignore[attr-defined]
    assert got["exact"].capabilities == ["create"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "caps"),
    [
        ('policy = "read"', ["read", "list"]),
        ('policy = "write"', ["create", "read", "update", "delete", "list"]),
        ('policy = "sudo"', ["create", "read", "update", "delete", "list", "sudo"]),
        ('policy = "deny"\n capabilities = ["update"]', ["deny"]),
        ('capabilities = ["update"]\n policy = "read"', ["update", "read", "list"]),
        ('capabilities = ["read", "deny", "bogus"]', ["deny"]),
        ('capabilities = ["read"]\n capabilities = ["list"]', ["read", "list"]),
    ],
)
def test_old_style_and_deny(body: str, caps: list[str]) -> None:
    (rule,) = parse_policy(f'path "p" {{ {body} }}').paths
    assert rule.capabilities == caps
    assert bool(rule.bitmap & DENY) == (caps == ["deny"])


def test_parameters_wrapping_and_pagination() -> None:
    (rule,) = parse_policy(
        'path "p" {\n capabilities = ["create"]\n allowed_parameters = { "Foo" = ["x", 1, true], "*" = [] }\n'
        ' allowed_parameters { bar = [] }\n denied_parameters = { "b" = [["n"]] }\n required_parameters = ["A"]\n'
        ' min_wrapping_ttl = "1.5s"\n max_wrapping_ttl = 90\n pagination_limit = "0x10"\n comment = "why"\n}'
    ).paths
    assert rule.allowed_parameters == {"foo": ["x", 1, True], "*": [], "bar": []}
    assert rule.denied_parameters == {"b": [["n"]]}
    assert rule.required_parameters == ["A"]
    assert (rule.min_wrapping_ttl, rule.max_wrapping_ttl, rule.pagination_limit) == (1.5, 90.0, 16)


def test_expired_blocks_are_dropped_even_when_invalid() -> None:
    policy = parse_policy(
        'path "old" { capabilities = ["fly"]\n expiration = "2001-01-01T00:00:00Z" }\n'
        'path "new" { capabilities = ["read"]\n expiration = 32503680000 }'
    )
    assert [r.key for r in policy.paths] == ["new"]
    assert policy.paths[0].expiration == 32503680000


def test_templated_flag_and_filling() -> None:
    text = 'path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }\npath "plain" { capabilities = ["read"] }'
    policy = parse_policy(text)
    assert policy.templated
    filled = parse_policy(text, template=TemplateInput(entity={"id": "e1"}))
    assert [r.path for r in filled.paths] == ["secret/e1/", "plain"]
    assert [r.path for r in parse_policy(text, template=TemplateInput()).paths] == ["plain"]
    slashy = TemplateInput(entity={"id": "a/b"})
    assert [r.path for r in parse_policy(text, template=slashy).paths] == ["plain"]
    slashy.allow_slashes = True
    assert [r.path for r in parse_policy(text, template=slashy).paths] == ["secret/a/b/", "plain"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('path "a" { capabilities = ["fly"] }', 'path "a": path "a": invalid capability "fly"'),
        (
            'path "/a/+*" { capabilities = ["read"] }',
            'path "/a/+*": path "a/+*": invalid use of wildcards (\'+*\' is forbidden)',
        ),
        ('path "a" { policy = "superuser" }', 'path "a": path "a": invalid policy "superuser"'),
        ("foo {}", '1 error occurred:\n\t* invalid key "foo" on line 0\n\n'),
        (
            'path "a" {\n bogus = 1\n x {}\n}',
            'path "a": 2 errors occurred:\n\t* invalid key "bogus" on line 2\n\t* invalid key "x" on line 0\n\n',
        ),
        (
            'path "a" { min_wrapping_ttl = "10m" max_wrapping_ttl = "1m" }',
            'path "a": max_wrapping_ttl cannot be less than min_wrapping_ttl',
        ),
        (
            'path "a" { max_wrapping_ttl = "abc" }',
            'path "a": error parsing max_wrapping_ttl: time: invalid duration "abc"',
        ),
        (
            'path "a" { min_wrapping_ttl = true }',
            'path "a": error parsing min_wrapping_ttl: could not parse duration from input',
        ),
        (
            'path "a" { capabilities = "read" }',
            'path "a": path "a": At 1:27: unknown slice type: *ast.LiteralType',
        ),
        (
            'path "a" { capabilities = ["read", true] }',
            'path "a": path "a": At 1:36: root.Capabilities[1]: unknown type for string *ast.LiteralType',
        ),
        (
            'path "a" { policy = {} }',
            'path "a": path "a": At -: root.Policy: unknown type for string *ast.ObjectList',
        ),
        (
            'path "a" { allowed_parameters = ["a"] }',
            'path "a": path "a": At 1:33: root.allowed_parameters: not an object type for map (*ast.ListType)',
        ),
        (
            'path "a" { pagination_limit = "x" }',
            'path "a": path "a": strconv.ParseInt: parsing "x": invalid syntax',
        ),
        (
            'path "a" { expiration = "soon" }',
            'path "a": path "a": invalid expiration time: could not parse string as date and time',
        ),
        (
            'path "{{identity.entity.id" {}',
            'path "{{identity.entity.id": failed to validate policy templating: unbalanced templating characters',
        ),
        (
            'path "a" { capabilities = ["read"]\n list_scan_response_keys_filter_path = "x" }',
            'path "a": list_scan_response_keys_filter_path needs to be used on a path with the list capability',
        ),
        ('path = "x"', 'path "path": cannot check HCL keys of type *ast.LiteralType'),
        (
            'path "a" { control_group = {} }',
            'path "a": error handling control_group: 1 error occurred:\n\t* requires at least one factor but had none\n\n',
        ),
        ('path "a\\tb" { capabilities = ["x"] }', 'path "a\\tb": path "a\\tb": invalid capability "x"'),
        (
            '{"path":{"a":{"capabilities":"read"}}}',
            'path "a": path "a": At -: unknown slice type: *ast.LiteralType',
        ),
        (
            'path "a" { capabilities = ["read" }',
            "At 1:35: error parsing list, expected comma or list end, got: RBRACE",
        ),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(PolicyParseError) as exc:
        parse_policy(text)
    assert str(exc.value) == "failed to parse policy: " + message


def test_helpers() -> None:
    assert go_quote('a"b\\c\n\x01é\u200b') == '"a\\"b\\\\c\\n\\x01é\\u200b"'
    assert duration_seconds("90") == 90 and duration_seconds("2d") == 172800
    assert duration_seconds(1.9) == 1 and duration_seconds("") == 0 and duration_seconds(None) == 0
    assert duration_seconds("1.5s") == 1.5
    with pytest.raises(ValueError, match="could not parse duration"):
        duration_seconds([])
    assert parse_absolute_time("1970-01-01T00:01:00.5+00:01") == 0.5
    assert parse_absolute_time("30") == 30
    assert abs(parse_absolute_time(str(int(time.time()))) - time.time()) < 2
    with pytest.raises(ValueError):
        parse_absolute_time("2020-01-01")

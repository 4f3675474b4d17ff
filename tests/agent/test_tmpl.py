"""The template language: Go text/template semantics on Consul Template's data, evaluated safely."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.agent.tmpl import Renderer, parse
from tessera.agent.tmplfuncs import Secret, TemplateError, go_float, loads, to_json

KV2 = Secret(
    loads(
        b'{"request_id":"r","lease_id":"","lease_duration":0,"renewable":false,'
        b'"data":{"data":{"password":"s3cret","port":8080,"ratio":1.50,"tags":["a","b"],"html":"<b>&"},'
        b'"metadata":{"version":3}}}'
    )
)
KV1 = Secret(loads(b'{"lease_id":"","lease_duration":2764800,"renewable":false,"data":{"user":"app"}}'))


def render(
    text: str, dot: Any = None, *, strict: bool = False, delims: tuple[str, str] = ("{{", "}}")
) -> str:
    funcs = {"secret": lambda path, *args: KV1 if path.startswith("kv1/") else KV2}
    nodes = parse(text, funcs=set(funcs), delims=delims)
    return Renderer(funcs, error_on_missing_key=strict).render(nodes, dot)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}', "s3cret"),
        ('{{ with secret "kv1/db" }}{{ .Data.user }}{{ end }}', "app"),
        (
            '{{ with secret "x" }}{{ .Data.data | toJSON }}{{ end }}',
            '{"html":"\\u003cb\\u003e\\u0026","password":"s3cret","port":8080,"ratio":1.50,"tags":["a","b"]}',
        ),
        ('{{ with secret "x" }}{{ .Data.data.tags | toJSONPretty }}{{ end }}', '[\n  "a",\n  "b"\n]'),
        ('{{ with secret "x" }}{{ .Data.data.nope }}|{{ .Data.metadata.version }}{{ end }}', "<no value>|3"),
        ('{{ with secret "x" }}{{ .Data.data.tags }} {{ .Data.metadata }}{{ end }}', "[a b] map[version:3]"),
        ('{{ with secret "x" }}{{ .LeaseDuration }} {{ .Renewable }} {{ .LeaseID }}{{ end }}', "0 false "),
        ('{{- with secret "x" -}}\n  port={{ .Data.data.port }}\n{{- end }}\n', "port=8080\n"),
        ('{{ range $k, $v := (secret "x").Data.data.tags }}{{ $k }}={{ $v }};{{ end }}', "0=a;1=b;"),
        ('{{ range $k, $v := (secret "x").Data.metadata }}{{ $k }}:{{ $v }}{{ end }}', "version:3"),
        ('{{ range (secret "x").Data.none }}x{{ else }}empty{{ end }}', "empty"),
        (
            '{{ range $t := (secret "x").Data.data.tags }}{{ if eq $t "b" }}{{ break }}{{ end }}{{ $t }}{{ end }}',
            "a",
        ),
        ("{{ $x := 2 }}{{ if gt $x 3 }}big{{ else if gt $x 1 }}mid{{ else }}small{{ end }}", "mid"),
        ("{{ $x := 1 }}{{ $x = 7 }}{{ $x }}", "7"),
        ('{{ with $s := secret "x" }}{{ $s.Data.data.port }}{{ end }}', "8080"),
        ('{{ or "" "def" }} {{ and 1 0 }} {{ not true }} {{ len "abcd" }}', "def 0 false 4"),
        ('{{ printf "%s:%05d %q %v" "a" 42 "q\\"" 1.5 }}', 'a:00042 "q\\"" 1.5'),
        ('{{ "AbC" | toLower }} {{ "x" | base64Encode }} {{ "eA==" | base64Decode }}', "abc eA== x"),
        ('{{ index (secret "x").Data.data.tags 1 }} {{ join "," (secret "x").Data.data.tags }}', "b a,b"),
        (
            '{{ split "," "a,b" }} {{ "  pad " | trimSpace }} {{ replaceAll "a" "o" "banana" }}',
            "[a b] pad bonono",
        ),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ("{{ `raw\\n` }}", "raw\\n"),
        ("{{ 3 }} {{ 1.5 }} {{ true }} {{ nil }}", "3 1.5 true <nil>"),
        ('{{ with secret "x" }}{{ if .Data.data.password }}set{{ end }}{{ end }}', "set"),
        ('{{ (parseJSON "{\\"a\\": [1, 2]}").a }}', "[1 2]"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert render(text) == expected


def test_custom_delimiters_and_dot() -> None:
    assert render("[[ .Data.data.password ]] {{ x }}", KV2, delims=("[[", "]]")) == "s3cret {{ x }}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ foo }}", 'template: (dynamic):1: function "foo" not defined'),
        ("{{ if 1 }}", "template: (dynamic):1: unexpected EOF"),
        ("a\n{{ end }}", "template: (dynamic):2: unexpected {{end}}"),
        ('{{ define "x" }}{{ end }}', 'template: (dynamic):1: "define" is not supported'),
        ("{{ break }}", "template: (dynamic):1: {{break}} outside {{range}}"),
        ("{{ .a", "template: (dynamic):1: unclosed action"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        render(text)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{{ with secret "x" }}{{ .Data.nope.deeper }}{{ end }}',
            "nil pointer evaluating interface {}.deeper",
        ),
        ('{{ with secret "x" }}{{ .Nope }}{{ end }}', "can't evaluate field Nope in type *dependency.Secret"),
        ("{{ 3 4 }}", "can't give argument to non-function 3"),
        ("{{ $nope }}", "undefined variable: $nope"),
        ('{{ "x" | base64Decode }}', "error calling base64Decode"),
    ],
)
def test_execution_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        render(text)
    assert message in str(err.value)


def test_error_on_missing_key() -> None:
    with pytest.raises(TemplateError, match='map has no entry for key "nope"'):
        render('{{ with secret "x" }}{{ .Data.data.nope }}{{ end }}', strict=True)


def test_no_code_execution() -> None:
    """Only registered functions exist: Python names and attributes are not reachable."""
    for text in ("{{ __import__ }}", "{{ eval }}", "{{ exec }}", "{{ open }}"):
        with pytest.raises(TemplateError, match="not defined"):
            render(text)
    with pytest.raises(TemplateError, match="can't evaluate field __class__"):
        render('{{ with secret "x" }}{{ .__class__ }}{{ end }}')
    with pytest.raises(TemplateError):
        render('{{ "s".__class__ }}')
    with pytest.raises(TemplateError, match="can't evaluate field __class__ in type string"):
        render('{{ with secret "x" }}{{ .Data.data.password.__class__ }}{{ end }}')


def test_go_number_formatting() -> None:
    assert [go_float(v) for v in (1.0, 123456.0, 1234567.0, 0.0001, 0.00001, -2.5)] == [
        "1", "123456", "1.234567e+06", "0.0001", "1e-05", "-2.5",
    ]  # fmt: skip
    assert to_json({"b": [1, None], "a": "<"}) == '{"a":"\\u003c","b":[1,null]}'

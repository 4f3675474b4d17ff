"""Unit tests of the CLI's Go emulation: flags, wrapping, columns, durations, JSON and YAML."""

from __future__ import annotations

import pytest

from tessera.cli import gojson, goyaml
from tessera.cli.args import ArgsError, join_path, parse_args_data
from tessera.cli.flags import Flag, FlagError, FlagSet, wrap
from tessera.cli.output import columnize, go_time_string
from tessera.gocompat.durations import human_duration, parse_duration_second


def _fs() -> FlagSet:
    fs = FlagSet()
    g = fs.group("Command Options")
    fs.add(g, Flag("type", "string", default="service"))
    fs.add(g, Flag("orphan", "bool", default=False))
    fs.add(g, Flag("policy", "slice"))
    fs.add(g, Flag("ttl", "duration", default=0))
    return fs


@pytest.mark.parametrize(
    ("argv", "typ", "orphan", "rest"),
    [
        (["-type=batch"], "batch", False, []),
        (["-type", "batch"], "batch", False, []),
        (["--type=batch", "-orphan"], "batch", True, []),
        (["-orphan=false", "x", "-type=batch"], "service", False, ["x", "-type=batch"]),
        (["--", "-type=batch"], "service", False, ["-type=batch"]),
        (["-", "x"], "service", False, ["-", "x"]),
    ],
)
def test_go_flag_parsing(argv: list[str], typ: str, orphan: bool, rest: list[str]) -> None:
    fs = _fs()
    assert fs.parse(argv) == rest
    assert (fs["type"], fs["orphan"]) == (typ, orphan)


def test_flag_errors_are_gos() -> None:
    with pytest.raises(FlagError, match="flag provided but not defined: -x"):
        _fs().parse(["-x"])
    with pytest.raises(FlagError, match="bad flag syntax: ---x"):
        _fs().parse(["---x"])
    fs = _fs()
    fs.parse(["-policy=a", "-policy", "b", "-ttl=1h30m"])
    assert (fs["policy"], fs["ttl"]) == (["a", "b"], 5400)


@pytest.mark.parametrize(
    ("secs", "text"),
    [
        (0, "0s"),
        (2764800, "768h"),
        (2764786, "767h59m46s"),
        (3600, "1h"),
        (1800, "30m"),
        (5400, "1h30m"),
        (3630, "1h30s"),
        (59, "59s"),
    ],
)
def test_human_duration(secs: int, text: str) -> None:
    assert human_duration(secs) == text


def test_duration_parsing() -> None:
    assert parse_duration_second("90") == 90
    assert parse_duration_second("2d") == 172800
    with pytest.raises(ValueError, match='time: invalid duration "abc"'):
        parse_duration_second("abc")


def test_columnize_and_wrap() -> None:
    assert (
        columnize(["Key|Value", "---|-----", "a|", "long_key|v"])
        == "Key         Value\n---         -----\na           n/a\nlong_key    v"
    )
    text = 'Success! You are now authenticated. The token information displayed below is already stored in the token helper. You do NOT need to run "bao login" again. Future OpenBao requests will automatically use this token.'
    assert (
        wrap(text).split("\n")[1]
        == 'already stored in the token helper. You do NOT need to run "bao login" again.'
    )


def test_json_and_yaml_like_go() -> None:
    data = gojson.loads('{"b": 1.50, "a": [], "c": {}, "d": "<x>", "e": null}')
    assert (
        gojson.dumps(data)
        == '{\n  "a": [],\n  "b": 1.50,\n  "c": {},\n  "d": "\\u003cx\\u003e",\n  "e": null\n}'
    )
    assert gojson.fmt_v({"b": [1, "x"], "a": None}) == "map[a:<nil> b:[1 x]]"
    assert goyaml.dumps(
        {"t": "2026-11-23T07:25:33Z", "e": "", "v": "2", "l": ["x"], "m": None, "s": "a: b"}
    ) == ('e: ""\nl:\n- x\nm: null\ns: \'a: b\'\nt: "2026-11-23T07:25:33Z"\nv: "2"')


def test_args_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "v.txt"
    f.write_text("file")
    assert parse_args_data(["a=1", "a=2", f"b=@{f}", "c=\\@x"]) == {"a": ["1", "2"], "b": "file", "c": "@x"}
    with pytest.raises(ArgsError, match='invalid key/value pair "foo": format must be key=value'):
        parse_args_data(["foo"])
    assert join_path("secret", "data", "/a//b/") == "secret/data/a/b"


def test_go_time_string() -> None:
    assert go_time_string("2026-11-23T07:25:33.740322092Z") == "2026-11-23 07:25:33.740322092 +0000 UTC"

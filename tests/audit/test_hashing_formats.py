"""HMAC'ing, entry building and serialisation, without a server.

Expectations come from OpenBao's audit/hashstructure.go, audit/format.go and jefferai/jsonx, and
from lines the reference wrote (tests/compat/test_audit_compat.py compares live lines).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tessera.audit.formats import encode, jsonx
from tessera.audit.formatter import (
    AuthInfo,
    FormatConfig,
    LogInput,
    PolicyResults,
    RequestInfo,
    ResponseInfo,
    WrapInfoView,
    format_request,
    format_response,
)
from tessera.audit.hashing import Salt, elide_list_data, hash_structure, is_timestamp, json_copy
from tessera.gocompat.json import go_json
from tests.auth._memstore import MemStorage


def fake(value: str) -> str:
    return f"H({value})"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", True),
        ("2026-11-23T09:23:30.436139836Z", True),
        ("2026-01-02T03:04:05+02:00", True),
        ("2026-01-02T03:04:05,5Z", True),
        ("2024-02-29T00:00:00Z", True),
        ("2026-02-29T00:00:00Z", False),
        ("2026-01-02t03:04:05Z", False),
        ("2026-01-02T03:04:05", False),
        ("2026-01-02", False),
        ("2026-01-02T24:00:00Z", False),
        ("2026-13-02T03:04:05Z", False),
        ("hunter2", False),
    ],
)
def test_is_timestamp(text: str, expected: bool) -> None:
    assert is_timestamp(text) is expected


def test_hash_structure_hashes_every_string_value_but_keys_and_times() -> None:
    data = {
        "password": "p",
        "n": 5,
        "b": True,
        "nil": None,
        "t": "2026-01-02T03:04:05Z",
        "list": ["a", 1, {"k": "v"}],
        "nested": {"inner": "x", "deeper": {"y": "z"}},
    }
    assert hash_structure(json_copy(data), fake) == {
        "password": "H(p)",
        "n": 5,
        "b": True,
        "nil": None,
        "t": "2026-01-02T03:04:05Z",
        "list": ["H(a)", 1, {"k": "H(v)"}],
        "nested": {"inner": "H(x)", "deeper": {"y": "H(z)"}},
    }


def test_non_hmac_keys_apply_to_the_nearest_map_key() -> None:
    data = {
        "keep": "plain",
        "keep_list": ["a", "b"],
        "nested": {"keep": "also", "other": "o"},
        "x": {"keep": 1},
    }
    out = hash_structure(json_copy(data), fake, ["keep", "keep_list"])
    assert out == {
        "keep": "plain",
        "keep_list": ["a", "b"],
        "nested": {"keep": "also", "other": "H(o)"},
        "x": {"keep": 1},
    }


def test_json_copy_prints_integral_floats_like_go() -> None:
    assert json_copy({"a": 5.0, "b": 1.5, "c": [2.0]}) == {"a": 5, "b": 1.5, "c": [2]}


def test_salt_is_created_once_and_kept() -> None:
    storage = MemStorage()
    first = Salt.load(storage)
    again = Salt.load(storage)
    assert first.value == again.value and storage.get("salt") == first.value.encode()
    expected = hmac.new(first.value.encode(), b"secret", hashlib.sha256).hexdigest()
    assert first.identified_hmac("secret") == "hmac-sha256:" + expected


def test_elide_list_data() -> None:
    data = {"keys": ["a", "b"], "key_info": {"a": {}, "b": {}, "c": {}}, "other": ["x"]}
    elide_list_data(data)
    assert data == {"keys": 2, "key_info": 3, "other": ["x"]}


def _input() -> LogInput:
    return LogInput(
        request=RequestInfo(
            id="rid",
            client_id="cid",
            operation="update",
            mount_point="secret/",
            mount_type="kv",
            mount_accessor="kv_1234abcd",
            mount_running_version="v1+builtin",
            mount_class="secret",
            client_token="tok",
            client_token_accessor="acc",
            path="secret/data/x",
            data={"data": {"password": "p"}},
            remote_address="127.0.0.1",
            remaining_uses=2,
        ),
        auth=AuthInfo(
            client_token="tok",
            accessor="acc",
            display_name="token",
            policies=["default"],
            token_policies=["default"],
            policy_results=PolicyResults(True, ["default"]),
            metadata={"b": "2", "a": "1"},
            token_type="service",
            ttl=60,
            issue_time=0,
        ),
    )


def test_request_entry_keys_follow_the_go_struct_and_omitempty() -> None:
    entry = format_request(_input(), FormatConfig(omit_time=True), fake)
    assert list(entry) == ["type", "auth", "request"]
    assert list(entry["auth"]) == [
        "client_token",
        "accessor",
        "display_name",
        "policies",
        "token_policies",
        "policy_results",
        "metadata",
        "remaining_uses",
        "token_type",
        "token_ttl",
    ]
    assert entry["auth"]["metadata"] == {"a": "1", "b": "2"} and list(entry["auth"]["metadata"]) == ["a", "b"]
    assert entry["auth"]["policy_results"] == {
        "allowed": True,
        "granting_policies": [{"name": "default", "namespace_id": "root", "type": "acl"}],
    }
    assert entry["request"] == {
        "id": "rid",
        "client_id": "cid",
        "operation": "update",
        "mount_point": "secret/",
        "mount_type": "kv",
        "mount_accessor": "kv_1234abcd",
        "mount_running_version": "v1+builtin",
        "mount_class": "secret",
        "client_token": "H(tok)",
        "client_token_accessor": "H(acc)",
        "namespace": {"id": "root"},
        "path": "secret/data/x",
        "data": {"data": {"password": "H(p)"}},
        "remote_address": "127.0.0.1",
    }


def test_probe_like_entry_has_only_a_default_token_type() -> None:
    entry = format_request(
        LogInput(request=RequestInfo(id="x", operation="update", path="sys/audit/test")), FormatConfig(), fake
    )
    assert entry["auth"] == {"token_type": "default"}
    assert entry["request"] == {
        "id": "x",
        "operation": "update",
        "namespace": {"id": "root"},
        "path": "sys/audit/test",
    }
    assert entry["time"].endswith("Z")


def test_raw_and_accessor_switches() -> None:
    raw = format_request(_input(), FormatConfig(raw=True, omit_time=True), fake)
    assert raw["auth"]["client_token"] == "tok" and raw["request"]["data"] == {"data": {"password": "p"}}
    plain_accessor = format_request(_input(), FormatConfig(hmac_accessor=False, omit_time=True), fake)
    assert plain_accessor["auth"]["accessor"] == "acc" and plain_accessor["auth"]["client_token"] == "H(tok)"


def test_response_entry_hashes_issued_auth_and_wrap_info() -> None:
    inp = _input()
    inp.response = ResponseInfo(
        auth=AuthInfo(client_token="new", accessor="newacc", policies=["p"], token_type="batch", num_uses=3),
        data={"keys": ["a"], "safe": "s"},
        warnings=["w"],
        wrap_info=WrapInfoView(ttl=60, token="wt", accessor="wa", creation_time="2026-01-01T00:00:00Z"),
        lease_id="",
    )
    inp.non_hmac_response_keys = ["safe"]
    entry = format_response(inp, FormatConfig(omit_time=True, hmac_accessor=False), fake)
    body = entry["response"]
    assert body["auth"] == {
        "client_token": "H(new)",
        "accessor": "newacc",
        "policies": ["p"],
        "num_uses": 3,
        "token_type": "batch",
    }
    assert (
        body["secret"] == {} and body["data"] == {"keys": ["H(a)"], "safe": "s"} and body["warnings"] == ["w"]
    )
    assert body["wrap_info"] == {
        "ttl": 60,
        "token": "H(wt)",
        "accessor": "wa",
        "creation_time": "2026-01-01T00:00:00Z",
    }
    assert list(body)[:6] == [
        "auth",
        "mount_point",
        "mount_type",
        "mount_accessor",
        "mount_running_plugin_version",
        "mount_class",
    ]


def test_elided_list_response() -> None:
    inp = _input()
    inp.request.operation = "list"
    inp.response = ResponseInfo(data={"keys": ["a", "b", "c"]})
    entry = format_response(inp, FormatConfig(omit_time=True, elide_list_responses=True), fake)
    assert entry["response"]["data"] == {"keys": 3}


def test_go_json_escapes_like_encoding_json() -> None:
    assert go_json({"a": "<b>&\u2028"}) == b'{"a":"\\u003cb\\u003e\\u0026\\u2028"}'
    assert encode({"a": 1}, "json", "P:") == b'P:{"a":1}\n'


def test_jsonx_matches_jefferai_jsonx() -> None:
    entry = {"b": [1, "x<"], "a": {"k": None, "t": True}, 'q"': 1.5}
    assert jsonx(entry) == (
        '<json:object name="a"><json:null name="k" /><json:boolean name="t">true</json:boolean></json:object>'
        '<json:array name="b"><json:number>1</json:number><json:string>x<</json:string></json:array>'
        '<json:number name="q&#34;">1.5</json:number>'
    )
    assert encode({"a": "b"}, "jsonx") == b'<json:string name="a">b</json:string>'


def test_a_line_is_valid_json_with_the_schema_keys() -> None:
    line = encode(format_request(_input(), FormatConfig(), fake), "json")
    parsed = json.loads(line)
    assert parsed["type"] == "request" and parsed["request"]["namespace"] == {"id": "root"}

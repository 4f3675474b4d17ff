"""KV v1 and v2 side by side: the same requests to the reference OpenBao and to Tessera.

Each test mounts its own engine (unique path) on both servers, replays one request sequence on
both and compares status codes, envelope keys, error texts and the data after normalising what
differs by nature (request IDs, timestamps). The CLI and hvac flows are compared the same way.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import FORM, MERGE_PATCH, Both, cli_same, hvac_same, mount_kv, policy_token


@pytest.fixture
def kv1(reference: ReferenceServer, tessera: TesseraServer) -> Both:
    name = "kv1" + uuid.uuid4().hex[:8]
    mount_kv(reference, name, None)
    mount_kv(tessera, name, None)
    return Both(reference, tessera, name)


@pytest.fixture
def kv2(reference: ReferenceServer, tessera: TesseraServer) -> Both:
    name = "kv2" + uuid.uuid4().hex[:8]
    mount_kv(reference, name, "2")
    mount_kv(tessera, name, "2")
    return Both(reference, tessera, name)


# -- KV v1 ---------------------------------------------------------------------------------------


def test_v1_write_read_list_delete(kv1: Both) -> None:
    m = kv1.m
    kv1.same("PUT", f"{m}/a", json={"x": 1, "f": 1.5, "b": True, "n": None, "nested": {"k": [1, "2"]}})
    kv1.same("GET", f"{m}/a")
    kv1.same("POST", f"{m}/a", json={"x": "overwritten"})
    kv1.same("GET", f"{m}/a")
    kv1.same("PUT", f"{m}/dir/b", json={"y": "z"})
    kv1.same("PUT", f"{m}/dir/sub/c", json={"y": "z"})
    kv1.same("LIST", f"{m}/")
    kv1.same("GET", m, params={"list": "true"})
    kv1.same("LIST", f"{m}/dir")
    kv1.same("LIST", f"{m}/nothing/")
    kv1.same("SCAN", f"{m}/")
    kv1.same("SCAN", f"{m}/dir")
    kv1.same("GET", m, params={"scan": "true"})
    kv1.same("GET", f"{m}/missing")
    kv1.same("DELETE", f"{m}/a")
    kv1.same("DELETE", f"{m}/a")
    kv1.same("GET", f"{m}/a")
    kv1.same("GET", f"{m}/")


def test_v1_read_bytes_escape_as_go(kv1: Both) -> None:
    """The envelope's bytes, not just its JSON: Go escapes <, >, & and U+2028/U+2029 in strings."""
    bodies = []
    for server in (kv1.ref, kv1.tes):
        url = f"{server.addr}/v1/{kv1.m}/esc"
        headers = {"X-Vault-Token": str(server.root_token)}
        assert requests.put(url, json={"v": "a\u2028b\u2029c<d>&"}, headers=headers, timeout=10).ok
        raw = requests.get(url, headers=headers, timeout=10).content
        bodies.append(raw[raw.index(b'"data"') : raw.index(b'"wrap_info"')])
    assert bodies[0] == bodies[1]
    assert b"\\u2028" in bodies[1] and b"\\u003c" in bodies[1]


def test_v1_ttl_hint_becomes_lease_duration(kv1: Both) -> None:
    m = kv1.m
    for key, body in {
        "t30m": {"v": 1, "ttl": "30m"},
        "tnum": {"ttl": 90},
        "tzero": {"ttl": 0},
        "tneg": {"ttl": -5},
        "tbad": {"ttl": "bogus"},
        "lease": {"lease": "1h"},
        "both": {"ttl": "2m", "lease": "1h"},
        "big": {"ttl": "9999h"},
        "none": {"v": 1},
    }.items():
        kv1.same("PUT", f"{m}/{key}", json=body)
        ref, _ = kv1.same("GET", f"{m}/{key}")
        assert ref["lease_id"] == "" and ref["renewable"] is False


def test_v1_bad_writes(kv1: Both) -> None:
    m = kv1.m
    kv1.same("PUT", f"{m}/empty", json={})
    kv1.same("PUT", f"{m}/nobody")
    kv1.same("PUT", f"{m}/null", data=b"null", headers={"Content-Type": "application/json"})
    kv1.same("PUT", f"{m}/folder/", json={"a": 1})
    kv1.same("PUT", f"{m}/", json={"a": 1})
    kv1.same("PUT", f"{m}/arr", data=b"[1,2]", headers={"Content-Type": "application/json"})
    kv1.same("PUT", f"{m}/form", data=b"a=1&b=2&b=3", headers=FORM)
    kv1.same("GET", f"{m}/form")


def test_v1_upgrade_to_v2_keeps_keys_as_version_1(kv1: Both) -> None:
    m = kv1.m
    kv1.same("PUT", f"{m}/a", json={"x": 1})
    kv1.same("PUT", f"{m}/d/b", json={"y": "2", "ttl": "1h"})
    for server in (kv1.ref, kv1.tes):
        status, body, _ = server.call("POST", f"sys/mounts/{m}/tune", json={"options": {"version": "2"}})
        assert status in (200, 204), body
    # The reference upgrades in the background: wait until it answers.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, _, _ = call(kv1.ref.addr, "GET", f"{m}/data/a", "root")
        if status == 200:
            break
        time.sleep(0.2)
    kv1.same("GET", f"{m}/data/a")
    kv1.same("GET", f"{m}/data/d/b")
    kv1.same("LIST", f"{m}/metadata/")
    kv1.same("GET", f"{m}/metadata/d/b")
    kv1.same("PUT", f"{m}/data/a", json={"data": {"x": 2}, "options": {"cas": 1}})
    kv1.same("GET", f"{m}/data/a", params={"version": "1"})


# -- KV v2: data ---------------------------------------------------------------------------------


def test_v2_write_read_versions_and_cas(kv2: Both) -> None:
    m = kv2.m
    kv2.same("GET", f"{m}/config")
    kv2.same("PUT", f"{m}/data/app", json={"data": {"a": "b", "n": 1, "deep": {"x": [1, 2]}}, "options": {}})
    kv2.same("GET", f"{m}/data/app")
    kv2.same("POST", f"{m}/data/app", json={"data": {"a": "c"}, "options": {"cas": 1}})
    kv2.same("PUT", f"{m}/data/app", json={"data": {"a": "d"}, "options": {"cas": 1}})
    kv2.same("PUT", f"{m}/data/app", json={"data": {"a": "d"}, "options": {"cas": 0}})
    kv2.same("PUT", f"{m}/data/app", json={"data": {"a": "d"}, "options": {"cas": "abc"}})
    kv2.same("PUT", f"{m}/data/app", json={"data": {"a": "d"}, "options": {"cas": "2"}})
    kv2.same("PUT", f"{m}/data/new", json={"data": {"a": 1}, "options": {"cas": 0}})
    kv2.same("PUT", f"{m}/data/new2", json={"data": {"a": 1}, "options": {"cas": None}})
    kv2.same("PUT", f"{m}/data/new3", json={"data": {"a": 1}, "options": None})
    kv2.same("PUT", f"{m}/data/nulldata", json={"data": None})
    kv2.same("GET", f"{m}/data/nulldata")
    for version in ("1", "2", "3", "9", "0", "-1"):
        kv2.same("GET", f"{m}/data/app", params={"version": version})
    kv2.same("GET", f"{m}/data/missing")
    kv2.same("GET", f"{m}/data/")


def test_v2_write_errors(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/data/e", json={"options": {}})
    kv2.same("PUT", f"{m}/data/e", json={"data": "str"})
    kv2.same("PUT", f"{m}/data/e", json={"data": {"a": 1}, "options": "zz"})
    kv2.same("PUT", f"{m}/data/e/", json={"data": {"a": 1}})
    kv2.same("PUT", f"{m}/data/", json={"data": {"a": 1}})
    kv2.same("PUT", f"{m}/metadata/", json={"max_versions": 1})
    kv2.same("PUT", f"{m}/data/e", json={"data": {"a": 1}, "extra": True})


def test_v2_cas_required_by_mount_and_key(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/metadata/k", json={"cas_required": True})
    kv2.same("PUT", f"{m}/data/k", json={"data": {"a": 1}})
    kv2.same("PUT", f"{m}/data/k", json={"data": {"a": 1}, "options": {"cas": 0}})
    kv2.same("PUT", f"{m}/config", json={"cas_required": True})
    kv2.same("GET", f"{m}/config")
    kv2.same("PUT", f"{m}/data/other", json={"data": {"a": 1}})
    kv2.same("PUT", f"{m}/data/other", json={"data": {"a": 1}, "options": {"cas": 0}})
    kv2.same("PUT", f"{m}/metadata/other", json={"cas_required": False})
    kv2.same("PATCH", f"{m}/data/other", json={"data": {"b": 2}}, headers=MERGE_PATCH)
    kv2.same("PUT", f"{m}/config", json={"cas_required": False})


def test_v2_patch(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/data/p", json={"data": {"a": {"b": {"c": 1}}, "d": [1, 2], "e": "x"}})
    kv2.same(
        "PATCH",
        f"{m}/data/p",
        json={"data": {"a": {"b": {"z": 2}}, "e": None, "f": {"g": None}}},
        headers=MERGE_PATCH,
    )
    kv2.same("GET", f"{m}/data/p")
    kv2.same("PATCH", f"{m}/data/p", json={"data": {"d": [3]}, "options": {"cas": 1}}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/data/p", json={"data": {"d": [3]}, "options": {"cas": 2}}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/data/p", json={"options": {}}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/data/p", json={"data": {"a": 1}}, headers={"Content-Type": "application/json"})
    kv2.same("PATCH", f"{m}/data/missing", json={"data": {"a": 1}}, headers=MERGE_PATCH)
    kv2.same("DELETE", f"{m}/data/p")
    kv2.same("PATCH", f"{m}/data/p", json={"data": {"a": 1}}, headers=MERGE_PATCH)
    kv2.same("GET", f"{m}/data/p")


def test_v2_delete_undelete_destroy(kv2: Both) -> None:
    m = kv2.m
    for i in range(4):
        kv2.same("PUT", f"{m}/data/s", json={"data": {"i": i}})
    kv2.same("DELETE", f"{m}/data/s")
    kv2.same("GET", f"{m}/data/s")
    kv2.same("DELETE", f"{m}/data/s")
    kv2.same("PUT", f"{m}/delete/s", json={"versions": [1, "2"]})
    kv2.same("GET", f"{m}/data/s", params={"version": "2"})
    kv2.same("PUT", f"{m}/undelete/s", json={"versions": ["2", 4]})
    kv2.same("GET", f"{m}/data/s", params={"version": "2"})
    kv2.same("GET", f"{m}/data/s")
    kv2.same("PUT", f"{m}/destroy/s", json={"versions": "1,3"})
    kv2.same("GET", f"{m}/data/s", params={"version": "3"})
    kv2.same("PUT", f"{m}/undelete/s", json={"versions": [1]})
    kv2.same("GET", f"{m}/data/s", params={"version": "1"})
    kv2.same("GET", f"{m}/metadata/s")
    kv2.same("PUT", f"{m}/delete/s", json={})
    kv2.same("PUT", f"{m}/undelete/s", json={"versions": []})
    kv2.same("PUT", f"{m}/destroy/s", json={})
    kv2.same("PUT", f"{m}/delete/nokey", json={"versions": [1]})
    kv2.same("PUT", f"{m}/undelete/nokey", json={"versions": [1]})
    kv2.same("PUT", f"{m}/destroy/nokey", json={"versions": [1]})
    kv2.same("DELETE", f"{m}/data/nokey")


def test_v2_subkeys(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/data/n", json={"data": {"a": {"b": {"c": 1}}, "d": [1, 2], "e": "x", "f": {}}})
    kv2.same("PUT", f"{m}/data/n", json={"data": {"only": {"one": 1}}})
    kv2.same("GET", f"{m}/subkeys/n")
    for params in ({"depth": "1"}, {"depth": "2", "version": "1"}, {"version": "1"}, {"version": "7"}):
        kv2.same("GET", f"{m}/subkeys/n", params=params)
    kv2.same("GET", f"{m}/subkeys/nokey")
    kv2.same("DELETE", f"{m}/data/n")
    kv2.same("GET", f"{m}/subkeys/n")


# -- KV v2: metadata and config ------------------------------------------------------------------


def test_v2_metadata_write_read_patch_delete(kv2: Both) -> None:
    m = kv2.m
    kv2.same(
        "PUT", f"{m}/metadata/md", json={"max_versions": 3, "custom_metadata": {"a": 1, "b": True, "c": "x"}}
    )
    kv2.same("GET", f"{m}/metadata/md")
    kv2.same("GET", f"{m}/data/md")
    kv2.same("PUT", f"{m}/data/md", json={"data": {"v": 1}})
    kv2.same("GET", f"{m}/data/md")
    kv2.same("PUT", f"{m}/metadata/md", json={})
    kv2.same("PUT", f"{m}/metadata/md", json={"delete_version_after": "1h30m", "cas_required": False})
    kv2.same("GET", f"{m}/metadata/md")
    kv2.same(
        "PATCH",
        f"{m}/metadata/md",
        json={"custom_metadata": {"a": None, "d": "4"}, "max_versions": 5},
        headers=MERGE_PATCH,
    )
    kv2.same("GET", f"{m}/metadata/md")
    kv2.same("PATCH", f"{m}/metadata/md", json={"custom_metadata": None}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/metadata/md", json={}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/metadata/md", json={"max_versions": None}, headers=MERGE_PATCH)
    kv2.same("GET", f"{m}/metadata/md")
    kv2.same("PATCH", f"{m}/metadata/nokey", json={"max_versions": 1}, headers=MERGE_PATCH)
    kv2.same("PUT", f"{m}/metadata/empty", json={"custom_metadata": {}})
    kv2.same("GET", f"{m}/metadata/empty")
    kv2.same("DELETE", f"{m}/metadata/md")
    kv2.same("GET", f"{m}/metadata/md")
    kv2.same("GET", f"{m}/data/md")
    kv2.same("DELETE", f"{m}/metadata/md")


def test_v2_custom_metadata_validation(kv2: Both) -> None:
    m = kv2.m
    for custom in (
        {"c": None},
        {"": "x"},
        {"k": "v" * 513},
        {"k" * 129: "v"},
        {"a": [1, 2]},
        {"a": {"b": 1}},
        {"tab": "a\tb"},
        {f"k{i}": "v" for i in range(65)},
    ):
        kv2.same("PUT", f"{m}/metadata/cm", json={"custom_metadata": custom})
    kv2.same("PUT", f"{m}/metadata/cm", json={"custom_metadata": "a=b"})
    kv2.same("PUT", f"{m}/metadata/cm", json={"custom_metadata": {"ok": "1"}})
    kv2.same("PATCH", f"{m}/metadata/cm", json={"custom_metadata": {"n": 3}}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/metadata/cm", json={"custom_metadata": {"x": ""}}, headers=MERGE_PATCH)


def test_v2_metadata_cas(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/metadata/mc", json={"metadata_cas": 1, "max_versions": 2})
    kv2.same("PUT", f"{m}/metadata/mc", json={"metadata_cas": 0, "metadata_cas_required": True})
    kv2.same("PUT", f"{m}/metadata/mc", json={"max_versions": 3})
    kv2.same("PUT", f"{m}/metadata/mc", json={"max_versions": 3, "metadata_cas": 5})
    kv2.same("PUT", f"{m}/metadata/mc", json={"max_versions": 3, "metadata_cas": 1})
    kv2.same("PATCH", f"{m}/metadata/mc", json={"max_versions": 4}, headers=MERGE_PATCH)
    kv2.same("PATCH", f"{m}/metadata/mc", json={"max_versions": 4, "metadata_cas": 2}, headers=MERGE_PATCH)
    kv2.same("GET", f"{m}/metadata/mc")
    kv2.same("PUT", f"{m}/config", json={"metadata_cas_required": True, "cas_required": True})
    kv2.same("PUT", f"{m}/metadata/other", json={"max_versions": 1})
    kv2.same("PUT", f"{m}/metadata/other", json={"max_versions": 1, "metadata_cas": 0, "cas_required": False})
    kv2.same("PUT", f"{m}/config", json={"metadata_cas_required": False, "cas_required": False})


def test_v2_max_versions_pruning(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/metadata/mv", json={"max_versions": 2})
    for i in range(4):
        kv2.same("PUT", f"{m}/data/mv", json={"data": {"i": i}})
    kv2.same("GET", f"{m}/metadata/mv")
    kv2.same("GET", f"{m}/data/mv", params={"version": "1"})
    kv2.same("GET", f"{m}/data/mv", params={"version": "3"})
    for i in range(12):
        kv2.same("PUT", f"{m}/data/dflt", json={"data": {"i": i}})
    kv2.same("GET", f"{m}/metadata/dflt")
    kv2.same("PUT", f"{m}/config", json={"max_versions": 3})
    kv2.same("PUT", f"{m}/data/dflt", json={"data": {"i": 99}})
    kv2.same("GET", f"{m}/metadata/dflt")
    kv2.same("PUT", f"{m}/data/mv", json={"data": {"i": 4}})
    kv2.same("GET", f"{m}/metadata/mv")
    kv2.same("PUT", f"{m}/config", json={"max_versions": 0})


def test_v2_config(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/config", json={})
    kv2.same("PUT", f"{m}/config", json={"delete_version_after": "-5m"})
    kv2.same("GET", f"{m}/config")
    kv2.same("PUT", f"{m}/config", json={"delete_version_after": "2h", "max_versions": 7})
    kv2.same("GET", f"{m}/config")
    kv2.same("PUT", f"{m}/config", json={"delete_version_after": "0"})
    kv2.same("GET", f"{m}/config")
    kv2.same("DELETE", f"{m}/config")


def test_v2_delete_version_after(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/metadata/dva", json={"delete_version_after": "1s"})
    kv2.same("PUT", f"{m}/data/dva", json={"data": {"a": 1}})
    kv2.same("GET", f"{m}/data/dva")
    time.sleep(1.5)
    kv2.same("GET", f"{m}/data/dva")
    kv2.same("PUT", f"{m}/undelete/dva", json={"versions": [1]})
    kv2.same("PUT", f"{m}/config", json={"delete_version_after": "-1s"})
    kv2.same("PUT", f"{m}/undelete/dva", json={"versions": [1]})
    kv2.same("GET", f"{m}/data/dva")
    kv2.same("PUT", f"{m}/data/dva", json={"data": {"a": 2}})
    time.sleep(1.2)
    kv2.same("GET", f"{m}/data/dva")
    kv2.same("PUT", f"{m}/config", json={"delete_version_after": "0s"})


def test_v2_list_and_detailed_metadata(kv2: Both) -> None:
    m = kv2.m
    kv2.same("LIST", f"{m}/metadata/")
    for key in ("app", "dir/one", "dir/two", "dir/sub/three", "zeta"):
        kv2.same("PUT", f"{m}/data/{key}", json={"data": {"k": key}})
    kv2.same("PUT", f"{m}/metadata/dir", json={"max_versions": 4})
    kv2.same("LIST", f"{m}/metadata/")
    kv2.same("GET", f"{m}/metadata", params={"list": "true"})
    kv2.same("LIST", f"{m}/metadata/dir")
    kv2.same("LIST", f"{m}/metadata/dir/")
    kv2.same("LIST", f"{m}/metadata/nothing/")
    kv2.same("LIST", f"{m}/metadata/", params={"after": "app", "limit": "2"})
    kv2.same("LIST", f"{m}/detailed-metadata/")
    kv2.same("LIST", f"{m}/detailed-metadata/dir/")
    kv2.same("SCAN", f"{m}/metadata/")
    kv2.same("SCAN", f"{m}/metadata/dir/")
    kv2.same("SCAN", f"{m}/detailed-metadata/")
    kv2.same("GET", f"{m}/detailed-metadata/app")
    kv2.same("LIST", f"{m}/data/")


def test_v2_invalid_and_root_paths(kv2: Both) -> None:
    m = kv2.m
    for method in ("GET", "PUT", "DELETE"):
        kv2.same(method, f"{m}/foo", json={"a": 1} if method == "PUT" else None)
        for root in ("data", "metadata", "delete", "undelete", "destroy", "subkeys"):
            kv2.same(method, f"{m}/{root}", json={"a": 1} if method == "PUT" else None)
    kv2.same("PATCH", f"{m}/foo", json={"a": 1}, headers=MERGE_PATCH)
    kv2.same("GET", f"{m}/nonexist/foo")


def test_read_warns_about_ignored_query_parameters(kv1: Both, kv2: Both) -> None:
    """Unknown query parameters of a read are named in a warning (v1 included)."""
    kv1.same("PUT", f"{kv1.m}/a", json={"x": 1})
    kv1.same("GET", f"{kv1.m}/a", params={"version": "3"})
    kv2.same("PUT", f"{kv2.m}/data/a", json={"data": {"x": 1}})
    kv2.same("GET", f"{kv2.m}/data/a", params={"foo": "bar"})


def test_v2_ignored_parameters_on_empty_answer(kv2: Both) -> None:
    """A write that answers nothing stays 204: no warning about the unknown parameter."""
    kv2.same("PUT", f"{kv2.m}/metadata/md", json={"foo": 1})


def test_v2_int_conversion_errors(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/data/s", json={"data": {"i": 1}})
    kv2.same("PUT", f"{m}/config", json={"max_versions": "abc"})
    kv2.same("PUT", f"{m}/metadata/cm", json={"max_versions": "abc"})
    kv2.same("GET", f"{m}/data/s", params={"version": "abc"})


# -- Behaviour that lives in shared layers (framework, HTTP rendering) ----


def test_v2_versions_conversion_error(kv2: Both) -> None:
    kv2.same("PUT", f"{kv2.m}/data/s", json={"data": {"i": 1}})
    kv2.same("PUT", f"{kv2.m}/delete/s", json={"versions": "abc"})


def test_v2_data_as_json_string_is_refused(kv2: Both) -> None:
    kv2.same("PUT", f"{kv2.m}/data/s", json={"data": '{"a": 1}'})


def test_v2_negative_duration_error(kv2: Both) -> None:
    kv2.same("PUT", f"{kv2.m}/metadata/cm", json={"delete_version_after": "-1s"})


def test_v2_status_answers_carry_no_ignored_warning(kv2: Both) -> None:
    m = kv2.m
    kv2.same("PUT", f"{m}/data/x", json={"data": {"a": 1}})
    kv2.same("DELETE", f"{m}/data/x")
    kv2.same("GET", f"{m}/data/x", params={"foo": "1"})
    kv2.same("PATCH", f"{m}/data/nokey", json={"data": {"a": 1}, "foo": 1}, headers=MERGE_PATCH)


def test_v2_list_on_invalid_path_keeps_warning(kv2: Both) -> None:
    kv2.same("LIST", f"{kv2.m}/")
    kv2.same("LIST", f"{kv2.m}/foo")
    kv2.same("LIST", f"{kv2.m}/delete")
    kv2.same("LIST", f"{kv2.m}/config")


# -- the bao CLI ---------------------------------------------------------------------------------


def test_cli_kv_v2(kv2: Both) -> None:
    m = kv2.m
    cli_same(kv2, "kv", "put", f"{m}/app", "user=alice", "port=5432")
    cli_same(kv2, "kv", "put", f"-mount={m}", "other", "x=y")
    cli_same(kv2, "kv", "get", f"{m}/app")
    cli_same(kv2, "kv", "get", "-format=json", f"{m}/app")
    cli_same(kv2, "kv", "get", "-field=user", f"{m}/app")
    cli_same(kv2, "kv", "patch", f"{m}/app", "port=6543", "extra=1")
    cli_same(kv2, "kv", "get", "-version=1", f"{m}/app")
    cli_same(kv2, "kv", "put", "-cas=1", f"{m}/app", "user=bob")
    cli_same(kv2, "kv", "put", "-cas=2", f"{m}/app", "user=bob")
    cli_same(kv2, "kv", "list", f"{m}/")
    cli_same(kv2, "kv", "list", "-format=json", m)
    cli_same(kv2, "kv", "delete", f"{m}/app")
    cli_same(kv2, "kv", "get", f"{m}/app")
    cli_same(kv2, "kv", "undelete", "-versions=3", f"{m}/app")
    cli_same(kv2, "kv", "get", f"{m}/app")
    cli_same(kv2, "kv", "delete", "-versions=1", f"{m}/app")
    cli_same(kv2, "kv", "destroy", "-versions=2", f"{m}/app")
    cli_same(kv2, "kv", "get", "-version=2", f"{m}/app")
    cli_same(kv2, "kv", "rollback", "-version=3", f"{m}/app")
    cli_same(kv2, "kv", "metadata", "get", f"{m}/app")
    cli_same(kv2, "kv", "metadata", "put", "-max-versions=5", "-custom-metadata=team=a", f"{m}/app")
    cli_same(kv2, "kv", "metadata", "patch", "-max-versions=7", "-custom-metadata=owner=b", f"{m}/app")
    cli_same(kv2, "kv", "metadata", "get", "-format=json", f"{m}/app")
    cli_same(kv2, "kv", "metadata", "delete", f"{m}/app")
    cli_same(kv2, "kv", "get", f"{m}/app")
    cli_same(kv2, "kv", "get", f"{m}/missing")
    cli_same(kv2, "kv", "list", f"{m}/nothing")


def test_cli_kv_v1(kv1: Both) -> None:
    m = kv1.m
    cli_same(kv1, "kv", "put", f"{m}/app", "user=alice", "ttl=1h")
    cli_same(kv1, "kv", "get", f"{m}/app")
    cli_same(kv1, "kv", "get", "-format=json", f"{m}/app")
    cli_same(kv1, "kv", "put", f"{m}/dir/x", "a=b")
    cli_same(kv1, "kv", "list", m)
    cli_same(kv1, "kv", "delete", f"{m}/app")
    cli_same(kv1, "kv", "get", f"{m}/app")
    cli_same(kv1, "write", f"{m}/raw", "n=1")
    cli_same(kv1, "read", "-format=json", f"{m}/raw")


# -- hvac ----------------------------------------------------------------------------------------


def test_hvac_kv_v2(kv2: Both) -> None:
    m = kv2.m
    v2 = lambda c: c.secrets.kv.v2  # noqa: E731
    hvac_same(kv2, lambda c: v2(c).configure(max_versions=5, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_configuration(mount_point=m))
    hvac_same(kv2, lambda c: v2(c).create_or_update_secret("app", {"a": "1"}, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).create_or_update_secret("app", {"a": "2"}, cas=1, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).create_or_update_secret("app", {"a": "3"}, cas=1, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).patch("app", {"b": "x"}, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_secret_version("app", mount_point=m, raise_on_deleted_version=True))
    hvac_same(kv2, lambda c: v2(c).read_secret_version("app", version=1, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_secret("app", mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_secret_subkeys("app", depth=1, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).list_secrets("", mount_point=m))
    hvac_same(kv2, lambda c: v2(c).delete_latest_version_of_secret("app", mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_secret_version("app", mount_point=m, raise_on_deleted_version=False))
    hvac_same(kv2, lambda c: v2(c).read_secret_version("app", mount_point=m, raise_on_deleted_version=True))
    hvac_same(kv2, lambda c: v2(c).undelete_secret_versions("app", [3], mount_point=m))
    hvac_same(kv2, lambda c: v2(c).delete_secret_versions("app", [1], mount_point=m))
    hvac_same(kv2, lambda c: v2(c).destroy_secret_versions("app", [2], mount_point=m))
    hvac_same(
        kv2, lambda c: v2(c).update_metadata("app", max_versions=3, custom_metadata={"t": "a"}, mount_point=m)
    )
    hvac_same(kv2, lambda c: v2(c).patch_metadata("app", custom_metadata={"u": "b"}, mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_secret_metadata("app", mount_point=m))
    hvac_same(kv2, lambda c: v2(c).delete_metadata_and_all_versions("app", mount_point=m))
    hvac_same(kv2, lambda c: v2(c).read_secret_version("app", mount_point=m, raise_on_deleted_version=True))
    hvac_same(kv2, lambda c: v2(c).list_secrets("", mount_point=m))


def test_hvac_kv_v1(kv1: Both) -> None:
    m = kv1.m
    v1 = lambda c: c.secrets.kv.v1  # noqa: E731
    hvac_same(kv1, lambda c: v1(c).create_or_update_secret("app", {"a": "1", "ttl": "1h"}, mount_point=m))
    hvac_same(kv1, lambda c: v1(c).create_or_update_secret("app", {"a": "2"}, method="PUT", mount_point=m))
    hvac_same(kv1, lambda c: v1(c).create_or_update_secret("dir/b", {"b": 2}, method="POST", mount_point=m))
    hvac_same(kv1, lambda c: v1(c).read_secret("app", mount_point=m))
    hvac_same(kv1, lambda c: v1(c).list_secrets("", mount_point=m))
    hvac_same(kv1, lambda c: v1(c).delete_secret("app", mount_point=m))
    hvac_same(kv1, lambda c: v1(c).read_secret("app", mount_point=m))
    hvac_same(kv1, lambda c: c.read(f"{m}/dir/b"))
    hvac_same(kv1, lambda c: c.read(f"{m}/nope"))


# -- ACL: create and update are different capabilities -------------------------------------------


def test_acl_create_only_and_update_only(kv1: Both, kv2: Both) -> None:
    """The existence check turns a write to a missing key into ``create``: each capability alone."""
    tokens: dict[str, tuple[str, str]] = {}
    for cap in ("create", "update"):
        policy = (
            f'path "{kv1.m}/*" {{ capabilities = ["{cap}", "read"] }}\n'
            f'path "{kv2.m}/data/*" {{ capabilities = ["{cap}", "read"] }}\n'
            f'path "{kv2.m}/metadata/*" {{ capabilities = ["{cap}"] }}\n'
            f'path "{kv2.m}/delete/*" {{ capabilities = ["{cap}"] }}\n'
        )
        name = f"{cap}-{kv1.m}"
        ref_tok = policy_token(kv1.ref, name, policy)
        tes_tok = policy_token(kv1.tes, name, policy)
        tokens[cap] = (ref_tok, tes_tok)
    kv1.same("PUT", f"{kv1.m}/c/new", json={"a": 1}, tokens=tokens["create"])
    kv1.same("PUT", f"{kv1.m}/c/new", json={"a": 2}, tokens=tokens["create"])
    kv1.same("PUT", f"{kv1.m}/u/new", json={"a": 1}, tokens=tokens["update"])
    kv1.same("PUT", f"{kv1.m}/c/new", json={"a": 3}, tokens=tokens["update"])
    kv1.same("GET", f"{kv1.m}/c/new", tokens=tokens["update"])
    kv2.same("PUT", f"{kv2.m}/data/c", json={"data": {"a": 1}}, tokens=tokens["create"])
    kv2.same("PUT", f"{kv2.m}/data/c", json={"data": {"a": 2}}, tokens=tokens["create"])
    kv2.same("PUT", f"{kv2.m}/data/u", json={"data": {"a": 1}}, tokens=tokens["update"])
    kv2.same("PUT", f"{kv2.m}/data/c", json={"data": {"a": 3}}, tokens=tokens["update"])
    kv2.same("PUT", f"{kv2.m}/metadata/m", json={"max_versions": 2}, tokens=tokens["create"])
    kv2.same("PUT", f"{kv2.m}/metadata/m", json={"max_versions": 3}, tokens=tokens["create"])
    kv2.same("PUT", f"{kv2.m}/metadata/m", json={"max_versions": 3}, tokens=tokens["update"])
    # delete/, undelete/ and destroy/ have no existence check: they always need update.
    kv2.same("PUT", f"{kv2.m}/delete/c", json={"versions": [1]}, tokens=tokens["create"])
    kv2.same("PUT", f"{kv2.m}/delete/c", json={"versions": [1]}, tokens=tokens["update"])

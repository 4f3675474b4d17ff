"""sys/mounts, sys/auth, tuning, moves, sys/internal/ui/mounts, keys and tools side by side.

The same requests go to the reference OpenBao and to Tessera; statuses, envelope keys, error texts
and normalised data must agree (surroundings spec §3 and checklist rows 28–40). The bao CLI and hvac
are driven against both as well. Tests on the shared pair use unique mount paths.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import Both, bao, policy_token
from tests.server.pairs import norm, same


def unique(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def both_status(
    ref: ReferenceServer, tes: TesseraServer, method: str, path: str, expected: int, **kw: Any
) -> None:
    for server in (ref, tes):
        status, body, _ = call(server.addr, method, path, "root", **kw)
        assert status == expected, (server, method, path, status, body)


needs_approle = pytest.mark.skipif(
    importlib.util.find_spec("tessera.auth.approle") is None, reason="Tessera's approle is not there yet"
)


# -- tables and entries (rows 28-29) -----------------------------------------------------------------


def test_dev_mount_tables(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    ref, tes = fresh_reference, fresh_tessera
    _, body, _ = same(ref, tes, "GET", "sys/mounts")
    assert sorted(body["data"]) == ["cubbyhole/", "identity/", "secret/", "sys/"]
    _, body, _ = same(ref, tes, "GET", "sys/auth")
    assert body["data"]["token/"]["config"]["token_type"] == "default-service"
    for path in ("secret", "sys", "cubbyhole", "identity", "secret/some/deep/path", "auth/token"):
        same(ref, tes, "GET", f"sys/mounts/{path}")
    for path in ("token", "token/"):
        same(ref, tes, "GET", f"sys/auth/{path}")
    same(ref, tes, "GET", "sys/auth/nonexist")
    same(ref, tes, "GET", "sys/mounts/nonexist")


ENABLE_BODIES: list[dict[str, Any]] = [
    # What `bao secrets enable -version=2 kv` sends.
    {
        "type": "kv",
        "description": "",
        "config": {
            "options": None,
            "default_lease_ttl": "0s",
            "max_lease_ttl": "0s",
            "force_no_cache": False,
        },
        "local": False,
        "seal_wrap": False,
        "external_entropy_access": False,
        "options": {"version": "2"},
    },
    # What hvac's enable_secrets_engine sends.
    {
        "type": "kv",
        "description": None,
        "config": None,
        "options": {"version": "1"},
        "plugin_name": None,
        "local": False,
        "seal_wrap": False,
    },
    {"type": "kv"},
    {"type": "kv", "options": None},
    {"type": "kv", "options": {}},
    {"type": "kv", "options": {"version": 2}},
    {"type": "kv-v2"},
    {"type": "kv-v1", "options": {"foo": "bar"}},
    {"type": "plugin", "plugin_name": "kv"},
    {"type": "kv", "description": 5, "local": True, "seal_wrap": True, "external_entropy_access": True},
    {
        "type": "kv",
        "config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h", "listing_visibility": "unauth"},
    },
    {"type": "kv", "config": {"default_lease_ttl": 3600, "max_lease_ttl": 7200}},
    {"type": "kv", "config": {"default_lease_ttl": "system", "max_lease_ttl": "system"}},
    {
        "type": "kv",
        "config": {
            "passthrough_request_headers": "X-A, X-B",
            "allowed_response_headers": ["X-C"],
            "audit_non_hmac_request_keys": ["a", "b"],
            "audit_non_hmac_response_keys": "c",
            "listing_visibility": "hidden",
            "force_no_cache": True,
            "token_type": "batch",
            "bogus": 1,
        },
    },
    {"type": "kv", "config": {"token_type": "nonsense"}},
    {"type": "kv", "bogus": 1, "plugin_version": ""},
]


@pytest.mark.parametrize("body", ENABLE_BODIES, ids=range(len(ENABLE_BODIES)))
def test_enable_read_disable(
    reference: ReferenceServer, tessera: TesseraServer, body: dict[str, Any]
) -> None:
    name = unique("m")
    got, _, _ = same(reference, tessera, "POST", f"sys/mounts/{name}", json=body)
    assert got == 204
    _, entry, _ = same(reference, tessera, "GET", f"sys/mounts/{name}")
    for server in (reference, tessera):
        _, table, _ = call(server.addr, "GET", "sys/mounts", "root")
        assert norm(table["data"][f"{name}/"]) == norm(entry["data"])
    same(reference, tessera, "GET", f"sys/mounts/{name}/tune")
    got, _, _ = same(reference, tessera, "DELETE", f"sys/mounts/{name}")
    assert got == 204
    same(reference, tessera, "GET", f"sys/mounts/{name}")


ENABLE_ERRORS: list[tuple[str, Any]] = [
    ("{new}", {}),
    ("{new}", {"type": ""}),
    ("{new}", {"type": "bogus"}),
    ("{new}", {"type": 5}),
    ("{new}", {"type": "transit", "options": {"version": "2"}}),
    ("{new}", {"type": "plugin"}),
    ("{new}", {"type": "cubbyhole"}),
    ("{new}", {"type": "system"}),
    ("{new}", {"type": "identity"}),
    ("{new}", {"type": "token"}),
    ("{new}", {"type": "kv", "config": {"default_lease_ttl": "2h", "max_lease_ttl": "1h"}}),
    ("{new}", {"type": "kv", "config": {"default_lease_ttl": "2000h"}}),
    ("{new}", {"type": "kv", "config": {"default_lease_ttl": "abc"}}),
    ("{new}", {"type": "kv", "config": {"max_lease_ttl": "1x"}}),
    ("{new}", {"type": "kv", "config": {"listing_visibility": "bogus"}}),
    ("{new}", {"type": "kv", "config": {"passthrough_request_headers": 5}}),
    ("{new}", {"type": "kv", "config": {"force_no_cache": "true"}}),
    ("{new}", {"type": "kv", "config": {"default_lease_ttl": True}}),
    ("{new}", {"type": "kv", "config": "x"}),
    ("{new}", {"type": "kv", "local": "yes"}),
    ("sys/x", {"type": "kv"}),
    ("auth/foo", {"type": "kv"}),
    ("cubbyhole/x", {"type": "kv"}),
    ("identity/x", {"type": "kv"}),
    ("audit/x", {"type": "kv"}),
    ("secret", {"type": "kv"}),
    ("secret/sub", {"type": "bogus"}),
    ("sec", {"type": "kv"}),
    ("{new}/", {"type": "kv"}),
]


def test_enable_errors(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path, body in ENABLE_ERRORS:
        path = path.replace("{new}", unique("e"))
        same(reference, tessera, "POST", f"sys/mounts/{path}", json=body)
    # A prefix of an existing mount conflicts too.
    name = unique("pre")
    both_status(reference, tessera, "POST", f"sys/mounts/{name}/inner", 204, json={"type": "kv"})
    same(reference, tessera, "POST", f"sys/mounts/{name}", json={"type": "kv"})
    same(reference, tessera, "DELETE", f"sys/mounts/{name}")
    same(reference, tessera, "GET", f"sys/mounts/{name}/inner")
    same(reference, tessera, "DELETE", f"sys/mounts/{name}/inner")


def test_disable_rules(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path in ("sys", "cubbyhole", "identity", "nonexist", "secret/sub", "auth/token", "sys/x"):
        same(reference, tessera, "DELETE", f"sys/mounts/{path}")
    for path in ("token", "nonexist", "token/sub"):
        same(reference, tessera, "DELETE", f"sys/auth/{path}")


# -- tuning (rows 33-34, 88) --------------------------------------------------------------------------


def test_tune_ttls_and_config(reference: ReferenceServer, tessera: TesseraServer) -> None:
    name = unique("t")
    body = {
        "type": "kv",
        "options": {"version": "2"},
        "config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"},
    }
    both_status(reference, tessera, "POST", f"sys/mounts/{name}", 204, json=body)
    tune = f"sys/mounts/{name}/tune"
    steps: list[dict[str, Any]] = [
        {"max_lease_ttl": "30m"},
        {"default_lease_ttl": "3h"},
        {"default_lease_ttl": "abc"},
        # What `bao secrets tune -max-lease-ttl=1h` sends ("" means unchanged).
        {"options": None, "default_lease_ttl": "", "max_lease_ttl": "1h0m0s", "force_no_cache": False},
        {"default_lease_ttl": 1800},
        {"default_lease_ttl": "system", "max_lease_ttl": "system"},
        {"max_lease_ttl": "90m"},
        {"description": "tuned", "listing_visibility": "unauth"},
        {"listing_visibility": "bogus"},
        {"listing_visibility": ""},
        {"passthrough_request_headers": "X-A,X-B", "allowed_response_headers": ["X-C"]},
        {"passthrough_request_headers": ""},
        {"audit_non_hmac_request_keys": ["a"], "audit_non_hmac_response_keys": "b,c"},
        {"token_type": "batch"},
        {"user_lockout_config": {"lockout_threshold": "3"}},
        {"plugin_version": ""},
        {"bogus": 1},
        {},
    ]
    for step in steps:
        same(reference, tessera, "POST", tune, json=step)
        same(reference, tessera, "GET", tune)
    same(reference, tessera, "GET", f"sys/mounts/{name}")
    same(reference, tessera, "GET", f"sys/mounts/{name}/deeper/path/tune")


def test_tune_options_and_kv_upgrade(reference: ReferenceServer, tessera: TesseraServer) -> None:
    v0, v1 = unique("kvzero"), unique("kvone")
    both_status(reference, tessera, "POST", f"sys/mounts/{v0}", 204, json={"type": "kv"})
    both_status(
        reference, tessera, "POST", f"sys/mounts/{v1}", 204, json={"type": "kv", "options": {"version": "1"}}
    )
    both_status(reference, tessera, "PUT", f"{v0}/before", 204, json={"kept": "yes"})
    for name in (v0, v1):
        tune = f"sys/mounts/{name}/tune"
        for step in (
            {"options": {"version": "3"}},
            {"options": {"version": "x"}},
            {"options": {"foo": "bar"}},
            {"options": {"version": "2"}},
            {"options": {"version": "1"}},
            {"options": {"version": "2", "foo": ""}},
            {"options": {}},
            {"options": None},
        ):
            same(reference, tessera, "POST", tune, json=step)
            same(reference, tessera, "GET", tune)
        same(reference, tessera, "GET", f"sys/mounts/{name}")
    # The upgraded mounts serve KV v2 paths, with the v1 data as version 1. The reference upgrades in
    # the background ("unavailable for a brief period"): wait for it before comparing.
    for _ in range(100):
        if call(reference.addr, "GET", f"{v0}/data/before", "root")[0] == 200:
            break
        time.sleep(0.1)
    got, _, _ = same(reference, tessera, "POST", f"{v0}/data/k", json={"data": {"a": "b"}})
    assert got == 200
    same(reference, tessera, "GET", f"{v0}/data/k")
    _, body, _ = same(reference, tessera, "GET", f"{v0}/data/before")
    assert body["data"]["data"] == {"kept": "yes"}
    same(reference, tessera, "GET", f"{v0}/metadata/before")
    transit = unique("tr")
    both_status(reference, tessera, "POST", f"sys/mounts/{transit}", 204, json={"type": "transit"})
    same(reference, tessera, "POST", f"sys/mounts/{transit}/tune", json={"options": {"version": "2"}})
    same(reference, tessera, "GET", f"sys/mounts/{transit}")


def test_tune_special_mounts(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path in ("sys", "cubbyhole", "identity"):
        same(reference, tessera, "GET", f"sys/mounts/{path}/tune")
        same(reference, tessera, "POST", f"sys/mounts/{path}/tune", json={"description": "x"})
        same(reference, tessera, "POST", f"sys/mounts/{path}/tune", json={"max_lease_ttl": "1h"})
        same(reference, tessera, "POST", f"sys/mounts/{path}/tune", json={"force_no_cache": True})
    same(reference, tessera, "POST", "sys/mounts/cubbyhole/tune", json={"audit_non_hmac_request_keys": "a"})
    same(reference, tessera, "GET", "sys/mounts/cubbyhole/tune")
    same(reference, tessera, "POST", "sys/mounts/cubbyhole/tune", json={"audit_non_hmac_request_keys": ""})
    for path in ("nonexist", "auth/nonexist"):
        same(reference, tessera, "GET", f"sys/mounts/{path}/tune")
        same(reference, tessera, "POST", f"sys/mounts/{path}/tune", json={"description": "x"})
    same(reference, tessera, "GET", "sys/auth/nonexist/tune")
    same(reference, tessera, "POST", "sys/auth/nonexist/tune", json={"description": "x"})


def test_token_mount_rules(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    ref, tes = fresh_reference, fresh_tessera
    for path in ("sys/auth/token/tune", "sys/mounts/auth/token/tune"):
        same(ref, tes, "GET", path)
        same(ref, tes, "POST", path, json={"token_type": "batch"})
        same(ref, tes, "POST", path, json={"token_type": "nope"})
    same(ref, tes, "POST", "sys/auth/token/tune", json={"max_lease_ttl": "1h", "description": "tokens"})
    same(ref, tes, "GET", "sys/auth/token/tune")
    same(ref, tes, "GET", "sys/auth")
    same(ref, tes, "DELETE", "sys/auth/token")
    same(ref, tes, "DELETE", "sys/mounts/auth/token")
    same(ref, tes, "POST", "sys/auth/token2", json={"type": "token"})
    same(ref, tes, "POST", "sys/auth/token/x", json={"type": "token"})
    same(ref, tes, "POST", "sys/auth/nn", json={})
    same(ref, tes, "POST", "sys/auth/kvx", json={"type": "kv"})
    same(ref, tes, "POST", "sys/auth/bad", json={"type": "kv", "config": {"token_type": "nope"}})
    same(ref, tes, "POST", "sys/auth/bad", json={"type": "kv", "options": {"version": "2"}})
    same(ref, tes, "POST", "sys/auth/bad", json={"type": "kv", "config": {"listing_visibility": "x"}})


@needs_approle
def test_auth_paths_need_sudo(reference: ReferenceServer, tessera: TesseraServer) -> None:
    name = unique("sudo")
    plain = 'path "sys/auth/*" { capabilities = ["create", "read", "update", "delete"] }\n'
    plain += 'path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete"] }'
    sudo = 'path "sys/auth/*" { capabilities = ["create", "read", "update", "delete", "sudo"] }'
    without = (policy_token(reference, name, plain), policy_token(tessera, name, plain))
    with_sudo = (policy_token(reference, name + "s", sudo), policy_token(tessera, name + "s", sudo))
    same(reference, tessera, "POST", f"sys/auth/{name}", tokens=without, json={"type": "approle"})
    same(reference, tessera, "POST", f"sys/auth/{name}", tokens=with_sudo, json={"type": "approle"})
    same(reference, tessera, "GET", f"sys/auth/{name}/tune", tokens=without)
    # The same tuning without sudo through sys/mounts/auth/...
    same(reference, tessera, "GET", f"sys/mounts/auth/{name}/tune", tokens=without)
    same(reference, tessera, "POST", f"sys/mounts/{name}", tokens=without, json={"type": "kv"})
    same(reference, tessera, "GET", "sys/auth", tokens=without)
    same(reference, tessera, "DELETE", f"sys/auth/{name}", tokens=without)
    same(reference, tessera, "DELETE", f"sys/auth/{name}", tokens=with_sudo)
    same(reference, tessera, "DELETE", f"sys/mounts/{name}", tokens=without)


@needs_approle
def test_auth_enable_tune_disable(reference: ReferenceServer, tessera: TesseraServer) -> None:
    name = unique("ar")
    body = {
        "type": "approle",
        "description": "apps",
        "config": {"token_type": "batch", "default_lease_ttl": "1h"},
    }
    got, _, _ = same(reference, tessera, "POST", f"sys/auth/{name}", json=body)
    assert got == 204
    same(reference, tessera, "POST", f"sys/auth/{name}", json={"type": "approle"})
    same(reference, tessera, "POST", f"sys/auth/{name}/sub", json={"type": "approle"})
    same(reference, tessera, "GET", f"sys/auth/{name}")
    for tune in (f"sys/auth/{name}/tune", f"sys/mounts/auth/{name}/tune"):
        same(reference, tessera, "GET", tune)
        for step in ({"token_type": "default-batch"}, {"token_type": "service", "listing_visibility": "unauth"},
                     {"token_type": "bogus"}, {"token_type": ""}, {"max_lease_ttl": "30m"}):  # fmt: skip
            same(reference, tessera, "POST", tune, json=step)
            same(reference, tessera, "GET", tune)
    same(reference, tessera, "GET", f"sys/mounts/auth/{name}")
    # An auth method moves within auth/ only.
    same(reference, tessera, "POST", "sys/remount", json={"from": f"auth/{name}", "to": "elsewhere"})
    for server in (reference, tessera):
        status, body, _ = call(
            server.addr, "POST", "sys/remount", "root", json={"from": f"auth/{name}", "to": f"auth/{name}m"}
        )
        assert status == 200, body
        for _ in range(50):
            _, info, _ = call(server.addr, "GET", f"sys/remount/status/{body['migration_id']}", "root")
            if info["data"]["migration_info"]["status"] != "in-progress":
                break
            time.sleep(0.1)
        assert info["data"]["migration_info"]["status"] == "success", info
    same(reference, tessera, "GET", f"sys/auth/{name}")
    same(reference, tessera, "GET", f"sys/auth/{name}m")
    same(reference, tessera, "LIST", f"auth/{name}m/role")
    name += "m"
    same(reference, tessera, "DELETE", f"sys/auth/{name}")
    same(reference, tessera, "GET", f"sys/auth/{name}")


# -- moving mounts -----------------------------------------------------------------------------------


def test_remount(reference: ReferenceServer, tessera: TesseraServer) -> None:
    src, dst = unique("from"), unique("to")
    both_status(reference, tessera, "POST", f"sys/mounts/{src}", 204, json={"type": "kv"})
    both_status(reference, tessera, "PUT", f"{src}/secret", 204, json={"a": "b"})
    for body in (
        {"from": src},
        {"from": "nonexist", "to": "zz"},
        {"from": src, "to": "secret"},
        {"from": src, "to": "secret/x"},
        {"from": src, "to": "sys/x"},
        {"from": src, "to": "auth/x"},
        {"from": "sys", "to": "x"},
        {"from": "cubbyhole", "to": "x"},
        {"from": src, "to": src},
        {"from": " " + src, "to": "x"},
        {"from": "auth/token", "to": "auth/t2"},
        {"from": "auth/token", "to": "t2"},
    ):
        same(reference, tessera, "POST", "sys/remount", json=body)
    ids = []
    for server in (reference, tessera):
        status, body, _ = call(
            server.addr, "POST", "sys/remount", "root", json={"from": src, "to": dst + "/"}
        )
        assert status == 200 and set(body) >= {"migration_id", "data", "warnings"}, body
        assert body["warnings"][0].startswith("Mount move has been queued.")
        ids.append(body["migration_id"])
    for server, migration in zip((reference, tessera), ids, strict=True):
        for _ in range(50):
            status, body, _ = call(server.addr, "GET", f"sys/remount/status/{migration}", "root")
            if body["data"]["migration_info"]["status"] != "in-progress":
                break
            time.sleep(0.1)
        assert status == 200 and body["data"]["migration_info"] == {
            "source_mount": f"{src}/",
            "target_mount": f"{dst}/",
            "status": "success",
        }, body
    same(reference, tessera, "GET", f"sys/mounts/{src}")
    same(reference, tessera, "GET", f"{dst}/secret")
    same(reference, tessera, "GET", f"{src}/secret")
    same(reference, tessera, "GET", "sys/remount/status/nonexistent")


# -- sys/internal/ui/mounts (rows 38-40) --------------------------------------------------------------


def test_ui_mounts_root_and_anonymous(reference: ReferenceServer, tessera: TesseraServer) -> None:
    shown, hidden = unique("vis"), unique("hid")
    body = {"type": "kv", "options": {"version": "2"}, "config": {"listing_visibility": "unauth"}}
    both_status(reference, tessera, "POST", f"sys/mounts/{shown}", 204, json=body)
    both_status(reference, tessera, "POST", f"sys/mounts/{hidden}", 204, json={"type": "kv"})
    for server in (reference, tessera):
        _, anon, _ = call(server.addr, "GET", "sys/internal/ui/mounts", None)
        assert anon["data"]["secret"][f"{shown}/"] == {
            "type": "kv",
            "description": "",
            "options": {"version": "2"},
        }
        assert f"{hidden}/" not in anon["data"]["secret"] and "secret/" not in anon["data"]["secret"]
        _, rooted, _ = call(server.addr, "GET", "sys/internal/ui/mounts", "root")
        assert {f"{shown}/", f"{hidden}/", "secret/", "sys/"} <= set(rooted["data"]["secret"])
        assert "token/" in rooted["data"]["auth"]
    same(reference, tessera, "GET", "sys/internal/ui/mounts", token="bogus")
    for path in (
        "secret/foo",
        "secret",
        f"{shown}/a/b",
        hidden,
        "sys/x",
        "cubbyhole/x",
        "auth/token/x",
        "auth/token",
    ):
        same(reference, tessera, "GET", f"sys/internal/ui/mounts/{path}")
        same(reference, tessera, "GET", f"sys/internal/ui/mounts/{path}", token=None)
        same(reference, tessera, "GET", f"sys/internal/ui/mounts/{path}", token="bogus")
    for path in ("nonexist/foo", "nonexist", "auth/nonexist/x"):
        same(reference, tessera, "GET", f"sys/internal/ui/mounts/{path}")


def test_ui_mounts_follow_policies(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    """On servers of its own: whole listings are compared, which other tests' mounts would skew."""
    reference, tessera = fresh_reference, fresh_tessera
    kv = unique("pkv")
    both_status(
        reference, tessera, "POST", f"sys/mounts/{kv}", 204, json={"type": "kv", "options": {"version": "2"}}
    )
    policies = {
        "default-only": 'path "nothing/here" { capabilities = ["read"] }',
        "deep": f'path "{kv}/data/team/*" {{ capabilities = ["read"] }}',
        "segment": 'path "+/metadata/shared" { capabilities = ["list"] }',
        "denied": f'path "{kv}/*" {{ capabilities = ["deny"] }}',
        "exact": f'path "{kv}/config" {{ capabilities = ["read"] }}',
    }
    for label, text in policies.items():
        name = unique(label)
        tokens = (policy_token(reference, name, text), policy_token(tessera, name, text))
        for path in (
            "secret/foo",
            f"{kv}/data/team/x",
            kv,
            "sys/x",
            "cubbyhole/x",
            "auth/token/x",
            "nonexist/x",
        ):
            same(reference, tessera, "GET", f"sys/internal/ui/mounts/{path}", tokens=tokens)
        _, ref_body, tes_body = same(
            reference, tessera, "GET", "sys/internal/ui/mounts", tokens=tokens, values=False
        )
        # Other tests share these servers: compare the visibility of mounts present on both.
        for table, listing in (("secret", "sys/mounts"), ("auth", "sys/auth")):
            common = set(call(reference.addr, "GET", listing, "root")[1]["data"])
            common &= set(call(tessera.addr, "GET", listing, "root")[1]["data"])
            seen_ref = sorted(set(ref_body["data"][table]) & common)
            assert seen_ref == sorted(set(tes_body["data"][table]) & common), (label, table)


# -- keys, tools, specs -------------------------------------------------------------------------------


def test_key_status_and_rotation(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    ref, tes = fresh_reference, fresh_tessera
    for server in (ref, tes):
        _, body, _ = call(server.addr, "GET", "sys/key-status", "root")
        assert body["term"] == 1 and body["data"]["term"] == 1 and body["encryptions"] >= 0
    same(ref, tes, "GET", "sys/key-status", values=False)
    same(ref, tes, "GET", "sys/rotate")
    for path in ("sys/rotate", "sys/rotate/keyring"):
        got, _, _ = same(ref, tes, "POST", path)
        assert got == 204
    for server in (ref, tes):
        _, body, _ = call(server.addr, "GET", "sys/key-status", "root")
        assert body["term"] == 3, body
        # Data written after the rotations is still readable, and so is what was written before.
        assert call(server.addr, "POST", "secret/data/after", "root", json={"data": {"a": 1}})[0] == 200
        assert call(server.addr, "GET", "secret/data/after", "root")[0] == 200
        assert call(server.addr, "GET", "sys/mounts/secret", "root")[0] == 200
    for path in ("sys/rotate/config", "sys/rotate/keyring/config"):
        same(ref, tes, "GET", path)
    for body in (
        {"max_operations": 10},
        {"interval": "1h"},
        {"interval": "48h", "max_operations": 2000000, "enabled": False},
        {"interval": 0, "enabled": True},
    ):
        same(ref, tes, "POST", "sys/rotate/config", json=body)
        same(ref, tes, "GET", "sys/rotate/keyring/config")


def test_tools(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path, body in (
        ("sys/tools/hash", {"input": "aGVsbG8="}),
        ("sys/tools/hash/sha2-512", {"input": "aGVsbG8=", "format": "base64"}),
        ("sys/tools/hash", {"input": "aGVsbG8=", "algorithm": "sha3-256"}),
        ("sys/tools/hash", {"input": "!!"}),
        ("sys/tools/hash", {"input": "aGVsbG8=", "algorithm": "md5"}),
        ("sys/tools/hash", {"input": "aGVsbG8=", "format": "x"}),
        ("sys/tools/random", {"bytes": 0}),
        ("sys/tools/random", {"bytes": 200000}),
        ("sys/tools/random/x", None),
        ("sys/tools/random", {"format": "x"}),
        ("sys/tools/random/bogus/8", None),
        ("sys/tools/random/1_0", None),  # the count is parsed as Go's strconv.Atoi parses it
    ):
        same(reference, tessera, "POST", path, json=body)
    for path, body, size in (
        ("sys/tools/random", {}, 32),
        ("sys/tools/random/16", {"format": "hex"}, 16),
        ("sys/tools/random/platform/8", None, 8),
        ("sys/tools/random/seal/8", None, 8),
        ("sys/tools/random/all", {"bytes": 4, "format": "hex"}, 4),
        # Not a source name: Vault's pattern takes the segment as a URL count and then ignores it.
        ("sys/tools/random/+8", None, 32),
        ("sys/tools/random/8-", {"bytes": 5, "format": "hex"}, 5),
    ):
        _, ref_body, tes_body = same(reference, tessera, "POST", path, json=body, values=False)
        assert ref_body["warnings"] == tes_body["warnings"]
        text = tes_body["data"]["random_bytes"]
        assert len(text) == (
            size * 2 if (body or {}).get("format") == "hex" else len(ref_body["data"]["random_bytes"])
        )


def test_openapi_and_host_info(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for token in ("root", None):
        for server in (reference, tessera):
            status, doc, _ = call(server.addr, "GET", "sys/internal/specs/openapi", token)
            assert status == 200 and {"openapi", "info", "paths", "components"} <= set(doc), doc
            assert "request_id" not in doc
            if token:
                assert {"/sys/mounts/{path}", "/sys/mounts/{path}/tune", "/sys/health", "/sys/seal"} <= set(
                    doc["paths"]
                )
                assert any(p.startswith("/secret/") for p in doc["paths"])
    same(reference, tessera, "GET", "sys/internal/specs/openapi", token="bogus")
    _, ref_info, tes_info = same(reference, tessera, "GET", "sys/host-info", values=False)
    assert tes_info["data"]["host"]["hostname"] == ref_info["data"]["host"]["hostname"]


# -- the bao CLI and hvac ---------------------------------------------------------------------------


_PRODUCT_TEXT = [
    (re.compile(r"v\d+\.\d+\.\d+\+builtin\.(bao|tessera)"), "<v>"),
    (re.compile(r"vault-cluster-[0-9a-f]{8}"), "<cluster>"),
    (re.compile(r"\b(auth_)?[a-z]+_[0-9a-f]{8}\b"), "<accessor>"),
    (re.compile(r"^(Version)\s+\S+$", re.MULTILINE), r"\1  <v>"),
]


def _product_free(text: str) -> str:
    for pattern, repl in _PRODUCT_TEXT:
        text = pattern.sub(repl, text)
    return text


def cli(both: Both, *args: str) -> tuple[int, str]:
    """Same exit code and output from the CLI on both servers, once product versions are hidden."""
    ref = bao(both.ref, *args)
    tes = bao(both.tes, *args)
    clean = [(code, _product_free(out), _product_free(err)) for code, out, err in (ref, tes)]
    assert clean[0] == clean[1], f"bao {' '.join(args)}\n  reference: {ref!r}\n  tessera:   {tes!r}"
    return ref[0], ref[1]


def hvac_same(both: Both, action: Callable[[Any], Any]) -> Any:
    """One hvac call on both servers: the same normalised result, or the same exception class."""
    results = []
    for server in (both.ref, both.tes):
        client = server.hvac_client()
        try:
            answer = action(client)
            if isinstance(answer, requests.Response):  # hvac hands back 204s as the raw response
                answer = {"status": answer.status_code, "body": answer.json() if answer.content else None}
            results.append(("ok", norm(answer)))
        except Exception as exc:
            results.append(("error", type(exc).__name__))
    assert results[0] == results[1], f"hvac\n  reference: {results[0]!r}\n  tessera:   {results[1]!r}"
    return results[0][1]


def test_cli_secrets_and_auth(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    both = Both(fresh_reference, fresh_tessera, "")
    code, out = cli(both, "status")
    assert code == 0 and "Sealed" in out
    cli(both, "secrets", "enable", "-version=1", "kv")
    cli(both, "secrets", "enable", "-version=2", "-path=kv2", "-description=second", "kv")
    cli(both, "secrets", "enable", "-path=kv2", "kv")
    cli(both, "secrets", "enable", "bogus")
    cli(both, "secrets", "tune", "-max-lease-ttl=1h", "kv/")
    cli(both, "secrets", "tune", "-default-lease-ttl=2h", "kv/")
    cli(both, "secrets", "tune", "-options=version=2", "kv/")
    cli(both, "secrets", "tune", "-listing-visibility=unauth", "-description=tuned", "kv2/")
    _, table = cli(both, "secrets", "list")
    assert "kv2/" in table
    cli(both, "secrets", "list", "-detailed")
    rc_ref, json_ref, _ = bao(both.ref, "secrets", "list", "-format=json")
    rc_tes, json_tes, _ = bao(both.tes, "secrets", "list", "-format=json")
    assert rc_ref == rc_tes == 0 and norm(json.loads(json_ref)) == norm(json.loads(json_tes))
    cli(both, "read", "sys/mounts/kv/tune")
    # The reference moves in the background and the CLI polls every 10 s; Tessera has finished by
    # the time it answers, so only the outcome is compared.
    for server in (both.ref, both.tes):
        code, out, _ = bao(server, "secrets", "move", "kv2/", "kv3/")
        assert code == 0 and "Success! Finished moving secrets engine kv2/ to kv3/" in out, out
    cli(both, "secrets", "list")
    cli(both, "secrets", "disable", "kv3/")
    cli(both, "secrets", "disable", "sys/")
    cli(both, "auth", "list")
    cli(both, "auth", "list", "-detailed")
    cli(both, "auth", "tune", "-token-type=batch", "token/")
    cli(both, "auth", "disable", "token/")
    for server in (both.ref, both.tes):
        code, out, _ = bao(server, "read", "-field=term", "sys/key-status")
        assert (code, out) == (0, "1")


def test_hvac_sys_methods(reference: ReferenceServer, tessera: TesseraServer) -> None:
    both = Both(reference, tessera, "")
    name = unique("hv")
    hvac_same(both, lambda c: c.sys.enable_secrets_engine("kv", path=name, options={"version": "1"}))
    hvac_same(both, lambda c: c.sys.enable_secrets_engine("kv", path=name))
    hvac_same(both, lambda c: {"mount": c.sys.list_mounted_secrets_engines()["data"][f"{name}/"]})
    hvac_same(both, lambda c: c.sys.read_mount_configuration(name))
    hvac_same(both, lambda c: c.sys.tune_mount_configuration(name, default_lease_ttl=60, max_lease_ttl="1h"))
    hvac_same(both, lambda c: c.sys.tune_mount_configuration(name, default_lease_ttl="2h"))
    hvac_same(both, lambda c: c.sys.tune_mount_configuration(name, options={"version": "2"}))
    hvac_same(both, lambda c: c.sys.retrieve_mount_option(name, "version"))
    moved = unique("hvmoved")
    hvac_same(both, lambda c: c.sys.move_backend(name, moved).get("data", {}).keys() == {"migration_id"})
    hvac_same(both, lambda c: c.sys.read_mount_configuration(moved))
    hvac_same(both, lambda c: c.sys.disable_secrets_engine(moved))
    hvac_same(both, lambda c: c.sys.read_mount_configuration(moved))
    hvac_same(both, lambda c: {"token": c.sys.list_auth_methods()["data"]["token/"]})
    hvac_same(both, lambda c: c.sys.read_auth_method_tuning("token"))
    hvac_same(both, lambda c: c.sys.tune_auth_method("token", token_type="batch"))
    hvac_same(both, lambda c: c.sys.disable_auth_method("token"))
    hvac_same(both, lambda c: c.sys.enable_auth_method("bogus", path=unique("b")))
    hvac_same(both, lambda c: c.sys.read_health_status(method="GET"))
    hvac_same(both, lambda c: c.sys.read_seal_status())
    hvac_same(both, lambda c: c.sys.is_initialized())
    hvac_same(both, lambda c: c.sys.is_sealed())
    hvac_same(both, lambda c: c.sys.read_leader_status())
    hvac_same(both, lambda c: sorted(c.sys.get_encryption_key_status()["data"]))
    hvac_same(both, lambda c: c.sys.read_init_status())


@needs_approle
def test_hvac_auth_methods(reference: ReferenceServer, tessera: TesseraServer) -> None:
    both = Both(reference, tessera, "")
    name = unique("hvar")
    hvac_same(both, lambda c: c.sys.enable_auth_method("approle", path=name, description="d"))
    hvac_same(both, lambda c: {"m": c.sys.list_auth_methods()["data"][f"{name}/"]})
    hvac_same(
        both, lambda c: c.sys.tune_auth_method(name, default_lease_ttl="1h", listing_visibility="unauth")
    )
    hvac_same(both, lambda c: c.sys.read_auth_method_tuning(name))
    hvac_same(both, lambda c: c.sys.disable_auth_method(name))

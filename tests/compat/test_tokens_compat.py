"""The token system side by side with the reference OpenBao (spec tokens.md §10, creation half).

Every step sends the same request to both servers (each with its own tokens) and compares status,
error text, envelope shape and normalised values. Token IDs differ by prefix (``s.``/``hvs.``,
``b.``/``hvb.``) and are normalised away; so are accessors, times and request IDs.
"""

from __future__ import annotations

import pytest

from tests.compat.token_pairs import Duo, with_token
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer

CREATOR = """
path "auth/token/create" { capabilities = ["create", "update"] }
path "auth/token/create-orphan" { capabilities = ["create", "update"] }
path "auth/token/create/*" { capabilities = ["create", "update"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-orphan" { capabilities = ["update"] }
path "auth/token/accessors" { capabilities = ["list"] }
path "auth/token/accessors/*" { capabilities = ["list"] }
"""
SUDOER = """
path "auth/token/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
"""
P1 = 'path "secret/p1/*" { capabilities = ["read"] }'
P2 = 'path "secret/p2/*" { capabilities = ["read"] }'


@pytest.fixture
def duo(reference: ReferenceServer, tessera: TesseraServer) -> Duo:
    d = Duo(reference, tessera)
    for name, rules in (("p1", P1), ("p2", P2), ("creator", CREATOR), ("sudoer", SUDOER)):
        d.policy(name, rules)
    return d


def test_root_lookup_self_and_token_sources(duo: Duo) -> None:
    duo.same("GET", "auth/token/lookup-self")
    duo.same("GET", "auth/token/lookup")
    duo.same("POST", "auth/token/lookup", json={})
    duo.same("GET", "auth/token/lookup-self", token=None, headers={"Authorization": "Bearer root"})
    duo.same("GET", "auth/token/lookup-self", token=None, headers={"Authorization": "Basic root"})
    duo.same("GET", "auth/token/lookup-self", headers={"Authorization": "Bearer bogus"})
    for bad in ("s.nope", "hvs.AAAAAAAAAAAAAAAAAAAAAAAA", "nope", ""):
        duo.same("GET", "auth/token/lookup-self", token=(bad, bad))
    duo.same("GET", "auth/token/lookup-self", token=None)
    duo.same("POST", "auth/token/lookup", json={"token": "s.nope"})


def test_create_service_token_and_lookup(duo: Duo) -> None:
    body = {"policies": ["p1"], "meta": {"user": "alice"}, "display_name": "My App!"}
    s = duo.create(body)
    duo.same("POST", "auth/token/lookup", json=with_token("token", s))
    duo.same("GET", "auth/token/lookup-self", token=s)
    duo.same("POST", "auth/token/lookup-self", token=s)  # default policy: read only → 403
    for i, server in enumerate(duo.servers):
        status, body_, _ = call(server.addr, "GET", "auth/token/lookup", "root", params={"token": s[i]})
        assert status == 200 and body_["data"]["display_name"] == "token-My-App"
        assert body_["data"]["policies"] == ["default", "p1"]


@pytest.mark.parametrize(
    "body",
    [
        {"policies": "p1,p2"},
        {"policies": ["P1", " p2 "], "num_uses": "3", "renewable": "false"},
        {"policies": ["response-wrapping"]},
        {"policies": ["root"]},
        {"policies": ["root", "p1"]},
        {"policies": ["default"]},
        {"policies": ["p1"], "no_default_policy": True},
        {"meta": {"a": 1, "b": True}},
        {"meta": ["a=1", "b=2"]},
        {"meta": "abc"},
        {"meta": {}},
        {"meta": None},
        {"policies": None},
        {"policies": ["p1", None]},
        {"policies": "p1"},
        {"ttl": None},
        {"type": ""},
        {"type": "SERVICE"},
        {"type": None},
        {"id": ""},
        {"display_name": "héllo wörld"},
        {"renewable": 1},
        {"period": "1d"},
        {"explicit_max_ttl": 0},
        {"num_uses": -1},
        {"num_uses": "abc"},
        {"renewable": "abc"},
        {"type": "foo"},
        {"display_name": "a b c --"},
        {"display_name": "!!!"},
        {"policies": ["nope-policy"], "no_parent": True},
        {"lease": "1h"},
        {"lease": "-1h"},
        {"ttl": "1h", "lease": "2h"},
        {"unknown_field": 1},
    ],
)
def test_create_field_handling(duo: Duo, body: dict) -> None:
    _create_then_lookup(duo, body)


def _create_then_lookup(duo: Duo, body: dict) -> None:
    """Create on both; when it succeeds, look the new tokens up on both too."""
    rb, tb = duo.same("POST", "auth/token/create", json=body)
    if isinstance(rb, dict) and rb.get("auth"):
        pair = (rb["auth"]["client_token"], tb["auth"]["client_token"])
        duo.same("POST", "auth/token/lookup", json=with_token("token", pair))


@pytest.mark.parametrize(
    "ttl",
    ["15m", 3600, "3600", "1d", "1h30m", "7200s", "0", 0, "-5", "abc", 1.5, "90000h", "768h", "1h30s"],
)
def test_create_ttl_parsing_and_caps(duo: Duo, ttl: object) -> None:
    duo.same("POST", "auth/token/create", json={"ttl": ttl, "policies": ["p1"]})


@pytest.mark.parametrize(
    "body",
    [
        {"ttl": "2h", "explicit_max_ttl": "1h"},
        {"explicit_max_ttl": "1h"},
        {"explicit_max_ttl": "-1h"},
        {"explicit_max_ttl": "abc"},
        {"period": "30m", "ttl": "5m"},
        {"period": "1000h"},
        {"period": "-1m"},
        {"period": "0"},
        {"period": "2h", "explicit_max_ttl": "1h"},
        {"policies": ["root"], "explicit_max_ttl": "1h"},
        {"policies": ["root"], "ttl": "1h"},
    ],
)
def test_create_period_and_explicit_max(duo: Duo, body: dict) -> None:
    _create_then_lookup(duo, {**body, "policies": body.get("policies", ["p1"])})


def test_batch_tokens(duo: Duo) -> None:
    b = duo.create({"type": "batch", "policies": ["p1"], "ttl": "20m"})
    assert b[1].startswith("hvb.") and b[0].startswith("b.")
    duo.same("POST", "auth/token/lookup", json=with_token("token", b))
    duo.same("GET", "auth/token/lookup-self", token=b)
    duo.same("POST", "auth/token/create", token=b, json={})  # ACL denies first
    duo.same("POST", "auth/token/renew-self", token=b)
    duo.same("POST", "auth/token/renew", json=with_token("token", b))
    duo.same("POST", "auth/token/revoke-self", token=b)
    duo.same("POST", "auth/token/revoke", json=with_token("token", b))
    duo.same("POST", "auth/token/revoke-orphan", json=with_token("token", b))
    for method in ("GET", "POST", "LIST"):
        duo.same(method, "cubbyhole/x", token=b, json={"a": 1} if method == "POST" else None)
    # one character changed: never validates
    tampered = tuple(t[:-3] + ("A" if t[-3] != "A" else "B") + t[-2:] for t in b)
    duo.same("GET", "auth/token/lookup-self", token=tampered)
    # batch with the creator policy reaches the handler
    cb = duo.create({"type": "batch", "policies": ["creator"]})
    duo.same("POST", "auth/token/create", token=cb, json={})
    duo.same("POST", "auth/token/create-orphan", token=cb, json={})


@pytest.mark.parametrize(
    "body",
    [
        {"type": "batch", "policies": ["root"]},
        {"type": "batch"},
        {"type": "batch", "policies": ["p1"], "num_uses": 3},
        {"type": "batch", "policies": ["p1"], "period": "1h"},
        {"type": "batch", "policies": ["p1"], "period": "abc"},
        {"type": "batch", "policies": ["p1"], "explicit_max_ttl": "1h"},
        {"type": "batch", "policies": ["p1"], "explicit_max_ttl": "zz"},
        {"type": "batch", "policies": ["p1"], "explicit_max_ttl": "0", "period": "0"},
        {"type": "batch", "policies": ["p1"], "renewable": True, "meta": {"k": "v"}},
        {"type": "service", "policies": ["p1"]},
    ],
)
def test_batch_refusals_and_shapes(duo: Duo, body: dict) -> None:
    duo.same("POST", "auth/token/create", json=body)


def test_batch_child_dies_with_parent(duo: Duo) -> None:
    parent = duo.create({"policies": ["creator", "p1"]})
    child = duo.create({"type": "batch", "policies": ["p1"]}, token=parent)
    orphan = duo.create({"type": "batch", "policies": ["p1"]}, path="auth/token/create-orphan", token=parent)
    duo.same("GET", "auth/token/lookup-self", token=child)
    duo.same("POST", "auth/token/revoke", json=with_token("token", parent))
    duo.same("GET", "auth/token/lookup-self", token=child)
    duo.same("POST", "auth/token/lookup", json=with_token("token", child))
    duo.same("GET", "auth/token/lookup-self", token=orphan)


def test_non_sudo_creation_rules(duo: Duo) -> None:
    creator = duo.create({"policies": ["creator", "p1"]})
    duo.create({}, token=creator)
    duo.create({"policies": ["p1"], "no_default_policy": True}, token=creator)
    duo.create({"policies": ["default"]}, token=creator)
    for body in (
        {"policies": ["p2"]},
        {"policies": ["root"]},
        {"no_parent": True},
        {"id": "custom-nonsudo"},
        {"period": "1h"},
        {"policies": ["p1"], "period": "0"},
    ):
        duo.same("POST", "auth/token/create", token=creator, json=body)
    orphan = duo.create({"policies": ["p1"]}, token=creator, path="auth/token/create-orphan")
    duo.same("POST", "auth/token/lookup", json=with_token("token", orphan))
    duo.same("POST", "auth/token/revoke-orphan", token=creator, json=with_token("token", orphan))
    duo.same("LIST", "auth/token/accessors", token=creator)
    limited = duo.create({"policies": ["creator"], "num_uses": 5})
    duo.same("POST", "auth/token/create", token=limited, json={})
    one_use = duo.create({"policies": ["creator"], "num_uses": 1})
    duo.same("POST", "auth/token/create", token=one_use, json={})


def test_sudo_creation_rules(duo: Duo) -> None:
    sudoer = duo.create({"policies": ["sudoer"]})
    duo.create({"policies": ["p2"]}, token=sudoer)
    duo.create({"policies": ["p1"], "no_parent": True, "period": "1h"}, token=sudoer)
    duo.same("POST", "auth/token/create", token=sudoer, json={"policies": ["root"]})
    (rs, rb), (ts, tb) = duo.send("LIST", "auth/token/accessors", token=sudoer)
    assert rs == ts == 200 and rb["data"]["keys"] and tb["data"]["keys"]
    cid = duo.unique("my-custom-id-")
    duo.same("POST", "auth/token/create", token=sudoer, json={"id": cid, "policies": ["p1"]})
    duo.same("POST", "auth/token/create", token=sudoer, json={"id": cid, "policies": ["p1"]})
    duo.same("GET", "auth/token/lookup-self", token=(cid, cid))
    for bad in ("s.abc", "hvs.abc", "ab.c"):
        duo.same("POST", "auth/token/create", json={"id": bad})
    duo.same("POST", "auth/token/tidy", token=sudoer)


def test_root_children_and_expiring_roots(duo: Duo) -> None:
    duo.same("POST", "auth/token/create", json={"policies": ["root"]})
    expiring_root = duo.create({"policies": ["root"], "ttl": "1h"})
    duo.same("POST", "auth/token/create", token=expiring_root, json={"policies": ["root"]})
    duo.same("POST", "auth/token/create", token=expiring_root, json={"policies": ["root"], "ttl": "5h"})
    duo.same("POST", "auth/token/renew-self", token=expiring_root, json={"increment": "2h"})
    duo.same("POST", "auth/token/renew-self")


@pytest.mark.parametrize(
    "path",
    [
        "auth/token/lookup",
        "auth/token/renew",
        "auth/token/revoke",
        "auth/token/revoke-orphan",
        "auth/token/lookup-self",
    ],
)
@pytest.mark.parametrize("value", [None, 5, ["a"], {"a": 1}, True])
def test_non_string_token_parameter(duo: Duo, path: str, value: object) -> None:
    duo.same("POST", path, json={"token": value})
    duo.same("POST", path, json={"token": value}, token=("bogus", "bogus"))


def test_unknown_paths_and_methods(duo: Duo) -> None:
    duo.same("GET", "auth/token/nope")
    duo.same("GET", "auth/token/create")
    duo.same("DELETE", "auth/token/create")
    duo.same("POST", "auth/token/roles/a%20b", json={})
    duo.same("GET", "auth/token/lookup-accessor")
    duo.same("POST", "auth/token/tidy")

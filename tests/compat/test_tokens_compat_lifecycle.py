"""The token system side by side with the reference OpenBao (spec tokens.md §10, lifecycle half).

Renewal, revocation (trees, orphans, accessors), num_uses, cubbyholes, roles, mount tuning,
bound CIDRs, expiry and response wrapping: each step on both servers, answers compared.
"""

from __future__ import annotations

import time

import pytest

from tests.compat.test_tokens_compat import CREATOR, P1, P2, SUDOER
from tests.compat.token_pairs import ROOT, Duo, Pair, with_token
from tests.helpers.servers import ReferenceServer, TesseraServer


@pytest.fixture
def duo(reference: ReferenceServer, tessera: TesseraServer) -> Duo:
    d = Duo(reference, tessera)
    for name, rules in (("p1", P1), ("p2", P2), ("creator", CREATOR), ("sudoer", SUDOER)):
        d.policy(name, rules)
    return d


def _lookup(duo: Duo, tokens: Pair) -> tuple[dict, dict]:
    rb, tb = duo.same("POST", "auth/token/lookup", json=with_token("token", tokens))
    return rb, tb


# -- renewal ---------------------------------------------------------------------------------------


def test_renew_self_increments_and_caps(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"], "ttl": "10m", "explicit_max_ttl": "1h"})
    duo.same("POST", "auth/token/renew-self", token=s)
    duo.same("POST", "auth/token/renew-self", token=s, json={"increment": "30m"})
    # the cap is "what is left until issue + 1h": a second may tick between the two servers
    rb, tb = duo.same("POST", "auth/token/renew-self", token=s, json={"increment": 7200}, values=False)
    for body in (rb, tb):
        assert body["warnings"][0].startswith(
            (
                'TTL of "2h" exceeded the effective max_ttl of "59m5',
                'TTL of "2h" exceeded the effective max_ttl of "1h"',
            )
        )
    _lookup(duo, s)
    duo.same("POST", "auth/token/renew-self", token=s, json={"increment": "abc"})
    duo.same("POST", "auth/token/renew-self", token=s, json={"increment": -5})


def test_renew_reuses_last_grant(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"]})
    duo.same("POST", "auth/token/renew", json=with_token("token", s, {"increment": 60}))
    duo.same("POST", "auth/token/renew-self", token=s)
    _lookup(duo, s)


def test_renew_refusals(duo: Duo) -> None:
    fixed = duo.create({"policies": ["p1"], "renewable": False})
    duo.same("POST", "auth/token/renew-self", token=fixed)
    duo.same("POST", "auth/token/renew", json={})
    duo.same("POST", "auth/token/renew", json={"token": "s.nope"})
    duo.same("POST", "auth/token/renew-self")
    duo.same("POST", "auth/token/renew-accessor", json={})
    duo.same("POST", "auth/token/renew-accessor", json={"accessor": "nope"})


def test_periodic_renewal_ignores_increment(duo: Duo) -> None:
    p = duo.create({"policies": ["p1"], "period": "30m", "ttl": "5m"})
    _lookup(duo, p)
    duo.same("POST", "auth/token/renew-self", token=p, json={"increment": "10h"})


def test_accessor_endpoints(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"], "meta": {"k": "v"}})
    acc = duo.accessor_pair(s)
    duo.same("POST", "auth/token/lookup-accessor", json=with_token("accessor", acc))
    duo.same("POST", "auth/token/renew-accessor", json=with_token("accessor", acc, {"increment": "5m"}))
    duo.same("POST", "auth/token/lookup-accessor", json={})
    duo.same("POST", "auth/token/lookup-accessor", json={"accessor": "nope"})
    duo.same("POST", "auth/token/revoke-accessor", json={"accessor": "nope"})
    duo.same("POST", "auth/token/revoke-accessor", json={})
    duo.same("POST", "auth/token/revoke-accessor", json=with_token("accessor", acc))
    duo.same("GET", "auth/token/lookup-self", token=s)
    duo.same("POST", "auth/token/lookup-accessor", json=with_token("accessor", acc))


# -- revocation ------------------------------------------------------------------------------------


def test_revoke_tree(duo: Duo) -> None:
    parent = duo.create({"policies": ["creator", "p1"]})
    c1 = duo.create({"policies": ["creator"]}, token=parent)
    g1 = duo.create({"policies": ["creator"]}, token=c1)
    b = duo.create({"type": "batch", "policies": ["p1"]}, token=parent)
    o = duo.create({"policies": ["p1"]}, token=parent, path="auth/token/create-orphan")
    duo.same("POST", "auth/token/revoke", json=with_token("token", parent))
    for t in (parent, c1, g1, b):
        duo.same("GET", "auth/token/lookup-self", token=t)
    duo.same("GET", "auth/token/lookup-self", token=o)
    duo.same("POST", "auth/token/revoke", json=with_token("token", parent))
    duo.same("POST", "auth/token/revoke", json={})


def test_revoke_orphan_reparents_children(duo: Duo) -> None:
    p2 = duo.create({"policies": ["creator", "p1"]})
    k = duo.create({"policies": ["creator"]}, token=p2)
    kk = duo.create({"policies": ["creator"]}, token=k)
    kb = duo.create({"type": "batch", "policies": ["creator"]}, token=p2)
    duo.same("POST", "auth/token/revoke-orphan", json=with_token("token", p2))
    _lookup(duo, k)
    _lookup(duo, kk)
    duo.same("GET", "auth/token/lookup-self", token=kb)
    duo.same("POST", "auth/token/revoke-orphan", json={"token": "s.nope"})
    duo.same("POST", "auth/token/revoke-orphan", json={})
    # the re-parented child is a real orphan now: revoking it spares nobody but its own subtree
    duo.same("POST", "auth/token/revoke", json=with_token("token", k))
    duo.same("GET", "auth/token/lookup-self", token=kk)


def test_revoke_self_and_accessor(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"]})
    duo.same("POST", "auth/token/revoke-self", token=s)
    duo.same("GET", "auth/token/lookup-self", token=s)
    duo.same("POST", "auth/token/revoke-self", token=s)


# -- num_uses, cubbyhole ---------------------------------------------------------------------------


def test_num_uses_count_even_when_denied(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"], "num_uses": 3})
    duo.same("GET", "sys/mounts", token=s)
    _lookup(duo, s)
    duo.same("GET", "auth/token/lookup-self", token=s)
    duo.same("GET", "auth/token/lookup-self", token=s)
    duo.same("GET", "auth/token/lookup-self", token=s)


def test_last_use_lookup_shows_pending(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"], "num_uses": 1})
    duo.same("GET", "auth/token/lookup-self", token=s)
    _lookup(duo, s)


def test_cubbyhole_is_per_token(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"]})
    other = duo.create({"policies": ["p1"]})
    duo.same("POST", "cubbyhole/x", token=s, json={"a": "b"})
    duo.same("GET", "cubbyhole/x", token=s)
    duo.same("LIST", "cubbyhole/", token=s)
    duo.same("GET", "cubbyhole/x", token=other)
    duo.same("GET", "cubbyhole/x")
    nodefault = duo.create({"policies": ["p1"], "no_default_policy": True})
    duo.same("POST", "cubbyhole/x", token=nodefault, json={"a": "b"})
    duo.same("GET", "auth/token/lookup-self", token=nodefault)
    duo.same("POST", "auth/token/revoke", json=with_token("token", s))
    duo.same("GET", "cubbyhole/x", token=s)


# -- roles -----------------------------------------------------------------------------------------


def test_role_crud_and_validation(duo: Duo) -> None:
    r = duo.unique("r")
    duo.same("POST", f"auth/token/roles/{r}", json={"path_suffix": "v1"})
    duo.same("POST", f"auth/token/roles/{r}", json={})
    duo.same("GET", f"auth/token/roles/{r}")
    duo.same("GET", "auth/token/roles/nope-" + r)
    for body in (
        {"token_type": "batch"},
        {"token_type": "batch", "orphan": True},
        {"token_type": "batch", "orphan": True, "renewable": False, "token_period": "1h"},
        {"token_type": "batch", "orphan": True, "renewable": False, "token_explicit_max_ttl": "1h"},
        {"token_type": "weird"},
        {"token_type": None},
        {"path_suffix": "a..b"},
        {"path_suffix": "abc/def"},
        {"path_suffix": "a/../b"},
        {"token_explicit_max_ttl": "10000h"},
        {"period": "1h", "token_period": "2h"},
        {"bound_cidrs": "1.2.3.4", "token_bound_cidrs": "10.0.0.0/8,127.0.0.1/32"},
        {"explicit_max_ttl": "1h", "token_explicit_max_ttl": "2h"},
        {"token_bound_cidrs": "abc"},
        {"token_num_uses": -1},
        {"token_period": -5},
        {"token_period": "abc"},
        {"token_ttl": "1h", "token_policies": "a", "token_max_ttl": "2h"},
        {"allowed_policies": "P1, p2,p1", "disallowed_policies": "X", "allowed_entity_aliases": "Alice,bob*"},
        {"renewable": False},
    ):
        duo.same("POST", f"auth/token/roles/{r}", json=body)
        duo.same("GET", f"auth/token/roles/{r}")
    rb = duo.unique("rb")
    duo.same(
        "POST",
        f"auth/token/roles/{rb}",
        json={"token_type": "batch", "orphan": True, "renewable": False, "token_num_uses": 3},
    )
    duo.same("POST", f"auth/token/roles/{rb}", json={"token_num_uses": 4})
    duo.same("GET", f"auth/token/roles/{rb}")
    duo.same("GET", "auth/token/roles", params={"list": "true"}, values=False)
    duo.same("DELETE", f"auth/token/roles/{r}")
    duo.same("DELETE", f"auth/token/roles/{r}")
    duo.same("POST", "auth/token/create/" + duo.unique("nope"), json={})


def test_role_based_creation(duo: Duo) -> None:
    r = duo.unique("r1")
    duo.same(
        "POST",
        f"auth/token/roles/{r}",
        json={
            "allowed_policies": "p1,p2",
            "allowed_policies_glob": "app-*",
            "disallowed_policies": "p3",
            "orphan": True,
            "path_suffix": "ver-1",
            "token_period": "1h",
            "token_explicit_max_ttl": "24h",
            "token_bound_cidrs": "127.0.0.1,10.0.0.0/8",
            "allowed_entity_aliases": "Alice,bob*",
        },
    )
    duo.same("GET", f"auth/token/roles/{r}")
    t = duo.create({}, path=f"auth/token/create/{r}")
    _lookup(duo, t)
    duo.same("POST", "auth/token/renew-self", token=t, json={"increment": "5h"})
    for body in (
        {"policies": ["p3"]},
        {"policies": ["root"]},
        {"policies": ["app-x"]},
        {"period": "30m"},
        {"explicit_max_ttl": "48h"},
        {"explicit_max_ttl": "2h"},
        {"policies": ["p1"], "no_default_policy": True},
        {"entity_alias": "carol"},
        {"type": "batch"},
    ):
        duo.same("POST", f"auth/token/create/{r}", json=body)
    duo.same("POST", "auth/token/create", json={"entity_alias": "alice"})
    creator = duo.create({"policies": ["creator", "p1"]})
    duo.same("POST", f"auth/token/create/{r}", token=creator, json={"policies": ["p2"]})
    duo.same("POST", f"auth/token/create/{r}", token=creator, json={"period": "1h"})


def test_role_disallowed_and_parent_policies(duo: Duo) -> None:
    r = duo.unique("rd")
    duo.ok(
        "POST",
        f"auth/token/roles/{r}",
        json={"disallowed_policies": "p2,default", "disallowed_policies_glob": "x-*"},
    )
    creator = duo.create({"policies": ["creator", "p1"]})
    duo.same("POST", f"auth/token/create/{r}", token=creator, json={})
    duo.same("POST", f"auth/token/create/{r}", token=creator, json={"policies": ["p2"]})
    duo.same("POST", f"auth/token/create/{r}", token=creator, json={"policies": ["x-y"]})
    duo.same("POST", f"auth/token/create/{r}", token=creator, json={"policies": ["zz"]})


def test_role_token_types_and_num_uses(duo: Duo) -> None:
    rdb = duo.unique("rdb")
    duo.ok("POST", f"auth/token/roles/{rdb}", json={"token_type": "default-batch"})
    b = duo.create({"policies": ["p1"]}, path=f"auth/token/create/{rdb}")
    _lookup(duo, b)
    s = duo.create({"policies": ["p1"], "type": "service"}, path=f"auth/token/create/{rdb}")
    _lookup(duo, s)
    rbatch = duo.unique("rbatch")
    duo.ok(
        "POST", f"auth/token/roles/{rbatch}", json={"token_type": "batch", "orphan": True, "renewable": False}
    )
    forced = duo.create({"policies": ["p1"], "type": "service"}, path=f"auth/token/create/{rbatch}")
    _lookup(duo, forced)
    rn = duo.unique("rn")
    duo.ok(
        "POST",
        f"auth/token/roles/{rn}",
        json={"token_num_uses": 3, "renewable": False, "token_no_default_policy": True},
    )
    n = duo.create({"policies": ["p1"], "num_uses": 5}, path=f"auth/token/create/{rn}")
    _lookup(duo, n)
    rs = duo.unique("rs")
    duo.ok("POST", f"auth/token/roles/{rs}", json={"token_type": "service"})
    duo.same("POST", f"auth/token/create/{rs}", json={"type": "batch", "policies": ["p1"]})


def test_role_deleted_blocks_renewal(duo: Duo) -> None:
    r = duo.unique("rdel")
    duo.ok("POST", f"auth/token/roles/{r}", json={"allowed_policies": "p1"})
    t = duo.create({}, path=f"auth/token/create/{r}")
    duo.ok("DELETE", f"auth/token/roles/{r}")
    duo.same("POST", "auth/token/renew-self", token=t)


# -- bound CIDRs, expiry ---------------------------------------------------------------------------


def test_bound_cidrs(duo: Duo) -> None:
    r = duo.unique("rc")
    duo.ok("POST", f"auth/token/roles/{r}", json={"token_bound_cidrs": "10.0.0.0/8"})
    t = duo.create({"policies": ["p1"]}, path=f"auth/token/create/{r}")
    duo.same("GET", "auth/token/lookup-self", token=t)
    _lookup(duo, t)
    ok = duo.unique("rok")
    duo.ok("POST", f"auth/token/roles/{ok}", json={"token_bound_cidrs": "127.0.0.0/8"})
    t2 = duo.create({"policies": ["p1"]}, path=f"auth/token/create/{ok}")
    duo.same("GET", "auth/token/lookup-self", token=t2)


@pytest.mark.slow
def test_expired_tokens_stop_at_once(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"], "ttl": "2s"})
    b = duo.create({"policies": ["p1"], "ttl": "2s", "type": "batch"})
    time.sleep(3.2)
    duo.same("GET", "auth/token/lookup-self", token=s)
    duo.same("POST", "auth/token/lookup", json=with_token("token", s))
    duo.same("GET", "auth/token/lookup-self", token=b)
    duo.same("POST", "auth/token/lookup", json=with_token("token", b))


# -- mount tuning ----------------------------------------------------------------------------------


def test_token_mount_tuning(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    duo = Duo(fresh_reference, fresh_tessera)
    duo.policy("p1", P1)
    duo.same("POST", "sys/auth/token/tune", json={"token_type": "batch"})
    duo.same("GET", "sys/auth/token/tune")
    duo.ok("POST", "sys/auth/token/tune", json={"max_lease_ttl": "2h", "default_lease_ttl": "1h"})
    duo.create({"policies": ["p1"]})
    duo.create({"policies": ["p1"], "ttl": "5h"})
    duo.create({"policies": ["p1"], "type": "batch"})
    duo.create({"policies": ["p1"], "period": "3h"})
    r = duo.unique("r")
    duo.same("POST", f"auth/token/roles/{r}", json={"token_explicit_max_ttl": "3h"})


# -- response wrapping -----------------------------------------------------------------------------


def _wrap_token(rb: dict, tb: dict) -> Pair:
    return rb["wrap_info"]["token"], tb["wrap_info"]["token"]


def test_wrapped_create_and_unwrap(duo: Duo) -> None:
    rb, tb = duo.same(
        "POST", "auth/token/create", json={"policies": ["p1"]}, headers={"X-Vault-Wrap-TTL": "5m"}
    )
    w = _wrap_token(rb, tb)
    assert "wrapped_accessor" in rb["wrap_info"] and "wrapped_accessor" in tb["wrap_info"]
    duo.same("POST", "sys/wrapping/lookup", token=None, json=with_token("token", w))
    _lookup(duo, w)
    duo.same("POST", "sys/wrapping/unwrap", token=w)
    duo.same("POST", "sys/wrapping/unwrap", token=w)
    duo.same("POST", "sys/wrapping/lookup", token=None, json=with_token("token", w))


def test_unwrap_by_third_party_and_rewrap(duo: Duo) -> None:
    rb, tb = duo.same(
        "POST", "sys/wrapping/wrap", json={"a": "b", "n": 1}, headers={"X-Vault-Wrap-TTL": "300"}
    )
    w = _wrap_token(rb, tb)
    rb, tb = duo.same("POST", "sys/wrapping/rewrap", json=with_token("token", w))
    w2 = _wrap_token(rb, tb)
    duo.same("POST", "sys/wrapping/unwrap", json=with_token("token", w))
    duo.same("POST", "sys/wrapping/lookup", token=None, json=with_token("token", w2))
    duo.same("POST", "sys/wrapping/unwrap", json=with_token("token", w2))
    duo.same("POST", "sys/wrapping/unwrap", json=with_token("token", w2))


def test_wrapping_refusals(duo: Duo) -> None:
    duo.same("POST", "sys/wrapping/wrap", json={"a": 1})
    duo.same("POST", "auth/token/create", json={}, headers={"X-Vault-Wrap-TTL": "abc"})
    for path in ("sys/wrapping/unwrap", "sys/wrapping/lookup", "sys/wrapping/rewrap"):
        duo.same("POST", path, token=("bogus", "bogus"))
        duo.same("POST", path, token=None)
        duo.same("POST", path, token=None, json={"token": ""})
        duo.same("POST", path, json={"token": "s.nope"})
        duo.same("POST", path, token=ROOT)


def test_wrapping_token_burned_by_stray_request(duo: Duo) -> None:
    rb, tb = duo.same("POST", "sys/wrapping/wrap", json={"x": "y"}, headers={"X-Vault-Wrap-TTL": "5m"})
    w = _wrap_token(rb, tb)
    duo.same("GET", "auth/token/lookup-self", token=w)
    duo.same("POST", "sys/wrapping/unwrap", token=w)


def test_legacy_cubbyhole_response_read(duo: Duo) -> None:
    rb, tb = duo.same("POST", "sys/wrapping/wrap", json={"x": "y"}, headers={"X-Vault-Wrap-TTL": "5m"})
    w = _wrap_token(rb, tb)
    (rs, rbody), (ts, tbody) = duo.send("GET", "cubbyhole/response", token=w)
    assert rs == ts == 200
    assert rbody["warnings"] == tbody["warnings"]
    assert '"x":"y"' in rbody["data"]["response"].replace(" ", "")
    assert '"x":"y"' in tbody["data"]["response"].replace(" ", "")
    duo.same("POST", "sys/wrapping/unwrap", token=w)


def test_wrapped_lookup_and_list(duo: Duo) -> None:
    s = duo.create({"policies": ["p1"]})
    rb, tb = duo.same("GET", "auth/token/lookup-self", token=s, headers={"X-Vault-Wrap-TTL": "1m"})
    w = _wrap_token(rb, tb)
    duo.same("POST", "sys/wrapping/unwrap", json=with_token("token", w))
    wrap = {"X-Vault-Wrap-TTL": "1m"}
    duo.same("LIST", "cubbyhole/", token=s, headers=wrap)  # an empty listing is not wrapped
    duo.same("POST", "cubbyhole/k", token=s, json={"v": 1})
    rb, tb = duo.same("LIST", "cubbyhole/", token=s, headers=wrap)
    duo.same("POST", "sys/wrapping/unwrap", json=with_token("token", _wrap_token(rb, tb)))


# -- entities --------------------------------------------------------------------------------------


def test_entity_alias_tokens(duo: Duo) -> None:
    r = duo.unique("rea")
    duo.ok(
        "POST",
        f"auth/token/roles/{r}",
        json={"allowed_entity_aliases": "Alice,bob*", "allowed_policies": "p1"},
    )
    rb, tb = duo.same("POST", f"auth/token/create/{r}", json={"entity_alias": "Alice"})
    assert rb["auth"]["entity_id"] and tb["auth"]["entity_id"]
    t = rb["auth"]["client_token"], tb["auth"]["client_token"]
    _lookup(duo, t)
    duo.same("POST", f"auth/token/create/{r}", json={"entity_alias": "bobby"})
    duo.same("POST", f"auth/token/create/{r}", json={"entity_alias": "carol"})
    # a non-orphan child inherits the entity
    duo.policy("tc", 'path "auth/token/create" { capabilities = ["update"] }')
    r2 = duo.unique("rea")
    duo.ok("POST", f"auth/token/roles/{r2}", json={"allowed_entity_aliases": "*", "allowed_policies": "tc"})
    parent = duo.create({"entity_alias": duo.unique("ent")}, path=f"auth/token/create/{r2}")
    child = duo.create({}, token=parent)
    _lookup(duo, child)


def test_identity_policies_join_the_token_policies(duo: Duo) -> None:
    r = duo.unique("rea")
    duo.ok("POST", f"auth/token/roles/{r}", json={"allowed_entity_aliases": "*", "allowed_policies": "p1"})
    alias = duo.unique("ent")
    rb, tb = duo.same("POST", f"auth/token/create/{r}", json={"entity_alias": alias})
    ids = rb["auth"]["entity_id"], tb["auth"]["entity_id"]
    for i, server in enumerate(duo.servers):
        status, body, _ = server.call(
            "POST", f"identity/entity/id/{ids[i]}", json={"policies": ["p2", "ip-ent"]}
        )
        assert status == 204, body
    rb, tb = duo.same("POST", f"auth/token/create/{r}", json={"entity_alias": alias})
    t = rb["auth"]["client_token"], tb["auth"]["client_token"]
    _lookup(duo, t)
    duo.same("POST", "auth/token/renew", json=with_token("token", t))

"""Identity groups side by side: the reference OpenBao and Tessera must agree.

Internal and external groups, nesting, group aliases, ``lookup/group``, and group policies reaching
a member's existing token at once. Names are unique per test (the servers are shared), so lists are
checked for membership rather than compared whole. Deliberate difference: a member entity or group
ID that does not exist is answered 400 by Tessera, 500 by the reference (same text otherwise).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import Both

Server = ReferenceServer | TesseraServer
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def ident(reference: ReferenceServer, tessera: TesseraServer) -> Both:
    return Both(reference, tessera, "identity")


def _n(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ids(pair: tuple[Any, Any], key: str = "id") -> tuple[str, str]:
    return pair[0]["data"][key], pair[1]["data"][key]


def _each(both: Both, method: str, paths: tuple[str, str], **kwargs: Any) -> tuple[Any, Any]:
    """One request per server with per-server paths (IDs differ); statuses must agree."""
    out = []
    for server, path in zip((both.ref, both.tes), paths, strict=True):
        status, body, _ = server.call(method, path, **kwargs)
        out.append((status, body))
    assert out[0][0] == out[1][0], out
    return out[0][1], out[1][1]


def _each_json(both: Both, method: str, path: str, bodies: tuple[dict, dict]) -> tuple[Any, Any]:
    out = []
    for server, body in zip((both.ref, both.tes), bodies, strict=True):
        status, answer, _ = server.call(method, path, json=body)
        out.append((status, answer))
    assert out[0][0] == out[1][0], out
    if isinstance(out[0][1], dict) and "errors" in out[0][1]:
        assert [UUID.sub("<uuid>", e) for e in out[0][1]["errors"]] == [
            UUID.sub("<uuid>", e) for e in out[1][1]["errors"]
        ]
    return out[0][1], out[1][1]


def test_internal_group_create_rewrite_read_delete(ident: Both) -> None:
    name = _n("grp")
    created = ident.same(
        "POST", "identity/group", json={"name": name, "policies": "a,B,a", "metadata": {"k": "v"}}
    )
    ident.same("POST", "identity/group", json={"name": name, "policies": ["c", " d "]})  # by name: 204
    ident.same("GET", f"identity/group/name/{name}")
    rid, tid = _ids(created)
    _each(ident, "GET", (f"identity/group/id/{rid}", f"identity/group/id/{tid}"))
    ident.same("POST", f"identity/group/name/{name}", json={"metadata": {"x": "y"}})
    ident.same("GET", f"identity/group/name/{name}")
    listed = ident.same("LIST", "identity/group/name")
    assert name in listed[0]["data"]["keys"] and name in listed[1]["data"]["keys"]
    ident.same("DELETE", f"identity/group/name/{name}")
    ident.same("GET", f"identity/group/name/{name}")
    ident.same("DELETE", f"identity/group/name/{name}")


def test_group_created_by_name_path(ident: Both) -> None:
    name = _n("byname")
    ident.same("POST", f"identity/group/name/{name}", json={"policies": "x"})
    ident.same("POST", f"identity/group/name/{name}", json={"policies": "y"})
    ident.same("GET", f"identity/group/name/{name}")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "bogus"},
        {"policies": ["root"]},
        {"type": "external", "member_entity_ids": ["x"]},
        {"type": "external", "member_group_ids": ["x"]},
        {"id": "no-such-group"},
    ],
)
def test_group_refusals(ident: Both, body: dict[str, Any]) -> None:
    ident.same("POST", "identity/group", json={"name": _n("bad"), **body})


def test_unknown_member_ids_are_the_callers_error(ident: Both) -> None:
    """The reference answers these with a 500 (its bug); Tessera with 400 and the same message."""
    for field, text in (
        ("member_entity_ids", "invalid entity ID"),
        ("member_group_ids", "invalid member group ID"),
    ):
        (rs, rb), (ts, tb) = ident.send("POST", "identity/group", json={"name": _n("m"), field: ["nope"]})
        assert rs == 500 and f'{text} "nope"' in rb["errors"][0]
        assert ts == 400 and tb["errors"] == [f'{text} "nope"']


def test_nesting_membership_and_cycles(ident: Both) -> None:
    entity = ident.same("POST", "identity/entity", json={"name": _n("ent"), "policies": "ep"})
    rent, tent = _ids(entity)
    inner_name, outer_name = _n("inner"), _n("outer")
    inner = _each_json(
        ident,
        "POST",
        "identity/group",
        (
            {"name": inner_name, "policies": "gp", "member_entity_ids": [rent]},
            {"name": inner_name, "policies": "gp", "member_entity_ids": [tent]},
        ),
    )
    rin, tin = _ids(inner)
    _each_json(
        ident,
        "POST",
        "identity/group",
        ({"name": outer_name, "member_group_ids": [rin]}, {"name": outer_name, "member_group_ids": [tin]}),
    )
    ident.same("GET", f"identity/group/name/{inner_name}")
    ident.same("GET", f"identity/group/name/{outer_name}")
    r, t = _each(ident, "GET", (f"identity/entity/id/{rent}", f"identity/entity/id/{tent}"))
    for body, gin in ((r, rin), (t, tin)):
        assert body["data"]["direct_group_ids"] == [gin]
        assert len(body["data"]["inherited_group_ids"]) == 1
        assert body["data"]["group_ids"][0] == gin
    router = ident.same("GET", f"identity/group/name/{outer_name}")
    rout, tout = _ids(router)
    # the outer group cannot become a member of its own member group, nor a group of itself
    _each_json(
        ident,
        "POST",
        "identity/group",
        ({"name": inner_name, "member_group_ids": [rout]}, {"name": inner_name, "member_group_ids": [tout]}),
    )
    r, t = ident.send("POST", "identity/group", json={"name": outer_name, "member_group_ids": []})
    assert r[0] == t[0] == 204
    ident.same("GET", f"identity/group/name/{inner_name}")


def test_external_group_alias_and_lookup(ident: Both) -> None:
    mount = _n("up")
    ident.status("POST", f"sys/auth/{mount}", 204, json={"type": "userpass"})
    racc, tacc = (
        s.call("GET", "sys/auth")[1]["data"][f"{mount}/"]["accessor"] for s in (ident.ref, ident.tes)
    )
    internal = ident.same("POST", "identity/group", json={"name": _n("int")})
    rint, tint = _ids(internal)
    _each_json(
        ident,
        "POST",
        "identity/group-alias",
        (
            {"name": "a", "mount_accessor": racc, "canonical_id": rint},
            {"name": "a", "mount_accessor": tacc, "canonical_id": tint},
        ),
    )
    ext_name = _n("ext")
    ext = ident.same("POST", "identity/group", json={"name": ext_name, "type": "external"})
    rext, text = _ids(ext)
    alias_name = _n("team")
    alias = _each_json(
        ident,
        "POST",
        "identity/group-alias",
        (
            {"name": alias_name, "mount_accessor": racc, "canonical_id": rext},
            {"name": alias_name, "mount_accessor": tacc, "canonical_id": text},
        ),
    )
    assert alias[0]["data"]["canonical_id"] == rext and alias[1]["data"]["canonical_id"] == text
    _each_json(
        ident,
        "POST",
        "identity/group-alias",
        (
            {"name": alias_name, "mount_accessor": racc, "canonical_id": rext},
            {"name": alias_name, "mount_accessor": tacc, "canonical_id": text},
        ),
    )
    for body in (
        {"name": "x", "mount_accessor": "nope"},
        {"name": "x"},
        {"mount_accessor": racc},
        {"name": "x", "mount_accessor": racc, "canonical_id": "nope"},
    ):
        tbody = {**body, "mount_accessor": tacc} if body.get("mount_accessor") == racc else body
        _each_json(ident, "POST", "identity/group-alias", (body, tbody))
    r, t = _ids(alias)
    ref_alias, tes_alias = _each(
        ident, "GET", (f"identity/group-alias/id/{r}", f"identity/group-alias/id/{t}")
    )
    from tests.helpers.compat import normalize
    from tests.secrets.pairs import strip

    assert strip(normalize(ref_alias)) == strip(normalize(tes_alias))
    ident.same("GET", f"identity/group/name/{ext_name}")
    looked = _each_json(
        ident,
        "POST",
        "identity/lookup/group",
        (
            {"alias_name": alias_name, "alias_mount_accessor": racc},
            {"alias_name": alias_name, "alias_mount_accessor": tacc},
        ),
    )
    assert strip(normalize(looked[0])) == strip(normalize(looked[1]))
    for body in ({}, {"alias_name": alias_name}, {"name": ext_name, "id": "x"}, {"name": _n("none")}):
        ident.same("POST", "identity/lookup/group", json=body)
    ident.same("POST", "identity/lookup/group", json={"name": ext_name})
    ident.same("DELETE", f"identity/group/name/{ext_name}")


@pytest.mark.parametrize("token_type", ["service", "batch"])
def test_group_policies_reach_existing_tokens_at_once(ident: Both, token_type: str) -> None:
    """A user's token gains a group's policy the moment its entity joins the group, and loses it after.

    Batch tokens too: their own policies are frozen, but identity policies are resolved per request
    (seed 003 says otherwise; the reference is what counts)."""
    mount, kv, user = _n("up"), _n("kv"), "alice"
    ident.status("POST", f"sys/auth/{mount}", 204, json={"type": "userpass"})
    ident.status("POST", f"sys/mounts/{kv}", 204, json={"type": "kv"})
    ident.status("POST", f"{kv}/s", 204, json={"v": "1"})
    policy = _n("pol")
    ident.status(
        "PUT",
        f"sys/policies/acl/{policy}",
        204,
        json={"policy": f'path "{kv}/*" {{ capabilities = ["read"] }}'},
    )
    ident.status("POST", f"auth/{mount}/users/{user}", 204, json={"password": "pw", "token_type": token_type})
    login = ident.same("POST", f"auth/{mount}/login/{user}", json={"password": "pw"}, tokens=("", ""))
    tokens = (login[0]["auth"]["client_token"], login[1]["auth"]["client_token"])
    ents = (login[0]["auth"]["entity_id"], login[1]["auth"]["entity_id"])
    ident.same("GET", f"{kv}/s", tokens=tokens)  # 403 before
    group = _n("readers")
    _each_json(
        ident,
        "POST",
        "identity/group",
        (
            {"name": group, "policies": [policy], "member_entity_ids": [ents[0]]},
            {"name": group, "policies": [policy], "member_entity_ids": [ents[1]]},
        ),
    )
    ident.same("GET", f"{kv}/s", tokens=tokens)  # allowed at once
    ident.same("GET", "auth/token/lookup-self", tokens=tokens)
    ident.same("POST", f"identity/group/name/{group}", json={"member_entity_ids": []})
    ident.same("GET", f"{kv}/s", tokens=tokens)  # and refused again


def test_templated_policy_names_the_members_group(ident: Both) -> None:
    """``{{identity.groups.names.<name>.id}}`` in a policy resolves to the group of the token's entity."""
    mount, kv, group, policy = _n("up"), _n("kv"), _n("team"), _n("tpl")
    ident.status("POST", f"sys/auth/{mount}", 204, json={"type": "userpass"})
    ident.status("POST", f"sys/mounts/{kv}", 204, json={"type": "kv"})
    rule = f'path "{kv}/{{{{identity.groups.names.{group}.id}}}}/*" {{ capabilities = ["read"] }}'
    ident.status("PUT", f"sys/policies/acl/{policy}", 204, json={"policy": rule})
    ident.status("POST", f"auth/{mount}/users/bob", 204, json={"password": "pw"})
    login = ident.same("POST", f"auth/{mount}/login/bob", json={"password": "pw"}, tokens=("", ""))
    tokens = (login[0]["auth"]["client_token"], login[1]["auth"]["client_token"])
    ents = (login[0]["auth"]["entity_id"], login[1]["auth"]["entity_id"])
    created = _each_json(
        ident,
        "POST",
        "identity/group",
        (
            {"name": group, "policies": [policy], "member_entity_ids": [ents[0]]},
            {"name": group, "policies": [policy], "member_entity_ids": [ents[1]]},
        ),
    )
    gids = _ids(created)
    for server, gid in zip((ident.ref, ident.tes), gids, strict=True):
        status, body, _ = server.call("POST", f"{kv}/{gid}/s", json={"v": "1"})
        assert status == 204, body
    answers = [
        server.call("GET", f"{kv}/{gid}/s", token=token)[:2]
        for server, gid, token in zip((ident.ref, ident.tes), gids, tokens, strict=True)
    ]
    assert answers[0][0] == answers[1][0] == 200, answers
    others = [
        server.call("GET", f"{kv}/elsewhere/s", token=token)[0]
        for server, token in zip((ident.ref, ident.tes), tokens, strict=True)
    ]
    assert others == [403, 403]


def test_group_alias_update_move_and_delete(ident: Both) -> None:
    mount = _n("up")
    ident.status("POST", f"sys/auth/{mount}", 204, json={"type": "userpass"})
    racc, tacc = (
        s.call("GET", "sys/auth")[1]["data"][f"{mount}/"]["accessor"] for s in (ident.ref, ident.tes)
    )
    first = _ids(ident.same("POST", "identity/group", json={"name": _n("ext"), "type": "external"}))
    second = _ids(ident.same("POST", "identity/group", json={"name": _n("ext"), "type": "external"}))
    name = _n("alias")
    alias = _each_json(
        ident,
        "POST",
        "identity/group-alias",
        (
            {"name": name, "mount_accessor": racc, "canonical_id": first[0]},
            {"name": name, "mount_accessor": tacc, "canonical_id": first[1]},
        ),
    )
    aids = _ids(alias)
    paths = (f"identity/group-alias/id/{aids[0]}", f"identity/group-alias/id/{aids[1]}")
    renamed = name + "-2"
    out = []
    for server, path, acc, gid in zip((ident.ref, ident.tes), paths, (racc, tacc), second, strict=True):
        status, body, _ = server.call(
            "POST", path, json={"name": renamed, "mount_accessor": acc, "canonical_id": gid}
        )
        out.append((status, None if body is None else sorted(body.get("data") or {})))
        status, body, _ = server.call("GET", path)
        out.append((status, body["data"]["name"], body["data"]["canonical_id"] == gid))
    assert out[:2] == out[2:], out
    g1 = _each(ident, "GET", (f"identity/group/id/{first[0]}", f"identity/group/id/{first[1]}"))
    assert g1[0]["data"]["alias"] == g1[1]["data"]["alias"] == {}
    _each(ident, "DELETE", paths)
    _each(ident, "GET", paths)
    g2 = _each(ident, "GET", (f"identity/group/id/{second[0]}", f"identity/group/id/{second[1]}"))
    assert g2[0]["data"]["alias"] == g2[1]["data"]["alias"] == {}
    (rs, rb), (ts, tb) = ident.send("POST", "identity/group-alias/id/nope", json={"name": "x"})
    assert rs == ts and rb == tb, (rb, tb)

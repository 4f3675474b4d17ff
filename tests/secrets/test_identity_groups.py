"""The group store's indexes: membership and nesting answered from indexes that stay exact as
groups change (the request path asks for an entity's groups on every request of its tokens)."""

from __future__ import annotations

import threading

from tessera.secrets.identity_groups import EXTERNAL, INTERNAL, GroupStore


def _group(store: GroupStore, name: str, kind: str = INTERNAL, **fields: object) -> dict:
    doc = {**store.new(kind), "name": name, **fields}
    store.save(doc)
    return doc


def test_membership_nesting_and_policies_follow_every_change() -> None:
    store = GroupStore(None, threading.RLock())
    inner = _group(store, "inner", member_entity_ids=["e1", "e2"], policies=["a"])
    outer = _group(store, "outer", member_group_ids=[inner["id"]], policies=["b"])
    top = _group(store, "top", member_group_ids=[outer["id"]], policies=["c"])
    assert store.entity_groups("e1") == ([inner["id"]], [outer["id"], top["id"]])
    assert sorted(store.entity_policies("e1")) == ["a", "b", "c"]
    assert store.descendants(top["id"]) == {outer["id"], inner["id"]}
    store.forget_entity("e1")
    assert store.entity_groups("e1") == ([], [])
    assert store.direct_groups("e2") == [inner["id"]]
    store.save({**store.get(inner["id"]), "member_entity_ids": ["e3"]})
    assert store.direct_groups("e2") == [] and store.direct_groups("e3") == [inner["id"]]
    store.delete(outer["id"])
    assert store.entity_groups("e3") == ([inner["id"]], [])
    assert store.get(top["id"])["member_group_ids"] == []
    assert store.entity_policies("e3") == ["a"]


def test_logins_sync_external_groups_of_their_mount_only() -> None:
    store = GroupStore(None, threading.RLock())
    alias = {"id": "al1", "name": "devs", "mount_accessor": "auth_jwt_1"}
    devs = _group(store, "devs", EXTERNAL, alias=alias, policies=["dev"])
    other = _group(
        store, "ops", EXTERNAL, alias={**alias, "id": "al2", "name": "ops", "mount_accessor": "auth_jwt_2"}
    )
    assert store.sync_external("e1", "auth_jwt_1", ["devs", "unknown"]) is True
    assert store.direct_groups("e1") == [devs["id"]]
    assert store.sync_external("e1", "auth_jwt_1", ["devs"]) is False  # nothing changed
    store.save({**store.get(other["id"]), "member_entity_ids": ["e1"]})
    assert store.sync_external("e1", "auth_jwt_1", []) is True  # left devs; ops is another mount's
    assert store.direct_groups("e1") == [other["id"]]
    assert store.by_alias("auth_jwt_1", "devs")["id"] == devs["id"]

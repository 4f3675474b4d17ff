"""The identity store: entities created on first login, found again, and read back."""

from __future__ import annotations

from tessera.secrets.identity import IdentityStore, factory
from tests.auth._memstore import MemStorage, call


def test_first_login_creates_entity_and_next_finds_it() -> None:
    backend = factory(None, None)
    storage = MemStorage()
    backend.identity.bind(storage)
    first = backend.lookup_or_create_entity("auth_approle_1", "approle", "role-id-1", {"role_name": "ci"})
    again = backend.create_or_fetch_entity(
        alias_name="role-id-1", mount_accessor="auth_approle_1", mount_type="approle"
    )
    other = backend.lookup_or_create_entity("auth_userpass_1", "userpass", "role-id-1", None)
    assert first == again != other
    view = backend.entity_view(first)
    assert view is not None
    assert view["id"] == first and view["groups"] == [] and view["metadata"] == {}
    assert view["aliases"] == [
        {
            "mount_accessor": "auth_approle_1",
            "id": view["aliases"][0]["id"],
            "name": "role-id-1",
            "metadata": {"role_name": "ci"},
        }
    ]
    assert backend.entity_view("nope") is None
    assert backend.entity_policies(first) == []


def test_entities_survive_a_new_backend_over_the_same_storage() -> None:
    storage = MemStorage()
    store = IdentityStore(None, storage)
    eid = store.lookup_or_create("acc", "userpass", "bob", None)
    again = IdentityStore(None, storage)
    assert again.lookup_or_create("acc", "userpass", "bob", None) == eid
    assert again.entity(eid)["aliases"][0]["name"] == "bob"  # type: ignore[index]


def test_read_endpoints() -> None:
    backend = factory(None, None)
    storage = MemStorage()
    backend.identity.bind(storage)
    eid = backend.lookup_or_create_entity("acc", "userpass", "bob", None)

    def get(op: str, path: str) -> tuple[int, dict | None]:  # type: ignore[type-arg]
        status, resp, _ = call(backend, storage, op, path, mount_type="identity")
        return status, resp.data if resp else None

    status, entity = get("read", f"entity/id/{eid}")
    assert status == 200 and entity is not None
    assert set(entity) == {
        "aliases",
        "creation_time",
        "direct_group_ids",
        "disabled",
        "group_ids",
        "id",
        "inherited_group_ids",
        "last_update_time",
        "merged_entity_ids",
        "metadata",
        "name",
        "namespace_id",
        "policies",
    }
    assert get("read", f"entity/name/{entity['name']}")[1] == entity
    alias_id = entity["aliases"][0]["id"]
    assert get("read", f"entity-alias/id/{alias_id}")[1]["canonical_id"] == eid  # type: ignore[index]
    listed = get("list", "entity/id")[1]
    assert listed is not None and listed["keys"] == [eid]
    assert listed["key_info"][eid]["aliases"][0]["name"] == "bob"
    assert get("read", "entity/id/nope")[0] == 204


def test_repeat_logins_write_only_when_the_alias_metadata_changes() -> None:
    """A repeat login with the same alias metadata writes nothing; new metadata replaces the
    stored one (on that alias only) and is written first."""
    storage = MemStorage()
    store = IdentityStore(None, storage)
    eid = store.lookup_or_create("acc", "approle", "rid", {"role_name": "ci"})
    store.lookup_or_create("acc2", "userpass", "rid", None)
    doc = store.entity(eid)
    assert doc is not None
    doc["aliases"].append({**doc["aliases"][0], "id": "second", "name": "other", "metadata": {"x": "1"}})
    before = dict(storage.data)
    assert store.lookup_or_create("acc", "approle", "rid", {"role_name": "ci"}) == eid
    assert store.lookup_or_create("acc", "approle", "rid", None) == eid
    assert storage.data == before
    assert store.lookup_or_create("acc", "approle", "rid", {"role_name": "cd"}) == eid
    stored = store.entity(eid)
    assert stored is not None and stored is not doc
    assert [a["metadata"] for a in stored["aliases"]] == [{"role_name": "cd"}, {"x": "1"}]
    assert storage.data != before
    assert [a["metadata"] for a in IdentityStore(None, storage).entity(eid)["aliases"]] == [  # type: ignore[index]
        {"role_name": "cd"},
        {"x": "1"},
    ]


def test_entity_policies_with_and_without_groups() -> None:
    backend = factory(None, None)
    storage = MemStorage()
    backend.identity.bind(storage)
    eid = backend.lookup_or_create_entity("acc", "approle", "rid", None)
    lonely = backend.lookup_or_create_entity("acc", "approle", "rid2", None)
    groups = backend.identity.groups
    groups.save({**groups.new("internal"), "name": "g", "member_entity_ids": [eid], "policies": ["gp"]})
    assert backend.entity_policies(eid) == ["gp"]
    assert backend.entity_policies(lonely) == []
    doc = backend.identity.entity(lonely)
    assert doc is not None
    backend.identity.save({**doc, "policies": ["own"]})
    assert backend.entity_policies(lonely) == ["own"]

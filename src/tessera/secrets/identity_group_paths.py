"""The identity mount's group endpoints: ``group``, ``group/id``, ``group/name``, ``group-alias``
and ``lookup/group``, with the reference's checks and error texts.

The handlers live on ``GroupApi`` (one object per mount, bound to the identity store); the path
declarations are split by endpoint family so each stays short enough to read at a glance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from .identity_groups import (
    ALIAS_LIST_KEYS,
    EXTERNAL,
    INTERNAL,
    MAX_MEMBER_ENTITIES,
    GroupStore,
    group_alias_response,
    group_response,
    stable_policies,
)

if TYPE_CHECKING:
    from .identity_store import IdentityStore

Doc = dict[str, Any]


def _given(data: FieldData, key: str, default: Any) -> Any:
    """The request's value of ``key`` when it was sent, else ``default``."""
    return data.get(key) if data.has(key) else default


def _checked_type(data: FieldData, doc: Doc | None) -> str:
    """The group's type: the one sent (which may not change an existing group's), else the current."""
    gtype = _given(data, "type", "")
    if gtype and doc is not None and gtype != doc["type"]:
        raise ErrorResponse("group type cannot be changed")
    gtype = gtype or (doc or {}).get("type") or INTERNAL
    if gtype not in (INTERNAL, EXTERNAL):
        raise ErrorResponse(f'invalid group type "{gtype}"')
    return str(gtype)


def _checked_members(data: FieldData, gtype: str) -> tuple[list[str] | None, list[str] | None]:
    """The member entity and group IDs sent (deduplicated, sorted); None for a list not sent."""
    entity_ids = group_ids = None
    if data.has("member_entity_ids"):
        if gtype == EXTERNAL:
            raise ErrorResponse("member entities can't be set manually for external groups")
        entity_ids = sorted(set(data.get("member_entity_ids")))
        if len(entity_ids) > MAX_MEMBER_ENTITIES:
            raise ErrorResponse("member entity IDs exceeding the limit of 512")
    if data.has("member_group_ids"):
        if gtype == EXTERNAL:
            raise ErrorResponse("member groups can't be set for external groups")
        group_ids = sorted(set(data.get("member_group_ids")))
    return entity_ids, group_ids


def _lookup_key(data: FieldData) -> str:
    """The one criterion a ``lookup/group`` request names, with the reference's errors otherwise."""
    given = [k for k in ("id", "name", "alias_id", "alias_name") if data.get(k)]
    if data.get("alias_mount_accessor") and "alias_name" not in given:
        given.append("alias_mount_accessor")
    if not given:
        raise ErrorResponse("query parameter not supplied")
    if len(given) > 1:
        raise ErrorResponse("query parameter conflict; please supply distinct set of query parameters")
    return given[0]


class GroupApi:
    """The handlers of the group API, bound to the identity store (entities) and its groups."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def groups(self, req: Request) -> GroupStore:
        self.store.bind(req.storage)
        return self.store.groups

    # -- groups -------------------------------------------------------------------------------
    def apply(self, req: Request, data: FieldData, doc: Doc | None) -> Response | None:
        """handleGroupUpdateCommon: create a group, or update ``doc`` (or the group of that name)."""
        gs = self.groups(req)
        name = _given(data, "name", "")
        existing = gs.by_name(name) if name else None
        if doc is None:
            doc = existing
        elif existing is not None and existing["id"] != doc["id"]:
            raise ErrorResponse("group name is already in use")
        policies = stable_policies(data.get("policies")) if data.has("policies") else None
        if "root" in (policies or []):
            raise ErrorResponse("policies cannot contain root")
        gtype = _checked_type(data, doc)
        draft = dict(doc) if doc is not None else gs.new(gtype)
        if policies is not None:
            draft["policies"] = policies
        if name:
            draft["name"] = name
        if data.has("metadata"):
            draft["metadata"] = data.get("metadata") or None
        self._save_members(gs, draft, *_checked_members(data, gtype))
        if doc is not None:
            return None
        return Response(data={"id": draft["id"], "name": draft["name"]})

    def _save_members(
        self, gs: GroupStore, draft: Doc, entity_ids: list[str] | None, group_ids: list[str] | None
    ) -> None:
        """Check the members exist and form no cycle, record the parent links, and save ``draft``."""
        store = self.store
        with store.lock:
            gs.check_members(draft, entity_ids, group_ids, lambda eid: store.entity(eid) is not None)
            if entity_ids is not None:
                draft["member_entity_ids"] = entity_ids
            if group_ids is not None:
                before = set(draft.get("member_group_ids") or [])
                draft["member_group_ids"] = group_ids
                for moved in sorted(before.symmetric_difference(group_ids)):
                    gs.set_parent(moved, draft["id"], moved in group_ids)
            gs.save(draft)
        store.changed()

    def register(self, req: Request, data: FieldData) -> Response | None:
        if data.has("id"):
            return self.update_by_id(req, data)
        return self.apply(req, data, None)

    def update_by_id(self, req: Request, data: FieldData) -> Response | None:
        doc = self.groups(req).get(data.get("id"))
        if doc is None:
            raise ErrorResponse("invalid group ID")
        return self.apply(req, data, doc)

    def update_by_name(self, req: Request, data: FieldData) -> Response | None:
        return self.apply(req, data, self.groups(req).by_name(data.get("name")))

    @staticmethod
    def read(doc: Doc | None, gs: GroupStore) -> Response | None:
        return None if doc is None else Response(data=group_response(gs, doc))

    def read_by_id(self, req: Request, data: FieldData) -> Response | None:
        gs = self.groups(req)
        return self.read(gs.get(data.get("id")), gs)

    def read_by_name(self, req: Request, data: FieldData) -> Response | None:
        gs = self.groups(req)
        return self.read(gs.by_name(data.get("name")), gs)

    def delete(self, req: Request, doc: Doc | None) -> None:
        if doc is not None:
            self.groups(req).delete(doc["id"])
            self.store.changed()

    def delete_by_id(self, req: Request, data: FieldData) -> None:
        self.delete(req, self.groups(req).get(data.get("id")))

    def delete_by_name(self, req: Request, data: FieldData) -> None:
        self.delete(req, self.groups(req).by_name(data.get("name")))

    def list_ids(self, req: Request, data: FieldData) -> Response:
        gs = self.groups(req)
        info = {}
        for gid in gs.ids():
            doc = gs.get(gid)
            info[gid] = {
                "name": doc["name"],
                "num_member_entities": len(doc.get("member_entity_ids") or []),
                "num_parent_groups": len(gs.parents(gid)),
            }
        return Response(data={"keys": list(info), "key_info": info})

    def list_names(self, req: Request, data: FieldData) -> Response:
        gs = self.groups(req)
        return Response(data={"keys": [gs.get(gid)["name"] for gid in gs.ids()]})

    # -- group aliases ------------------------------------------------------------------------
    def alias_write(self, req: Request, data: FieldData, current: Doc | None) -> Response | None:
        gs = self.groups(req)
        old_alias = (current or {}).get("alias", {})
        name = _given(data, "name", old_alias.get("name", ""))
        accessor = _given(data, "mount_accessor", old_alias.get("mount_accessor", ""))
        if not name:
            raise ErrorResponse("missing alias name")
        if not accessor:
            raise ErrorResponse("missing mount_accessor")
        mount = self.store.auth_mount(accessor)
        if mount is None:
            raise ErrorResponse(f'invalid mount accessor "{accessor}"')
        target = self._alias_target(gs, data, current)
        taken = gs.by_alias(accessor, name)
        if taken is not None and (current is None or taken["id"] != current["id"]):
            raise ErrorResponse("combination of mount and group alias name is already in use")
        doc = self._save_alias(gs, current, target, {"name": name, "mount_accessor": accessor}, mount)
        return Response(data={"canonical_id": doc["id"], "id": doc["alias"]["id"]})

    @staticmethod
    def _alias_target(gs: GroupStore, data: FieldData, current: Doc | None) -> Doc | None:
        """The group the alias goes to: ``canonical_id`` if sent, else its current group (or none)."""
        target = current
        if data.get("canonical_id"):
            target = gs.get(data.get("canonical_id"))
            if target is None:
                raise ErrorResponse("invalid group ID given in 'canonical_id'")
        if target is not None and target["type"] != EXTERNAL:
            raise ErrorResponse("alias can't be set on an internal group")
        return target

    def _save_alias(
        self, gs: GroupStore, current: Doc | None, target: Doc | None, factors: dict[str, str], mount: Any
    ) -> Doc:
        """Store the alias on ``target`` (a new external group if none), taking it off ``current``."""
        with self.store.lock:
            # an updated alias keeps its ID and creation time, also when it moves to another group
            old = dict((current or {}).get("alias") or {})
            if current is not None and target is not None and target["id"] != current["id"]:
                gs.save({**current, "alias": None})
            doc = gs.new(EXTERNAL) if target is None else dict(target)
            now = gs.new(EXTERNAL)["creation_time"]
            doc["alias"] = {
                "id": old.get("id") or self.store.new_id(),
                "canonical_id": doc["id"],
                **factors,
                "mount_type": mount.type,
                "mount_path": "auth/" + mount.path,
                "metadata": None,
                "merged_from_canonical_ids": None,
                "creation_time": old.get("creation_time") or now,
                "last_update_time": now,
            }
            gs.save(doc)
        self.store.changed()
        return doc

    def alias_register(self, req: Request, data: FieldData) -> Response | None:
        if data.get("id"):
            return self.alias_update(req, data)
        return self.alias_write(req, data, None)

    def alias_update(self, req: Request, data: FieldData) -> Response | None:
        doc = self.groups(req).by_alias_id(data.get("id"))
        if doc is None:
            raise ErrorResponse("invalid group alias ID")
        return self.alias_write(req, data, doc)

    def alias_read(self, req: Request, data: FieldData) -> Response | None:
        doc = self.groups(req).by_alias_id(data.get("id"))
        return None if doc is None else Response(data=group_alias_response(doc))

    def alias_delete(self, req: Request, data: FieldData) -> None:
        gs = self.groups(req)
        doc = gs.by_alias_id(data.get("id"))
        if doc is not None:
            gs.save({**doc, "alias": None})
            self.store.changed()

    def alias_list(self, req: Request, data: FieldData) -> Response:
        gs = self.groups(req)
        info = {}
        for gid in gs.ids():
            doc = gs.get(gid)
            if doc.get("alias"):
                full = group_alias_response(doc)
                info[doc["alias"]["id"]] = {k: full[k] for k in ALIAS_LIST_KEYS}
        keys = sorted(info)
        return Response(data={"keys": keys, "key_info": {k: info[k] for k in keys}})

    # -- lookup -------------------------------------------------------------------------------
    def lookup(self, req: Request, data: FieldData) -> Response | None:
        gs = self.groups(req)
        key = _lookup_key(data)
        if key == "id":
            doc = gs.get(data.get("id"))
        elif key == "name":
            doc = gs.by_name(data.get("name"))
        elif key == "alias_id":
            doc = gs.by_alias_id(data.get("alias_id"))
        else:
            if not (data.get("alias_name") and data.get("alias_mount_accessor")):
                raise ErrorResponse("both 'alias_name' and 'alias_mount_accessor' needs to be set")
            doc = gs.by_alias(data.get("alias_mount_accessor"), data.get("alias_name"))
        return self.read(doc, gs)


GROUP_FIELDS = {
    "id": Field(FieldType.STRING, "ID of the group. If set, updates the corresponding existing group."),
    "type": Field(FieldType.STRING, "Type of the group, 'internal' or 'external'. Defaults to 'internal'"),
    "name": Field(FieldType.STRING, "Name of the group."),
    "metadata": Field(FieldType.KV_PAIRS, "Metadata to be associated with the group."),
    "policies": Field(FieldType.COMMA_STRING_SLICE, "Policies to be tied to the group."),
    "member_group_ids": Field(FieldType.COMMA_STRING_SLICE, "Group IDs to be assigned as group members."),
    "member_entity_ids": Field(FieldType.COMMA_STRING_SLICE, "Entity IDs to be assigned as group members."),
}
ALIAS_FIELDS = {
    "id": Field(FieldType.STRING, "ID of the group alias."),
    "name": Field(FieldType.STRING, "Alias of the group."),
    "mount_accessor": Field(FieldType.STRING, "Mount accessor to which this alias belongs to."),
    "canonical_id": Field(FieldType.STRING, "ID of the group to which this is an alias."),
}
LOOKUP_FIELDS = {
    "id": Field(FieldType.STRING, "ID of the group."),
    "name": Field(FieldType.STRING, "Name of the group."),
    "alias_id": Field(FieldType.STRING, "ID of the alias."),
    "alias_name": Field(FieldType.STRING, "Name of the alias."),
    "alias_mount_accessor": Field(FieldType.STRING, "Accessor of the mount of the alias."),
}


def keyed_paths(
    prefix: str, key: str, fields: dict[str, Field], handlers: tuple[Any, ...], synopses: tuple[str, str]
) -> list[Path]:
    """``<prefix>/<key>/`` to LIST and ``<prefix>/<key>/:<key>`` to read, update or delete: the
    layout the entity, group and group-alias APIs share. ``handlers``: list, read, update, delete."""
    listing, read, update, delete = handlers
    return [
        Path(f"{prefix}/{key}/?$", operations={Operation.LIST: listing}, synopsis=synopses[0]),
        Path(
            rf"{prefix}/{key}/(?P<{key}>[^/]+)$",
            fields=fields,
            operations={Operation.READ: read, Operation.UPDATE: update, Operation.DELETE: delete},
            synopsis=synopses[1],
        ),
    ]


def _group_paths(api: GroupApi) -> list[Path]:
    return [
        Path(
            "group/?$",
            fields=GROUP_FIELDS,
            operations={Operation.UPDATE: api.register},
            synopsis="Create a group.",
        ),
        *keyed_paths(
            "group",
            "id",
            GROUP_FIELDS,
            (api.list_ids, api.read_by_id, api.update_by_id, api.delete_by_id),
            ("List all the group IDs.", "Read, update or delete a group by its ID."),
        ),
        *keyed_paths(
            "group",
            "name",
            GROUP_FIELDS,
            (api.list_names, api.read_by_name, api.update_by_name, api.delete_by_name),
            ("List all the group names.", "Read, create, update or delete a group by its name."),
        ),
    ]


def _alias_paths(api: GroupApi) -> list[Path]:
    return [
        Path(
            "group-alias/?$",
            fields=ALIAS_FIELDS,
            operations={Operation.UPDATE: api.alias_register},
            synopsis="Create a group alias.",
        ),
        *keyed_paths(
            "group-alias",
            "id",
            ALIAS_FIELDS,
            (api.alias_list, api.alias_read, api.alias_update, api.alias_delete),
            ("List the group alias IDs.", "Read, update or delete a group alias by its ID."),
        ),
    ]


def group_paths(store: IdentityStore) -> list[Path]:
    """Paths of the group API, bound to the identity store (entities) and its groups."""
    api = GroupApi(store)
    lookup = Path(
        "lookup/group$",
        fields=LOOKUP_FIELDS,
        operations={Operation.UPDATE: api.lookup},
        synopsis="Query groups by their ID, name or alias.",
    )
    return [*_group_paths(api), *_alias_paths(api), lookup]

"""The identity mount's group endpoints: ``group``, ``group/id``, ``group/name``, ``group-alias``
and ``lookup/group``, with the reference's checks and error texts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from .identity_groups import (
    EXTERNAL,
    INTERNAL,
    MAX_MEMBER_ENTITIES,
    group_alias_response,
    group_response,
    stable_policies,
)

if TYPE_CHECKING:
    from .identity import IdentityStore


def group_paths(store: IdentityStore) -> list[Path]:
    """Paths of the group API, bound to the identity store (entities) and its groups."""

    def groups(req: Request) -> Any:
        store.bind(req.storage)
        return store.groups

    def apply(req: Request, data: FieldData, doc: dict[str, Any] | None) -> Response | None:
        """handleGroupUpdateCommon: create a group, or update ``doc`` (or the group of that name)."""
        gs = groups(req)
        name = data.get("name") if data.has("name") else ""
        existing = gs.by_name(name) if name else None
        if doc is None:
            doc = existing
        elif existing is not None and existing["id"] != doc["id"]:
            raise ErrorResponse("group name is already in use")
        new = doc is None
        policies = stable_policies(data.get("policies")) if data.has("policies") else None
        if "root" in (policies or []):
            raise ErrorResponse("policies cannot contain root")
        gtype = data.get("type") if data.has("type") else ""
        if gtype and doc is not None and gtype != doc["type"]:
            raise ErrorResponse("group type cannot be changed")
        gtype = gtype or (doc or {}).get("type") or INTERNAL
        if gtype not in (INTERNAL, EXTERNAL):
            raise ErrorResponse(f'invalid group type "{gtype}"')
        draft = dict(doc) if doc is not None else gs.new(gtype)
        if policies is not None:
            draft["policies"] = policies
        if name:
            draft["name"] = name
        if data.has("metadata"):
            draft["metadata"] = data.get("metadata") or None
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
        if not new:
            return None
        return Response(data={"id": draft["id"], "name": draft["name"]})

    def register(req: Request, data: FieldData) -> Response | None:
        if data.has("id"):
            return update_by_id(req, data)
        return apply(req, data, None)

    def update_by_id(req: Request, data: FieldData) -> Response | None:
        doc = groups(req).get(data.get("id"))
        if doc is None:
            raise ErrorResponse("invalid group ID")
        return apply(req, data, doc)

    def update_by_name(req: Request, data: FieldData) -> Response | None:
        return apply(req, data, groups(req).by_name(data.get("name")))

    def read(doc: dict[str, Any] | None, gs: Any) -> Response | None:
        return None if doc is None else Response(data=group_response(gs, doc))

    def read_by_id(req: Request, data: FieldData) -> Response | None:
        gs = groups(req)
        return read(gs.get(data.get("id")), gs)

    def read_by_name(req: Request, data: FieldData) -> Response | None:
        gs = groups(req)
        return read(gs.by_name(data.get("name")), gs)

    def delete(req: Request, doc: dict[str, Any] | None) -> None:
        if doc is not None:
            groups(req).delete(doc["id"])
            store.changed()

    def delete_by_id(req: Request, data: FieldData) -> None:
        delete(req, groups(req).get(data.get("id")))

    def delete_by_name(req: Request, data: FieldData) -> None:
        delete(req, groups(req).by_name(data.get("name")))

    def list_ids(req: Request, data: FieldData) -> Response:
        gs = groups(req)
        info = {}
        for gid in gs.ids():
            doc = gs.get(gid)
            info[gid] = {
                "name": doc["name"],
                "num_member_entities": len(doc.get("member_entity_ids") or []),
                "num_parent_groups": len(gs.parents(gid)),
            }
        return Response(data={"keys": list(info), "key_info": info})

    def list_names(req: Request, data: FieldData) -> Response:
        gs = groups(req)
        return Response(data={"keys": [gs.get(gid)["name"] for gid in gs.ids()]})

    # -- group aliases ------------------------------------------------------------------------
    def alias_write(req: Request, data: FieldData, current: dict[str, Any] | None) -> Response | None:
        gs = groups(req)
        name = data.get("name") if data.has("name") else (current or {}).get("alias", {}).get("name", "")
        accessor = (
            data.get("mount_accessor")
            if data.has("mount_accessor")
            else (current or {}).get("alias", {}).get("mount_accessor", "")
        )
        if not name:
            raise ErrorResponse("missing alias name")
        if not accessor:
            raise ErrorResponse("missing mount_accessor")
        mount = store.auth_mount(accessor)
        if mount is None:
            raise ErrorResponse(f'invalid mount accessor "{accessor}"')
        target = current
        if data.get("canonical_id"):
            target = gs.get(data.get("canonical_id"))
            if target is None:
                raise ErrorResponse("invalid group ID given in 'canonical_id'")
        if target is not None and target["type"] != EXTERNAL:
            raise ErrorResponse("alias can't be set on an internal group")
        taken = gs.by_alias(accessor, name)
        if taken is not None and (current is None or taken["id"] != current["id"]):
            raise ErrorResponse("combination of mount and group alias name is already in use")
        with store.lock:
            # an updated alias keeps its ID and creation time, also when it moves to another group
            old = dict((current or {}).get("alias") or {})
            if current is not None and target is not None and target["id"] != current["id"]:
                gs.save({**current, "alias": None})
            doc = gs.new(EXTERNAL) if target is None else dict(target)
            now = gs.new(EXTERNAL)["creation_time"]
            doc["alias"] = {
                "id": old.get("id") or store.new_id(),
                "canonical_id": doc["id"],
                "name": name,
                "mount_accessor": accessor,
                "mount_type": mount.type,
                "mount_path": "auth/" + mount.path,
                "metadata": None,
                "merged_from_canonical_ids": None,
                "creation_time": old.get("creation_time") or now,
                "last_update_time": now,
            }
            gs.save(doc)
        store.changed()
        return Response(data={"canonical_id": doc["id"], "id": doc["alias"]["id"]})

    def alias_register(req: Request, data: FieldData) -> Response | None:
        if data.get("id"):
            return alias_update(req, data)
        return alias_write(req, data, None)

    def alias_update(req: Request, data: FieldData) -> Response | None:
        doc = groups(req).by_alias_id(data.get("id"))
        if doc is None:
            raise ErrorResponse("invalid group alias ID")
        return alias_write(req, data, doc)

    def alias_read(req: Request, data: FieldData) -> Response | None:
        doc = groups(req).by_alias_id(data.get("id"))
        return None if doc is None else Response(data=group_alias_response(doc))

    def alias_delete(req: Request, data: FieldData) -> None:
        gs = groups(req)
        doc = gs.by_alias_id(data.get("id"))
        if doc is not None:
            gs.save({**doc, "alias": None})
            store.changed()

    def alias_list(req: Request, data: FieldData) -> Response:
        gs = groups(req)
        info = {}
        for gid in gs.ids():
            doc = gs.get(gid)
            if doc.get("alias"):
                full = group_alias_response(doc)
                info[doc["alias"]["id"]] = {
                    k: full[k]
                    for k in (
                        "canonical_id",
                        "custom_metadata",
                        "local",
                        "metadata",
                        "mount_accessor",
                        "mount_path",
                        "mount_type",
                        "name",
                    )
                }
        keys = sorted(info)
        return Response(data={"keys": keys, "key_info": {k: info[k] for k in keys}})

    # -- lookup -------------------------------------------------------------------------------
    def lookup(req: Request, data: FieldData) -> Response | None:
        gs = groups(req)
        given = [k for k in ("id", "name", "alias_id", "alias_name") if data.get(k)]
        if data.get("alias_mount_accessor") and "alias_name" not in given:
            given.append("alias_mount_accessor")
        if not given:
            raise ErrorResponse("query parameter not supplied")
        if len(given) > 1:
            raise ErrorResponse("query parameter conflict; please supply distinct set of query parameters")
        key = given[0]
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
        return read(doc, gs)

    group_fields = {
        "id": Field(FieldType.STRING, "ID of the group. If set, updates the corresponding existing group."),
        "type": Field(
            FieldType.STRING, "Type of the group, 'internal' or 'external'. Defaults to 'internal'"
        ),
        "name": Field(FieldType.STRING, "Name of the group."),
        "metadata": Field(FieldType.KV_PAIRS, "Metadata to be associated with the group."),
        "policies": Field(FieldType.COMMA_STRING_SLICE, "Policies to be tied to the group."),
        "member_group_ids": Field(FieldType.COMMA_STRING_SLICE, "Group IDs to be assigned as group members."),
        "member_entity_ids": Field(
            FieldType.COMMA_STRING_SLICE, "Entity IDs to be assigned as group members."
        ),
    }
    alias_fields = {
        "id": Field(FieldType.STRING, "ID of the group alias."),
        "name": Field(FieldType.STRING, "Alias of the group."),
        "mount_accessor": Field(FieldType.STRING, "Mount accessor to which this alias belongs to."),
        "canonical_id": Field(FieldType.STRING, "ID of the group to which this is an alias."),
    }
    lookup_fields = {
        "id": Field(FieldType.STRING, "ID of the group."),
        "name": Field(FieldType.STRING, "Name of the group."),
        "alias_id": Field(FieldType.STRING, "ID of the alias."),
        "alias_name": Field(FieldType.STRING, "Name of the alias."),
        "alias_mount_accessor": Field(FieldType.STRING, "Accessor of the mount of the alias."),
    }
    return [
        Path(
            "group/?$",
            fields=group_fields,
            operations={Operation.UPDATE: register},
            synopsis="Create a group.",
        ),
        Path("group/id/?$", operations={Operation.LIST: list_ids}, synopsis="List all the group IDs."),
        Path(
            r"group/id/(?P<id>[^/]+)$",
            fields=group_fields,
            operations={
                Operation.READ: read_by_id,
                Operation.UPDATE: update_by_id,
                Operation.DELETE: delete_by_id,
            },
            synopsis="Read, update or delete a group by its ID.",
        ),
        Path("group/name/?$", operations={Operation.LIST: list_names}, synopsis="List all the group names."),
        Path(
            r"group/name/(?P<name>[^/]+)$",
            fields=group_fields,
            operations={
                Operation.READ: read_by_name,
                Operation.UPDATE: update_by_name,
                Operation.DELETE: delete_by_name,
            },
            synopsis="Read, create, update or delete a group by its name.",
        ),
        Path(
            "group-alias/?$",
            fields=alias_fields,
            operations={Operation.UPDATE: alias_register},
            synopsis="Create a group alias.",
        ),
        Path(
            "group-alias/id/?$", operations={Operation.LIST: alias_list}, synopsis="List the group alias IDs."
        ),
        Path(
            r"group-alias/id/(?P<id>[^/]+)$",
            fields=alias_fields,
            operations={
                Operation.READ: alias_read,
                Operation.UPDATE: alias_update,
                Operation.DELETE: alias_delete,
            },
            synopsis="Read, update or delete a group alias by its ID.",
        ),
        Path(
            "lookup/group$",
            fields=lookup_fields,
            operations={Operation.UPDATE: lookup},
            synopsis="Query groups by their ID, name or alias.",
        ),
    ]

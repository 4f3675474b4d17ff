"""The identity store (mount ``identity/``): entities and their aliases.

An auth method's first login of an alias (AppRole: the role ID; userpass: the user name) creates
an entity with that one alias; later logins find it again. Tokens carry the entity ID, and the
policy engine fills ``{{identity.entity.*}}`` templates from ``entity_view``. Only the read side of
Vault's identity API is served (``entity/id``, ``entity/name``, ``entity-alias/id``); groups live
in ``identity_groups`` and their endpoints in ``identity_group_paths``.

Storage: ``entity/<id>`` holds the entity with its aliases inline; the indexes by name, alias ID
and (mount accessor, alias name) are rebuilt in memory from storage on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..framework import (
    Backend,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    Operation,
    Path,
    Request,
    Response,
)
from ..storage.base import StorageView
from .identity_group_paths import group_paths, keyed_paths
from .identity_groups import ALIAS_LIST_KEYS
from .identity_oidc import oidc_paths
from .identity_store import IdentityStore

if TYPE_CHECKING:
    from ..routing.mounts import MountEntry

HELP = "Identity backend: entities and aliases that tie logins from several auth methods to one identity."


def entity_response(store: IdentityStore, doc: dict[str, Any]) -> dict[str, Any]:
    """The body of ``entity/id/:id`` and ``entity/name/:name``."""
    aliases = [{k: v for k, v in a.items()} for a in doc.get("aliases", [])]
    direct, inherited = store.groups.entity_groups(doc["id"])
    return {
        "aliases": aliases,
        "creation_time": doc["creation_time"],
        "direct_group_ids": direct,
        "disabled": doc.get("disabled", False),
        "group_ids": direct + inherited,
        "id": doc["id"],
        "inherited_group_ids": inherited,
        "last_update_time": doc["last_update_time"],
        "merged_entity_ids": doc.get("merged_entity_ids"),
        "metadata": doc.get("metadata"),
        "name": doc["name"],
        "namespace_id": doc.get("namespace_id", "root"),
        "policies": list(doc.get("policies") or []),
    }


class IdentityBackend(Backend):
    """The identity mount's backend, also the object the core and auth methods call directly."""

    identity: IdentityStore

    def entity_view(self, entity_id: str) -> dict[str, Any] | None:
        """The entity as templated policies see it (``identity.entity.*``), or None."""
        doc = self.identity.entity(entity_id)
        if doc is None:
            return None
        return {
            "id": doc["id"],
            "name": doc["name"],
            "metadata": dict(doc.get("metadata") or {}),
            "aliases": [
                {
                    "mount_accessor": a["mount_accessor"],
                    "id": a["id"],
                    "name": a["name"],
                    "metadata": dict(a.get("metadata") or {}),
                }
                for a in doc.get("aliases", [])
            ],
            "groups": self._group_views(entity_id),
        }

    def _group_views(self, entity_id: str) -> list[dict[str, Any]]:
        groups = self.identity.groups
        direct, inherited = groups.entity_groups(entity_id)
        out = []
        for gid in direct + inherited:
            g = groups.get(gid) or {}
            meta = dict(g.get("metadata") or {})
            out.append({"id": gid, "name": g.get("name", ""), "metadata": meta, "namespace_id": "root"})
        return out

    def sync_external_groups(self, entity_id: str, mount_accessor: str, group_names: list[str]) -> None:
        """A login's group names decide the entity's external groups on that mount."""
        if entity_id and self.identity.groups.sync_external(entity_id, mount_accessor, group_names):
            self.identity.changed()

    def lookup_or_create_entity(
        self, mount_accessor: str, mount_type: str, alias_name: str, metadata: dict[str, str] | None = None
    ) -> str:
        """The entity ID for an alias, creating entity and alias on first sight."""
        return self.identity.lookup_or_create(mount_accessor, mount_type, alias_name, metadata)

    def create_or_fetch_entity(
        self,
        *,
        alias_name: str,
        mount_accessor: str,
        mount_type: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """The same, under the keyword names tokens/common.py calls it with."""
        return self.identity.lookup_or_create(mount_accessor, mount_type, alias_name, metadata)

    def entity_policies(self, entity_id: str) -> list[str]:
        """Policies the entity and its groups (direct and inherited) add to its tokens."""
        doc = self.identity.entity(entity_id)
        if doc is None:
            return []
        return list(doc.get("policies") or []) + self.identity.groups.entity_policies(entity_id)


class EntityApi:
    """The handlers of the entity API, bound to the identity store."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def bound(self, req: Request) -> IdentityStore:
        self.store.bind(req.storage)
        return self.store

    def read_by_id(self, req: Request, data: FieldData) -> Response | None:
        doc = self.bound(req).entity(data.get("id"))
        return None if doc is None else Response(data=entity_response(self.store, doc))

    def read_by_name(self, req: Request, data: FieldData) -> Response | None:
        doc = self.bound(req).entity_by_name(data.get("name"))
        return None if doc is None else Response(data=entity_response(self.store, doc))

    def list_ids(self, req: Request, data: FieldData) -> Response:
        s = self.bound(req)
        info = {}
        for eid in s.entity_ids():
            doc = s.entity(eid)
            assert doc is not None
            info[eid] = {
                "name": doc["name"],
                "aliases": [
                    {k: a[k] for k in ("id", "mount_accessor", "mount_path", "mount_type", "name")}
                    for a in doc.get("aliases", [])
                ],
            }
        return Response(data={"keys": list(info), "key_info": info})

    def list_names(self, req: Request, data: FieldData) -> Response:
        s = self.bound(req)
        names = [s.entity(eid)["name"] for eid in s.entity_ids()]  # type: ignore[index]
        return Response(data={"keys": sorted(names)})

    def read_alias(self, req: Request, data: FieldData) -> Response | None:
        alias = self.bound(req).alias(data.get("id"))
        if alias is None:
            return None
        return Response(data={**alias, "namespace_id": "root"})

    def list_aliases(self, req: Request, data: FieldData) -> Response:
        s = self.bound(req)
        info = {}
        for eid in s.entity_ids():
            doc = s.entity(eid)
            assert doc is not None
            for a in doc.get("aliases", []):
                info[a["id"]] = {k: a.get(k) for k in ALIAS_LIST_KEYS}
        keys = sorted(info)
        return Response(data={"keys": keys, "key_info": {k: info[k] for k in keys}})

    def apply_fields(self, req: Request, data: FieldData, doc: dict[str, Any]) -> None:
        s = self.bound(req)
        if data.has("name") and data.get("name") and data.get("name") != doc["name"]:
            other = s.entity_by_name(data.get("name"))
            if other is not None and other["id"] != doc["id"]:
                raise ErrorResponse("entity name is already in use")
            doc["name"] = data.get("name")
        if data.has("policies"):
            doc["policies"] = sorted({p.strip().lower() for p in data.get("policies") if p.strip()})
        if data.has("metadata"):
            doc["metadata"] = data.get("metadata") or None
        if data.has("disabled"):
            doc["disabled"] = data.get("disabled")

    def create(self, req: Request, data: FieldData) -> Response | None:
        s = self.bound(req)
        name = data.get("name")
        existing = s.entity_by_name(name) if name else None
        if existing is not None:  # Vault updates an entity written again by name
            old = existing["name"]
            self.apply_fields(req, data, existing)
            s.save(existing, old_name=old)
            return None
        doc = s.new_entity(name)
        self.apply_fields(req, data, doc)
        s.save(doc)
        return Response(data={"aliases": None, "id": doc["id"], "name": doc["name"]})

    def update_by_id(self, req: Request, data: FieldData) -> Response | None:
        s = self.bound(req)
        doc = s.entity(data.get("id"))
        if doc is None:
            raise ErrorResponse("entity not found from id")
        old = doc["name"]
        self.apply_fields(req, data, doc)
        s.save(doc, old_name=old)
        return None

    def update_by_name(self, req: Request, data: FieldData) -> Response | None:
        s = self.bound(req)
        doc = s.entity_by_name(data.get("name"))
        if doc is None:
            doc = s.new_entity(data.get("name"))
            self.apply_fields(req, data, doc)
            s.save(doc)
            return Response(data={"aliases": None, "id": doc["id"], "name": doc["name"]})
        self.apply_fields(req, data, doc)
        s.save(doc)
        return None

    def delete_by_id(self, req: Request, data: FieldData) -> Response | None:
        self.bound(req).delete(data.get("id"))
        return None

    def delete_by_name(self, req: Request, data: FieldData) -> Response | None:
        s = self.bound(req)
        doc = s.entity_by_name(data.get("name"))
        if doc is not None:
            s.delete(doc["id"])
        return None


ENTITY_FIELDS = {
    "name": Field(FieldType.STRING, "Name of the entity."),
    "metadata": Field(FieldType.KV_PAIRS, "Metadata to be associated with the entity."),
    "policies": Field(FieldType.COMMA_STRING_SLICE, "Policies to be tied to the entity."),
    "disabled": Field(FieldType.BOOL, "Tokens of a disabled entity are refused."),
}
ID_FIELD = {"id": Field(FieldType.STRING, "ID of the entity or alias.")}
NAME_FIELD = {"name": Field(FieldType.STRING, "Name of the entity.")}


def _entity_paths(api: EntityApi) -> list[Path]:
    return [
        Path(
            "entity/?$",
            fields=ENTITY_FIELDS,
            operations={Operation.UPDATE: api.create},
            synopsis="Create a new entity.",
        ),
        *keyed_paths(
            "entity",
            "id",
            {**ENTITY_FIELDS, **ID_FIELD},
            (api.list_ids, api.read_by_id, api.update_by_id, api.delete_by_id),
            ("List all the entity IDs.", "Read, update or delete an entity by its ID."),
        ),
        *keyed_paths(
            "entity",
            "name",
            {**ENTITY_FIELDS, **NAME_FIELD},
            (api.list_names, api.read_by_name, api.update_by_name, api.delete_by_name),
            ("List all the entity names.", "Read, create, update or delete an entity by its name."),
        ),
        Path(
            "entity-alias/id/?$",
            operations={Operation.LIST: api.list_aliases},
            synopsis="List all the alias IDs.",
        ),
        Path(
            r"entity-alias/id/(?P<id>[^/]+)$",
            fields=ID_FIELD,
            operations={Operation.READ: api.read_alias},
            synopsis="Read an entity alias by its ID.",
        ),
    ]


def _paths(store: IdentityStore) -> list[Path]:
    """Entities and aliases, then groups and the OIDC token issuer, on one identity store."""
    return [*_entity_paths(EntityApi(store)), *group_paths(store), *oidc_paths(store.core)]


def factory(core: Any, entry: MountEntry | None) -> IdentityBackend:
    storage = None
    if core is not None and entry is not None:
        storage = StorageView(core.barrier, entry.storage_prefix)
    store = IdentityStore(core, storage)
    backend = IdentityBackend(
        paths=_paths(store),
        help=HELP,
        backend_type="identity",
    )
    backend.identity = store
    return backend

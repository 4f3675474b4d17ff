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

import secrets
import threading
import time
import uuid
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
from ..gocompat.times import rfc3339_nano
from ..storage.base import Storage
from .identity_group_paths import group_paths, keyed_paths
from .identity_groups import ALIAS_LIST_KEYS, GroupStore
from .identity_oidc import oidc_paths

if TYPE_CHECKING:
    from ..core.mounts import MountEntry

HELP = "Identity backend: entities and aliases that tie logins from several auth methods to one identity."


class IdentityStore:
    """Entities in storage, with in-memory indexes built lazily and kept under one lock."""

    def __init__(self, core: Any, storage: Storage | None) -> None:
        self.core = core
        self.storage = storage
        self.lock = threading.RLock()
        self._entities: dict[str, dict[str, Any]] | None = None
        self._by_name: dict[str, str] = {}
        self._alias_owner: dict[str, str] = {}
        self._by_factors: dict[tuple[str, str], str] = {}
        self.groups = GroupStore(storage, self.lock)

    def bind(self, storage: Storage | None) -> None:
        """Use the mount's storage view (known once a request arrives, or from the router)."""
        if self.storage is None and storage is not None:
            self.storage = storage
        if self.groups.storage is None and storage is not None:
            self.groups.storage = storage

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def auth_mount(self, accessor: str) -> Any:
        """The auth mount entry with this accessor, or None."""
        for entry in getattr(self.core, "auth_mounts", []) or []:
            if entry.accessor == accessor:
                return entry
        return None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entities is None:
            with self.lock:
                if self._entities is None:
                    entities: dict[str, dict[str, Any]] = {}
                    if self.storage is not None:
                        for key in self.storage.list("entity/"):
                            doc = self.storage.get_json("entity/" + key)
                            if doc is not None:
                                entities[doc["id"]] = doc
                    for doc in entities.values():
                        self._index(doc)
                    self._entities = entities
        return self._entities

    def _index(self, doc: dict[str, Any]) -> None:
        self._by_name[doc["name"]] = doc["id"]
        for alias in doc.get("aliases", []):
            self._alias_owner[alias["id"]] = doc["id"]
            self._by_factors[(alias["mount_accessor"], alias["name"])] = doc["id"]

    def _mount_path(self, accessor: str) -> str:
        entry = self.auth_mount(accessor)
        return "" if entry is None else "auth/" + entry.path

    # -- the API auth methods and the policy engine use --------------------------------------
    def lookup_or_create(
        self, mount_accessor: str, mount_type: str, alias_name: str, metadata: dict[str, str] | None
    ) -> str:
        entities = self._load()
        with self.lock:
            found = self._by_factors.get((mount_accessor, alias_name))
            if found is not None and found in entities:
                return found
            now = rfc3339_nano(time.time())
            entity_id = str(uuid.uuid4())
            alias = {
                "id": str(uuid.uuid4()),
                "canonical_id": entity_id,
                "name": alias_name,
                "mount_accessor": mount_accessor,
                "mount_type": mount_type,
                "mount_path": self._mount_path(mount_accessor),
                "metadata": dict(metadata) if metadata else None,
                "custom_metadata": None,
                "creation_time": now,
                "last_update_time": now,
                "local": False,
                "merged_from_canonical_ids": None,
            }
            doc = {
                "id": entity_id,
                "name": f"entity_{secrets.token_hex(4)}.root",
                "aliases": [alias],
                "metadata": None,
                "policies": [],
                "disabled": False,
                "creation_time": now,
                "last_update_time": now,
                "merged_entity_ids": None,
                "namespace_id": "root",
            }
            if self.storage is not None:
                self.storage.put_json("entity/" + entity_id, doc)
            entities[entity_id] = doc
            self._index(doc)
            return entity_id

    def entity(self, entity_id: str) -> dict[str, Any] | None:
        return self._load().get(entity_id)

    def entity_by_name(self, name: str) -> dict[str, Any] | None:
        entities = self._load()
        eid = self._by_name.get(name)
        return None if eid is None else entities.get(eid)

    def alias(self, alias_id: str) -> dict[str, Any] | None:
        entities = self._load()
        owner = self._alias_owner.get(alias_id)
        if owner is None or owner not in entities:
            return None
        return next((a for a in entities[owner]["aliases"] if a["id"] == alias_id), None)

    def entity_ids(self) -> list[str]:
        return sorted(self._load())

    def save(self, doc: dict[str, Any], *, old_name: str = "") -> None:
        """Persist an edited or new entity and refresh the name index."""
        with self.lock:
            entities = self._load()
            if old_name and old_name != doc["name"]:
                self._by_name.pop(old_name, None)
            doc["last_update_time"] = rfc3339_nano(time.time())
            if self.storage is not None:
                self.storage.put_json("entity/" + doc["id"], doc)
            entities[doc["id"]] = doc
            self._index(doc)
            self._changed()

    def delete(self, entity_id: str) -> None:
        with self.lock:
            entities = self._load()
            doc = entities.pop(entity_id, None)
            if doc is None:
                return
            self._by_name.pop(doc["name"], None)
            for alias in doc.get("aliases", []):
                self._alias_owner.pop(alias["id"], None)
                self._by_factors.pop((alias["mount_accessor"], alias["name"]), None)
            if self.storage is not None:
                self.storage.delete("entity/" + entity_id)
            self.groups.forget_entity(entity_id)
            self._changed()

    def changed(self) -> None:
        self._changed()

    def _changed(self) -> None:
        """Entity policies and templates feed compiled ACLs: drop the cached ones."""
        store = getattr(self.core, "policy_store", None)
        invalidate = getattr(store, "invalidate", None)
        if callable(invalidate):
            invalidate()

    def new_entity(self, name: str) -> dict[str, Any]:
        now = rfc3339_nano(time.time())
        entity_id = str(uuid.uuid4())
        return {
            "id": entity_id,
            "name": name or f"entity_{secrets.token_hex(4)}",
            "aliases": [],
            "metadata": None,
            "policies": [],
            "disabled": False,
            "creation_time": now,
            "last_update_time": now,
            "merged_entity_ids": None,
            "namespace_id": "root",
        }


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
        from ..storage.base import StorageView

        storage = StorageView(core.barrier, entry.storage_prefix)
    store = IdentityStore(core, storage)
    backend = IdentityBackend(
        paths=_paths(store),
        help=HELP,
        backend_type="identity",
        unauthenticated_paths=["oidc/.well-known/*"],
    )
    backend.identity = store
    return backend

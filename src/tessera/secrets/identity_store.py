"""Entities in the identity mount's storage, with in-memory indexes (by name, alias ID, alias factors).

Below the identity paths: the entity API, the group paths and the auth methods' logins all use it.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from typing import Any

from ..gocompat.times import rfc3339_nano
from ..storage.base import Storage
from .identity_groups import GroupStore


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
        entities = self._entities if self._entities is not None else self._load()
        with self.lock:
            found = self._by_factors.get((mount_accessor, alias_name))
            if found is not None:
                doc = entities.get(found)
                if doc is not None:
                    if metadata:
                        self._follow_alias_metadata(
                            entities, found, doc, mount_accessor, alias_name, metadata
                        )
                    return found
            doc = self.new_entity(f"entity_{secrets.token_hex(4)}.root")
            entity_id = doc["id"]
            now = doc["creation_time"]
            doc["aliases"] = [
                {
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
            ]
            if self.storage is not None:
                self.storage.put_json("entity/" + entity_id, doc)
            entities[entity_id] = doc
            self._index(doc)
            return entity_id  # type: ignore[no-any-return]

    def _follow_alias_metadata(
        self,
        entities: dict[str, dict[str, Any]],
        entity_id: str,
        doc: dict[str, Any],
        mount_accessor: str,
        alias_name: str,
        metadata: dict[str, str],
    ) -> None:
        """A login's alias metadata replaces the stored one when it differs, as the reference does
        (the alias's ``last_update_time`` moves, the entity's does not). Equal metadata writes
        nothing, so repeat logins stay read-only (worker processes serve them). Stored before it
        is remembered: a worker's refused write leaves nothing behind."""
        aliases = doc.get("aliases") or []
        index = -1
        for i, alias in enumerate(aliases):  # every login of the alias: a plain loop
            if alias.get("mount_accessor") == mount_accessor and alias.get("name") == alias_name:
                index = i
                break
        if index < 0 or (aliases[index].get("metadata") or {}) == metadata:
            return
        alias = aliases[index]
        alias = {**alias, "metadata": dict(metadata), "last_update_time": rfc3339_nano(time.time())}
        updated = {**doc, "aliases": [*aliases[:index], alias, *aliases[index + 1 :]]}
        if self.storage is not None:
            self.storage.put_json("entity/" + entity_id, updated)
        entities[entity_id] = updated
        self._index(updated)

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

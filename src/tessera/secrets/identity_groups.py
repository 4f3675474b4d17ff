"""Identity groups: internal groups (members named by ID) and external groups (members by alias).

An internal group lists ``member_entity_ids`` and ``member_group_ids``; its policies reach every
member entity and, through nesting, the members of its member groups. An external group has one
group alias (a name on an auth mount); an auth method's login names the groups the caller belongs
to (JWT's ``groups_claim``) and the entity joins or leaves the external groups of that mount.

Policies are resolved from the groups at request time, never stored in tokens, so a change to a
group reaches every existing token of its members at once, as in Vault.

Storage: ``group/<id>`` holds a group with its alias inline; indexes are rebuilt on first use.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from ..framework import ErrorResponse
from ..gocompat.times import rfc3339_nano
from ..storage.base import Storage

INTERNAL, EXTERNAL = "internal", "external"
MAX_MEMBER_ENTITIES = 512
# what an alias shows of its mount (sorted: both key lists below end with it)
_ALIAS_MOUNT_KEYS = ("metadata", "mount_accessor", "mount_path", "mount_type", "name")
ALIAS_KEYS = (
    "canonical_id",
    "creation_time",
    "id",
    "last_update_time",
    "merged_from_canonical_ids",
    *_ALIAS_MOUNT_KEYS,
)

# the fields of each alias in a LIST of entity or group aliases (``key_info``)
ALIAS_LIST_KEYS = ("canonical_id", "custom_metadata", "local", *_ALIAS_MOUNT_KEYS)


def stable_policies(values: list[str]) -> list[str]:
    """strutil.RemoveDuplicatesStable(lowercase): trimmed, lowercased, first occurrence kept."""
    out: list[str] = []
    for value in values:
        item = value.strip().lower()
        if item and item not in out:
            out.append(item)
    return out


class GroupStore:
    """Groups in storage with in-memory indexes by name, alias ID and (mount accessor, alias name)."""

    def __init__(self, storage: Storage | None, lock: threading.RLock) -> None:
        self.storage = storage
        self.lock = lock
        self._groups: dict[str, dict[str, Any]] | None = None
        self._by_name: dict[str, str] = {}
        self._by_alias_id: dict[str, str] = {}
        self._by_alias_factors: dict[tuple[str, str], str] = {}
        # member -> the groups listing it: every request of an entity's token resolves its groups
        self._groups_of_entity: dict[str, set[str]] = {}
        self._parents_of_group: dict[str, set[str]] = {}

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._groups is None:
            with self.lock:
                if self._groups is None:
                    groups: dict[str, dict[str, Any]] = {}
                    if self.storage is not None:
                        for key in self.storage.list("group/"):
                            doc = self.storage.get_json("group/" + key)
                            if doc is not None:
                                groups[doc["id"]] = doc
                    self._groups = groups
                    for doc in groups.values():
                        self._index(doc)
        return self._groups

    def _index(self, doc: dict[str, Any]) -> None:
        self._by_name[doc["name"]] = doc["id"]
        for eid in doc.get("member_entity_ids") or []:
            self._groups_of_entity.setdefault(eid, set()).add(doc["id"])
        for gid in doc.get("member_group_ids") or []:
            self._parents_of_group.setdefault(gid, set()).add(doc["id"])
        alias = doc.get("alias")
        if alias:
            self._by_alias_id[alias["id"]] = doc["id"]
            self._by_alias_factors[(alias["mount_accessor"], alias["name"])] = doc["id"]

    def _unindex(self, doc: dict[str, Any]) -> None:
        if self._by_name.get(doc["name"]) == doc["id"]:
            self._by_name.pop(doc["name"], None)
        for eid in doc.get("member_entity_ids") or []:
            self._groups_of_entity.get(eid, set()).discard(doc["id"])
        for gid in doc.get("member_group_ids") or []:
            self._parents_of_group.get(gid, set()).discard(doc["id"])
        alias = doc.get("alias")
        if alias:
            self._by_alias_id.pop(alias["id"], None)
            self._by_alias_factors.pop((alias["mount_accessor"], alias["name"]), None)

    # -- look-ups -----------------------------------------------------------------------------
    def get(self, group_id: str) -> dict[str, Any] | None:
        return self._load().get(group_id)

    def _via(self, index: dict[Any, str], key: Any) -> dict[str, Any] | None:
        """The group an index names under ``key`` (the indexes fill on first load)."""
        groups = self._load()
        gid = index.get(key)
        return None if gid is None else groups.get(gid)

    def by_name(self, name: str) -> dict[str, Any] | None:
        return self._via(self._by_name, name)

    def by_alias_id(self, alias_id: str) -> dict[str, Any] | None:
        return self._via(self._by_alias_id, alias_id)

    def by_alias(self, mount_accessor: str, name: str) -> dict[str, Any] | None:
        return self._via(self._by_alias_factors, (mount_accessor, name))

    def ids(self) -> list[str]:
        return sorted(self._load())

    def parents(self, group_id: str) -> list[str]:
        self._load()
        return sorted(self._parents_of_group.get(group_id, ()))

    def direct_groups(self, entity_id: str) -> list[str]:
        self._load()
        return sorted(self._groups_of_entity.get(entity_id, ()))

    def ancestors(self, group_ids: list[str]) -> list[str]:
        """Every group reachable upwards from ``group_ids`` (not including them), bounded by the group count."""
        seen = set(group_ids)
        out: list[str] = []
        frontier = list(group_ids)
        while frontier:
            nxt = []
            for gid in frontier:
                for parent in self.parents(gid):
                    if parent not in seen:
                        seen.add(parent)
                        out.append(parent)
                        nxt.append(parent)
            frontier = nxt
        return out

    def descendants(self, group_id: str) -> set[str]:
        """Groups nested (at any depth) inside ``group_id``."""
        groups = self._load()
        seen: set[str] = set()
        frontier = [group_id]
        while frontier:
            gid = frontier.pop()
            for member in (groups.get(gid) or {}).get("member_group_ids") or []:
                if member not in seen:
                    seen.add(member)
                    frontier.append(member)
        return seen

    def entity_groups(self, entity_id: str) -> tuple[list[str], list[str]]:
        """(direct, inherited) group IDs of an entity."""
        direct = self.direct_groups(entity_id)
        return direct, self.ancestors(direct)

    def entity_policies(self, entity_id: str) -> list[str]:
        groups = self._load()
        if not self._groups_of_entity.get(entity_id):
            return []  # in no group (most entities): nothing to walk
        direct, inherited = self.entity_groups(entity_id)
        out: list[str] = []
        for gid in direct + inherited:
            out.extend(groups[gid].get("policies") or [])
        return out

    # -- changes ------------------------------------------------------------------------------
    def new(self, group_type: str) -> dict[str, Any]:
        now = rfc3339_nano(time.time())
        gid = str(uuid.uuid4())
        return {
            "id": gid,
            "name": "group_" + gid,
            "type": group_type,
            "policies": None,
            "metadata": None,
            "member_entity_ids": None,
            "member_group_ids": None,
            "alias": None,
            "creation_time": now,
            "last_update_time": now,
            "modify_index": 0,
            "namespace_id": "root",
        }

    def save(self, doc: dict[str, Any], *, touch: bool = True) -> None:
        """Persist ``doc`` (a new group, or an edited copy of one: the stored one is unindexed) and index it."""
        with self.lock:
            groups = self._load()
            old = groups.get(doc["id"])
            if old is not None:
                self._unindex(old)
            if touch:
                doc["last_update_time"] = rfc3339_nano(time.time())
            doc["modify_index"] = int(doc.get("modify_index") or 0) + 1
            if self.storage is not None:
                self.storage.put_json("group/" + doc["id"], doc)
            groups[doc["id"]] = doc
            self._index(doc)

    def set_parent(self, group_id: str, parent_id: str, member: bool) -> None:
        """Record on a member group that ``parent_id`` now has (or no longer has) it as a member."""
        doc = self.get(group_id)
        if doc is None:
            return
        parents = [p for p in doc.get("parent_group_ids") or [] if p != parent_id]
        self.save({**doc, "parent_group_ids": [*parents, parent_id] if member else parents}, touch=False)

    def delete(self, group_id: str) -> None:
        with self.lock:
            groups = self._load()
            doc = groups.pop(group_id, None)
            if doc is None:
                return
            self._unindex(doc)
            if self.storage is not None:
                self.storage.delete("group/" + group_id)
            for member in doc.get("member_group_ids") or []:
                self.set_parent(member, group_id, False)
            for parent in list(groups.values()):
                members = parent.get("member_group_ids") or []
                if group_id in members:
                    self.save(
                        {**parent, "member_group_ids": [m for m in members if m != group_id]}, touch=False
                    )

    def forget_entity(self, entity_id: str) -> None:
        """A deleted entity leaves every group it was a member of."""
        with self.lock:
            for doc in list(self._load().values()):
                members = doc.get("member_entity_ids") or []
                if entity_id in members:
                    self.save(
                        {**doc, "member_entity_ids": [m for m in members if m != entity_id]}, touch=False
                    )

    def sync_external(self, entity_id: str, mount_accessor: str, alias_names: list[str]) -> bool:
        """After a login: the entity is a member of exactly the external groups of this mount
        whose alias names the login reported. Returns whether anything changed."""
        self._load()
        wanted = {self._by_alias_factors.get((mount_accessor, n)) for n in alias_names}
        changed = False
        with self.lock:
            for doc in list(self._load().values()):
                alias = doc.get("alias")
                if doc["type"] != EXTERNAL or not alias or alias["mount_accessor"] != mount_accessor:
                    continue
                members = list(doc.get("member_entity_ids") or [])
                if doc["id"] in wanted and entity_id not in members:
                    members = sorted([*members, entity_id])
                elif doc["id"] not in wanted and entity_id in members:
                    members = [m for m in members if m != entity_id]
                else:
                    continue
                self.save({**doc, "member_entity_ids": members}, touch=False)  # a copy: save re-indexes
                changed = True
        return changed

    # -- validation ---------------------------------------------------------------------------
    def check_members(
        self,
        doc: dict[str, Any],
        entity_ids: list[str] | None,
        group_ids: list[str] | None,
        entity_exists: Any,
    ) -> None:
        """sanitizeAndUpsertGroup's checks (the reference answers 500 for some; a bad ID is the caller's error)."""
        if entity_ids is not None:
            for eid in entity_ids:
                if not entity_exists(eid):
                    raise ErrorResponse(f'invalid entity ID "{eid}"')
        if group_ids is not None:
            for gid in group_ids:
                if gid == doc["id"]:
                    raise ErrorResponse(f'member group ID "{gid}" is same as the ID of the group')
                if self.get(gid) is None:
                    raise ErrorResponse(f'invalid member group ID "{gid}"')
                if doc["id"] in self.descendants(gid):
                    raise ErrorResponse(f'cyclic relationship detected for member group ID "{gid}"')


def group_response(store: GroupStore, doc: dict[str, Any]) -> dict[str, Any]:
    """The body of ``group/id/:id``, ``group/name/:name`` and ``lookup/group``."""
    alias = doc.get("alias")
    return {
        "alias": {k: alias.get(k) for k in ALIAS_KEYS} if alias else {},
        "creation_time": doc["creation_time"],
        "id": doc["id"],
        "last_update_time": doc["last_update_time"],
        "member_entity_ids": doc.get("member_entity_ids") or None,
        "member_group_ids": doc.get("member_group_ids") or None,
        "metadata": doc.get("metadata") or None,
        "modify_index": doc.get("modify_index", 1),
        "name": doc["name"],
        "namespace_id": doc.get("namespace_id", "root"),
        "parent_group_ids": doc.get("parent_group_ids"),
        "policies": doc.get("policies"),
        "type": doc["type"],
    }


def group_alias_response(doc: dict[str, Any]) -> dict[str, Any]:
    """The body of ``group-alias/id/:id``."""
    alias = doc["alias"]
    return {
        **{k: alias.get(k) for k in ALIAS_KEYS},
        "custom_metadata": None,
        "local": False,
        "namespace_id": "root",
    }

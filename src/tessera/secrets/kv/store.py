"""KV v2 storage layout: one JSON document per key's metadata and one per version.

Everything lives under ``<mount uuid>/`` inside the mount's storage view, as Vault keeps its
versioned data under the backend UUID: whatever sits outside that prefix is v1 data, which is
what makes the in-place v1 → v2 upgrade possible.

    <p>upgrading                      {"done": true, "started_time": ns}   (layout marker)
    <p>config                         mount-wide settings
    <p>metadata/<key>                 the key's metadata (versions map, settings)
    <p>versions/<sha256(key)>/<n>     {"data": {...}} of version n
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...gocompat.durations import format_go_duration
from ...storage.base import Storage, TxnOp
from .common import format_time, now_ns

log = logging.getLogger("tessera.kv")

DEFAULT_MAX_VERSIONS = 10
# A negative delete_version_after on the mount disables the setting for every key.
DVA_DISABLED = -1


def uint32(value: int) -> int:
    """Go stores max_versions as uint32: a negative input wraps, as it does there."""
    return value & 0xFFFFFFFF


@dataclass
class Config:
    max_versions: int = 0
    cas_required: bool = False
    metadata_cas_required: bool = False
    # Seconds; 0 = unset, -1 = disabled for every key.
    delete_version_after: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "cas_required": self.cas_required,
            "delete_version_after": format_go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": self.metadata_cas_required,
        }


@dataclass
class VersionMeta:
    created_time: int = 0
    deletion_time: int = 0
    destroyed: bool = False

    def deleted(self, now: int) -> bool:
        """Soft-deleted once its deletion time has passed (a future one is a scheduled delete)."""
        return bool(self.deletion_time) and self.deletion_time < now

    def to_api(self) -> dict[str, Any]:
        return {
            "created_time": format_time(self.created_time),
            "deletion_time": format_time(self.deletion_time),
            "destroyed": self.destroyed,
        }


@dataclass
class KeyMeta:
    key: str
    versions: dict[int, VersionMeta] = field(default_factory=dict)
    current_version: int = 0
    oldest_version: int = 0
    created_time: int = 0
    updated_time: int = 0
    max_versions: int = 0
    cas_required: bool = False
    metadata_cas_required: bool = False
    delete_version_after: int = 0
    custom_metadata: dict[str, str] | None = None
    current_metadata_version: int = 0

    # -- persistence -----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "versions": {str(n): vars(v) for n, v in self.versions.items()},
            "current_version": self.current_version,
            "oldest_version": self.oldest_version,
            "created_time": self.created_time,
            "updated_time": self.updated_time,
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "metadata_cas_required": self.metadata_cas_required,
            "delete_version_after": self.delete_version_after,
            "custom_metadata": self.custom_metadata or None,
            "current_metadata_version": self.current_metadata_version,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KeyMeta:
        doc = dict(doc)
        versions = {int(n): VersionMeta(**v) for n, v in doc.pop("versions", {}).items()}
        return cls(versions=versions, **doc)

    # -- behaviour -------------------------------------------------------------------
    def version_api(self, number: int, vm: VersionMeta) -> dict[str, Any]:
        """The per-version block data/subkeys answers carry."""
        return {**vm.to_api(), "custom_metadata": self.custom_metadata or None, "version": number}

    def to_api(self) -> dict[str, Any]:
        return {
            "cas_required": self.cas_required,
            "created_time": format_time(self.created_time),
            "current_metadata_version": self.current_metadata_version,
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata or None,
            "delete_version_after": format_go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": self.metadata_cas_required,
            "oldest_version": self.oldest_version,
            "updated_time": format_time(self.updated_time),
            "versions": {str(n): v.to_api() for n, v in sorted(self.versions.items())},
        }

    def add_version(self, created: int, deletion: int, config_max: int) -> tuple[VersionMeta, list[int]]:
        """Append a version and slide the max_versions window; returns it and the pruned numbers.

        As in Vault the limit is the larger of the key's and the mount's setting (10 when both
        are 0), and ``oldest_version`` only starts moving once the window is full.
        """
        vm = VersionMeta(created_time=created, deletion_time=deletion)
        self.current_version += 1
        self.versions[self.current_version] = vm
        self.updated_time = created
        if not self.created_time:
            self.created_time = created
        limit = max(self.max_versions, config_max) or DEFAULT_MAX_VERSIONS
        pruned: list[int] = []
        if self.current_version - self.oldest_version >= limit:
            to_delete = self.current_version - limit
            for n in range(self.oldest_version, to_delete + 1):
                if self.versions.pop(n, None) is not None:
                    pruned.append(n)
            self.oldest_version = to_delete + 1
        return vm, pruned


def deletion_time(created: int, config: Config, meta: KeyMeta) -> int:
    """When a new (or undeleted) version is due to be soft-deleted: the smaller non-zero setting."""
    if config.delete_version_after == DVA_DISABLED:
        return 0
    mount, key = config.delete_version_after, meta.delete_version_after
    if mount == 0 and key == 0:
        return 0
    chosen = key
    if (mount != 0 and mount < chosen) or chosen == 0:
        chosen = mount
    return created + chosen * 1_000_000_000


class V2Store:
    """Reads and writes the v2 layout under ``prefix`` of a mount's storage view."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    # -- keys ------------------------------------------------------------------------
    def meta_key(self, key: str) -> str:
        return f"{self.prefix}metadata/{key}"

    def version_key(self, key: str, number: int) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.prefix}versions/{digest}/{number}"

    @property
    def config_key(self) -> str:
        return self.prefix + "config"

    @property
    def marker_key(self) -> str:
        return self.prefix + "upgrading"

    # -- documents -------------------------------------------------------------------
    def config(self, storage: Storage) -> Config:
        doc = storage.get_json(self.config_key)
        return Config(**doc) if doc else Config()

    def put_config(self, storage: Storage, config: Config) -> None:
        storage.put_json(self.config_key, vars(config))

    def meta(self, storage: Storage, key: str) -> KeyMeta | None:
        doc = storage.get_json(self.meta_key(key))
        return None if doc is None else KeyMeta.from_json(doc)

    def meta_op(self, meta: KeyMeta) -> TxnOp:
        return TxnOp(self.meta_key(meta.key), orjson.dumps(meta.to_json()))

    def version_op(self, key: str, number: int, data: Any) -> TxnOp:
        return TxnOp(self.version_key(key, number), orjson.dumps({"data": data}))

    def delete_meta_op(self, key: str) -> TxnOp:
        return TxnOp(self.meta_key(key), None)

    def delete_version_op(self, key: str, number: int) -> TxnOp:
        return TxnOp(self.version_key(key, number), None)

    def version_data(self, storage: Storage, key: str, number: int) -> Any:
        doc = storage.get_json(self.version_key(key, number))
        if doc is None:
            raise LookupError("could not find version data")
        return doc["data"]

    def list_keys(self, storage: Storage, prefix: str) -> list[str]:
        return storage.list(self.meta_key(prefix))

    # -- the v1 → v2 upgrade ---------------------------------------------------------
    def ensure_layout(self, storage: Storage) -> int:
        """Make sure the mount is in v2 layout; turn v1 keys into version 1 of v2 keys.

        Runs when the backend is built (mount, unseal, tune to version 2). All the moved keys,
        their new documents and the marker go in one transaction, so a crash leaves either the
        v1 data or the finished upgrade. Returns how many keys were upgraded.
        """
        marker = storage.get_json(self.marker_key)
        if marker and marker.get("done"):
            return 0
        started = now_ns()
        ops: list[TxnOp] = []
        moved = 0
        for key in storage.list_all(""):
            if key.startswith(self.prefix):
                continue
            raw = storage.get(key)
            if raw is None:
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.warning("kv upgrade: key %r is not JSON; kept as a string", key)
                data = {"value": raw.decode("utf-8", "replace")}
            meta = KeyMeta(key=key)
            # Vault adds the upgraded version with a window of 1, so oldest_version reads 1.
            meta.add_version(now_ns(), 0, 1)
            ops += [self.version_op(key, 1, data), self.meta_op(meta), TxnOp(key, None)]
            moved += 1
        ops.append(TxnOp(self.marker_key, orjson.dumps({"done": True, "started_time": started})))
        storage.transaction(ops)
        if moved:
            log.info("kv upgrade: moved %d v1 keys to the versioned layout", moved)
        return moved

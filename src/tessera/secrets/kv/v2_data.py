"""KV v2 version paths: ``data/``, ``subkeys/``, ``delete/``, ``undelete/`` and ``destroy/``.

Every write that changes more than one document (a new version plus the metadata, the
versions pruned by max_versions, destroyed version data) goes in one storage transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ...framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    Operation,
    Path,
    Request,
    Response,
    match_all,
)
from ...storage.base import Storage
from .common import KeyLocks, merge_patch, now_ns, validate_fields, weak_int
from .store import Config, KeyMeta, V2Store, VersionMeta, deletion_time

PATH_FIELD = Field(FieldType.STRING, "Location of the secret.")


@dataclass
class V2Context:
    """What every v2 handler shares: the storage layout and the per-key locks."""

    store: V2Store
    locks: KeyLocks

    def storage(self, req: Request) -> Storage:
        assert req.storage is not None
        return req.storage

    def exists(self, req: Request, data: FieldData) -> bool:
        """Existence check of data/ and metadata/: the key has metadata (create vs update ACL)."""
        validate_fields(data)
        return self.store.meta(self.storage(req), data.get("path")) is not None

    @contextmanager
    def locked_meta(self, req: Request, key: str) -> Iterator[tuple[Storage, KeyMeta | None]]:
        """The key's metadata, read under the key's lock and kept locked for a read-modify-write."""
        storage = self.storage(req)
        with self.locks.for_key(key):
            yield storage, self.store.meta(storage, key)

    def version_data(self, storage: Storage, key: str, number: int) -> Any:
        try:
            return self.store.version_data(storage, key, number)
        except LookupError as exc:
            raise InternalError(str(exc)) from None


def check_cas(data: FieldData, config: Config, meta: KeyMeta) -> None:
    """``options.cas`` must name the current version (0: the key must not exist yet)."""
    options, given = data.get_ok("options")
    if given and isinstance(options, dict) and "cas" in options:
        try:
            cas = weak_int(options["cas"])
        except ValueError:
            raise ErrorResponse("error parsing check-and-set parameter") from None
        # Go compares as uint64: a negative cas never matches.
        if cas < 0 or cas != meta.current_version:
            raise ErrorResponse("check-and-set parameter did not match the current version")
    elif config.cas_required or meta.cas_required:
        raise ErrorResponse("check-and-set parameter required for this call")


def _wanted_version(meta: KeyMeta, data: FieldData) -> tuple[int, VersionMeta | None]:
    """The version a read asks for (0: the current one) and its metadata, if it has any."""
    wanted = data.get("version")
    number = wanted if wanted > 0 else meta.current_version
    return number, meta.versions.get(number)


def _remove_values(value: dict[str, Any], max_depth: int) -> None:
    """Replace leaves with null, stopping at ``max_depth`` (0 = no limit), as Vault's subkeys."""

    def walk(node: dict[str, Any], depth: int) -> None:
        for key, child in node.items():
            if isinstance(child, dict) and child and (max_depth == 0 or depth + 1 <= max_depth):
                walk(child, depth + 1)
            else:
                node[key] = None

    walk(value, 1)


class DataHandlers:
    """The data/ handlers of one KV v2 mount."""

    def __init__(self, ctx: V2Context) -> None:
        self.ctx = ctx
        self.store, self.locks = ctx.store, ctx.locks

    def add_version(self, storage: Storage, meta: KeyMeta, config: Config, payload: Any) -> Response:
        created = now_ns()
        vm, pruned = meta.add_version(created, deletion_time(created, config, meta), config.max_versions)
        ops = [self.store.version_op(meta.key, meta.current_version, payload), self.store.meta_op(meta)]
        ops += [self.store.delete_version_op(meta.key, n) for n in pruned]
        storage.transaction(ops)
        return Response(data=meta.version_api(meta.current_version, vm))

    def data_write(self, req: Request, data: FieldData) -> Response | None:
        storage = self.ctx.storage(req)
        key = data.get("path")
        if key == "":
            raise ErrorResponse("missing path")
        config = self.store.config(storage)
        payload, given = data.get_ok("data")
        if not given:
            raise ErrorResponse("no data provided")
        with self.locks.for_key(key):
            meta = self.store.meta(storage, key) or KeyMeta(key=key)
            check_cas(data, config, meta)
            return self.add_version(storage, meta, config, payload)

    def read_version(self, req: Request, data: FieldData) -> tuple[dict[str, Any], bool, Any] | None:
        """(the asked version's metadata, whether it is live, its data), read under the key's lock."""
        key = data.get("path")
        with self.ctx.locked_meta(req, key) as (storage, meta):
            if meta is None:
                return None
            number, vm = _wanted_version(meta, data)
            if vm is None:
                return None
            if vm.deleted(now_ns()) or vm.destroyed:
                return meta.version_api(number, vm), False, None
            return meta.version_api(number, vm), True, self.ctx.version_data(storage, key, number)

    def data_read(self, req: Request, data: FieldData) -> Response | None:
        found = self.read_version(req, data)
        if found is None:
            return None
        version, live, value = found
        if not live:
            return Response(data={"data": None, "metadata": version}, status=404)
        return Response(data={"data": value, "metadata": version})

    def data_patch(self, req: Request, data: FieldData) -> Response | None:
        storage = self.ctx.storage(req)
        key = data.get("path")
        patch, given = data.get_ok("data")
        if not given:
            raise ErrorResponse("no data provided")
        with self.locks.for_key(key):
            meta = self.store.meta(storage, key)
            if meta is None:
                return Response(status=404)
            config = self.store.config(storage)
            check_cas(data, config, meta)
            current = meta.current_version
            vm = meta.versions.get(current)
            if vm is None:
                return Response(status=404)
            if vm.deleted(now_ns()) or vm.destroyed:
                return Response(data=meta.version_api(current, vm), status=404)
            existing = self.ctx.version_data(storage, key, current)
            return self.add_version(storage, meta, config, merge_patch(existing, patch))

    def data_delete(self, req: Request, data: FieldData) -> Response | None:
        """Soft-delete the latest version (undone by undelete/)."""
        with self.ctx.locked_meta(req, data.get("path")) as (storage, meta):
            if meta is None:
                return None
            latest = meta.versions.get(meta.current_version)
            now = now_ns()
            if latest is None or latest.destroyed or latest.deleted(now):
                return None
            latest.deletion_time = now
            storage.transaction([self.store.meta_op(meta)])
        return None

    def subkeys_read(self, req: Request, data: FieldData) -> Response | None:
        found = self.read_version(req, data)
        if found is None:
            return None
        version, live, value = found
        if not live:
            return Response(data={"metadata": version, "subkeys": None}, status=404)
        if isinstance(value, dict):
            _remove_values(value, data.get("depth"))
        return Response(data={"metadata": version, "subkeys": value})

    def versions_of(self, data: FieldData, message: str) -> list[int]:
        versions = data.get("versions")
        if not versions:
            raise ErrorResponse(message)
        return list(versions)

    def delete_versions(self, req: Request, data: FieldData) -> Response | None:
        key = data.get("path")
        versions = self.versions_of(data, "No version number provided")
        with self.ctx.locked_meta(req, key) as (storage, meta):
            if meta is None:
                return None
            now = now_ns()
            for number in versions:
                vm = meta.versions.get(number)
                if vm is None or vm.destroyed or vm.deleted(now):
                    continue
                vm.deletion_time = now
            storage.transaction([self.store.meta_op(meta)])
        return None

    def undelete_versions(self, req: Request, data: FieldData) -> Response | None:
        key = data.get("path")
        versions = self.versions_of(data, "No version number provided")
        config = self.store.config(self.ctx.storage(req))
        with self.ctx.locked_meta(req, key) as (storage, meta):
            if meta is None:
                return None
            for number in versions:
                vm = meta.versions.get(number)
                if vm is None or vm.destroyed:
                    continue
                # A mount or key delete_version_after schedules the next deletion from now.
                vm.deletion_time = deletion_time(now_ns(), config, meta)
            storage.transaction([self.store.meta_op(meta)])
        return None

    def destroy_versions(self, req: Request, data: FieldData) -> Response | None:
        key = data.get("path")
        versions = self.versions_of(data, "no version number provided")
        with self.ctx.locked_meta(req, key) as (storage, meta):
            if meta is None:
                return None
            for number in versions:
                vm = meta.versions.get(number)
                if vm is not None:
                    vm.destroyed = True
            ops = [self.store.meta_op(meta)] + [
                self.store.delete_version_op(key, n) for n in sorted(set(versions))
            ]
            storage.transaction(ops)
        return None


def data_paths(ctx: V2Context) -> list[Path]:
    h = DataHandlers(ctx)
    versions_field = Field(FieldType.COMMA_INT_SLICE, "The versions to act on.")
    return [
        Path(
            "data/" + match_all("path"),
            fields={
                "path": PATH_FIELD,
                "version": Field(
                    FieldType.INT, "If provided during a read, the value at the version number."
                ),
                "options": Field(FieldType.MAP, "Options for writing a KV entry (cas)."),
                "data": Field(
                    FieldType.MAP, "The contents of the data map will be stored and returned on read."
                ),
            },
            operations={
                Operation.READ: h.data_read,
                Operation.CREATE: h.data_write,
                Operation.UPDATE: h.data_write,
                Operation.PATCH: h.data_patch,
                Operation.DELETE: h.data_delete,
            },
            existence_check=ctx.exists,
            synopsis="Write, Patch, Read, and Delete data in the Key-Value Store.",
        ),
        Path(
            "subkeys/" + match_all("path"),
            fields={
                "path": PATH_FIELD,
                "depth": Field(FieldType.INT, "The maximum depth to traverse (0 = no limit)."),
                "version": Field(FieldType.INT, "Which version to read (default: the current one)."),
            },
            operations={Operation.READ: h.subkeys_read},
            synopsis="Read the structure of a secret entry from the Key-Value store with the values removed.",
        ),
        Path(
            "delete/" + match_all("path"),
            fields={"path": PATH_FIELD, "versions": versions_field},
            operations={Operation.UPDATE: h.delete_versions},
            synopsis="Marks one or more versions as deleted in the KV store.",
        ),
        Path(
            "undelete/" + match_all("path"),
            fields={"path": PATH_FIELD, "versions": versions_field},
            operations={Operation.UPDATE: h.undelete_versions},
            synopsis="Undeletes one or more versions from the KV store.",
        ),
        Path(
            "destroy/" + match_all("path"),
            fields={"path": PATH_FIELD, "versions": versions_field},
            operations={Operation.UPDATE: h.destroy_versions},
            synopsis="Permanently removes one or more versions in the KV store",
        ),
    ]

"""KV v2 key settings: ``config``, ``metadata/`` and ``detailed-metadata/``."""

from __future__ import annotations

import posixpath
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
    multierror,
)
from ...gocompat.quote import go_quote
from ...gocompat.types import go_type
from .common import merge_patch, now_ns, page, scan, weak_string
from .store import DVA_DISABLED, KeyMeta, uint32
from .v2_data import PATH_FIELD, V2Context

MAX_CUSTOM_KEYS = 64
MAX_CUSTOM_KEY_LENGTH = 128
MAX_CUSTOM_VALUE_LENGTH = 512
CM_PREFIX = "custom_metadata validation failed"
PATCHABLE = (
    "max_versions",
    "cas_required",
    "metadata_cas_required",
    "delete_version_after",
    "custom_metadata",
)


def parse_custom_metadata(raw: dict[str, Any] | None, *, skip_nulls: bool) -> dict[str, str]:
    """Stringify values as mapstructure does; a PATCH keeps nulls out (they mean "remove")."""
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if skip_nulls and value is None:
            continue
        try:
            out[key] = weak_string(value)
        except ValueError as exc:
            raise ErrorResponse(f"{CM_PREFIX}: {exc}") from None
    return out


def validate_custom_metadata(values: dict[str, str]) -> None:
    """Vault's limits on custom_metadata, every problem reported at once (multierror text)."""
    if len(values) > MAX_CUSTOM_KEYS:
        raise ErrorResponse(
            multierror(
                f"{CM_PREFIX}: payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {len(values)}"
            )
        )
    errors: list[str] = []
    for key, value in sorted(values.items()):
        key_len, value_len = len(key.encode()), len(value.encode())
        if key_len == 0 or key_len > MAX_CUSTOM_KEY_LENGTH:
            errors.append(
                f"{CM_PREFIX}: length of key {go_quote(key)} is {key_len} but must be "
                f"0 < len(key) <= {MAX_CUSTOM_KEY_LENGTH}"
            )
        if value_len == 0 or value_len > MAX_CUSTOM_VALUE_LENGTH:
            errors.append(
                f"{CM_PREFIX}: length of value for key {go_quote(key)} is {value_len} but must be "
                f"0 < len(value) <= {MAX_CUSTOM_VALUE_LENGTH}"
            )
        if not _printable(key):
            errors.append(f"{CM_PREFIX}: key {go_quote(key)} ({key}) contains unprintable characters")
        if not _printable(value):
            errors.append(f"{CM_PREFIX}: value for key {go_quote(key)} contains unprintable characters")
    if errors:
        raise ErrorResponse(multierror(*errors))


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch == " " for ch in text)


def _join(prefix: str, sub: str) -> str:
    """Go's filepath.Join (cleans the trailing slash of a folder name)."""
    joined = "/".join(p for p in (prefix, sub) if p)
    return posixpath.normpath(joined) if joined else ""


class MetadataHandlers:
    """The metadata/ handlers of one KV v2 mount."""

    def __init__(self, ctx: V2Context) -> None:
        self.ctx = ctx
        self.store, self.locks = ctx.store, ctx.locks

    def cas_warnings(self, data: FieldData, config: Any) -> list[str]:
        warnings = []
        cas, given = data.get_ok("cas_required")
        if given and config.cas_required and not cas:
            warnings.append(
                '"cas_required" set to false, but is mandated by backend config. This value will be ignored.'
            )
        mcas, given = data.get_ok("metadata_cas_required")
        if given and config.metadata_cas_required and not mcas:
            warnings.append(
                '"metadata_cas_required" set to false, but is mandated by backend config. '
                "This value will be ignored."
            )
        return warnings

    def check_metadata_cas(self, data: FieldData, config: Any, meta: KeyMeta | None) -> None:
        required = (meta is not None and meta.metadata_cas_required) or config.metadata_cas_required
        value, given = data.get_ok("metadata_cas")
        if required and not given:
            raise ErrorResponse("metadata check-and-set parameter required for this call")
        if not given:
            return
        if meta is None:
            if value != 0:
                raise ErrorResponse("metadata_cas must be 0 when creating new metadata")
        elif value != meta.current_metadata_version:
            raise ErrorResponse("metadata check-and-set parameter does not match the current version")

    def metadata_write(self, req: Request, data: FieldData) -> Response | None:
        storage = self.ctx.storage(req)
        key = data.get("path")
        if key == "":
            raise ErrorResponse("missing path")
        if not any(data.has(f) for f in PATCHABLE):
            return None
        config = self.store.config(storage)
        custom: dict[str, str] | None = None
        if data.has("custom_metadata"):
            custom = parse_custom_metadata(data.get("custom_metadata"), skip_nulls=False)
            validate_custom_metadata(custom)
        warnings = self.cas_warnings(data, config)
        with self.locks.for_key(key):
            meta = self.store.meta(storage, key)
            self.check_metadata_cas(data, config, meta)
            now = now_ns()
            if meta is None:
                meta = KeyMeta(key=key, created_time=now, updated_time=now, current_metadata_version=1)
            else:
                meta.current_metadata_version += 1
                meta.updated_time = now
            if data.has("max_versions"):
                meta.max_versions = uint32(data.get("max_versions"))
            if data.has("cas_required"):
                meta.cas_required = data.get("cas_required")
            if data.has("metadata_cas_required"):
                meta.metadata_cas_required = data.get("metadata_cas_required")
            if data.has("delete_version_after"):
                meta.delete_version_after = data.get("delete_version_after")
            if custom is not None:
                meta.custom_metadata = custom or None
            storage.transaction([self.store.meta_op(meta)])
        return Response(warnings=warnings) if warnings else None

    def metadata_patch(self, req: Request, data: FieldData) -> Response | None:
        storage = self.ctx.storage(req)
        if not any(data.has(f) for f in PATCHABLE):
            return None
        key = data.get("path")
        if key == "":
            raise ErrorResponse("missing path")
        if data.has("custom_metadata"):
            validate_custom_metadata(parse_custom_metadata(data.get("custom_metadata"), skip_nulls=True))
        config = self.store.config(storage)
        with self.locks.for_key(key):
            meta = self.store.meta(storage, key)
            if meta is None:
                return Response(status=404)
            self.check_metadata_cas(data, config, meta)
            warnings = self.cas_warnings(data, config)
            for name in ("max_versions", "cas_required", "metadata_cas_required", "delete_version_after"):
                if data.has(name):
                    value = data.get(name)
                    setattr(meta, name, uint32(value) if name == "max_versions" else value)
            if data.has("custom_metadata"):
                merged = merge_patch(meta.custom_metadata or {}, data.get("custom_metadata"))
                for name, value in (merged or {}).items():
                    if not isinstance(value, str):
                        # Vault merges the raw JSON and then fails to decode a non-string value.
                        kind = "number" if go_type(value) == "json.Number" else go_type(value)
                        raise InternalError(
                            f"json: cannot unmarshal {kind} into Go struct field .custom_metadata.{name} of type string"
                        )
                meta.custom_metadata = merged or None
            meta.current_metadata_version += 1
            meta.updated_time = now_ns()
            storage.transaction([self.store.meta_op(meta)])
        return Response(warnings=warnings) if warnings else None

    def metadata_read(self, req: Request, data: FieldData) -> Response | None:
        meta = self.store.meta(self.ctx.storage(req), data.get("path"))
        return None if meta is None else Response(data=meta.to_api())

    def metadata_delete(self, req: Request, data: FieldData) -> Response | None:
        """Remove the key and every version it still has."""
        key = data.get("path")
        with self.ctx.locked_meta(req, key) as (storage, meta):
            if meta is None:
                return None
            ops = [self.store.delete_version_op(key, n) for n in sorted(meta.versions)]
            ops.append(self.store.delete_meta_op(key))
            storage.transaction(ops)
        return None

    def listing(self, req: Request, data: FieldData, keys: list[str]) -> Response:
        if not req.path.startswith("detailed-metadata/"):
            return Response(data={"keys": keys})
        storage = self.ctx.storage(req)
        prefix = data.get("path")
        info: dict[str, Any] = {}
        for sub in keys:
            meta = self.store.meta(storage, _join(prefix, sub))
            info[sub] = {} if meta is None else meta.to_api()
        return Response(data={"keys": keys, "key_info": info})

    def metadata_list(self, req: Request, data: FieldData) -> Response | None:
        keys = self.store.list_keys(self.ctx.storage(req), data.get("path"))
        return self.listing(req, data, page(keys, data.get("after"), data.get("limit")))

    def metadata_scan(self, req: Request, data: FieldData) -> Response | None:
        return self.listing(req, data, scan(self.ctx.storage(req), self.store.meta_key(data.get("path"))))

    def config_read(self, req: Request, data: FieldData) -> Response | None:
        return Response(data=self.store.config(self.ctx.storage(req)).to_api())

    def config_write(self, req: Request, data: FieldData) -> Response | None:
        names = ("max_versions", "cas_required", "metadata_cas_required", "delete_version_after")
        if not any(data.has(n) for n in names):
            return None
        storage = self.ctx.storage(req)
        with self.locks.for_key("\x00config"):
            config = self.store.config(storage)
            if data.has("max_versions"):
                config.max_versions = uint32(data.get("max_versions"))
            if data.has("cas_required"):
                config.cas_required = data.get("cas_required")
            if data.has("metadata_cas_required"):
                config.metadata_cas_required = data.get("metadata_cas_required")
            if data.has("delete_version_after"):
                dva = data.get("delete_version_after")
                config.delete_version_after = DVA_DISABLED if dva < 0 else dva
            self.store.put_config(storage, config)
        return None


def metadata_paths(ctx: V2Context) -> list[Path]:
    h = MetadataHandlers(ctx)
    list_fields = {
        "after": Field(FieldType.STRING, "Optional entry to begin listing after (listing only)."),
        "limit": Field(FieldType.INT, "Optional number of entries to return (listing only)."),
    }
    return [
        Path(
            "config",
            fields={
                "max_versions": Field(
                    FieldType.INT, "The number of versions to keep for each key. Defaults to 10"
                ),
                "cas_required": Field(FieldType.BOOL, "If true, every write must carry the cas parameter"),
                "metadata_cas_required": Field(FieldType.BOOL, "If true, metadata updates need metadata_cas"),
                "delete_version_after": Field(
                    FieldType.SIGNED_DURATION, "Time before a version is deleted; negative disables."
                ),
            },
            operations={Operation.READ: h.config_read, Operation.UPDATE: h.config_write},
            synopsis="Configures settings for the KV store",
        ),
        Path(
            "metadata/" + match_all("path"),
            fields={
                "path": PATH_FIELD,
                "cas_required": Field(
                    FieldType.BOOL, "If true the key requires the cas parameter on writes."
                ),
                "metadata_cas_required": Field(FieldType.BOOL, "If true metadata updates need metadata_cas."),
                "max_versions": Field(FieldType.INT, "The number of versions to keep."),
                "delete_version_after": Field(
                    FieldType.DURATION, "The length of time before a version is deleted."
                ),
                "custom_metadata": Field(
                    FieldType.MAP, "User-provided key-value pairs describing the secret."
                ),
                "metadata_cas": Field(FieldType.INT, "Check-and-set parameter for metadata updates."),
                **list_fields,
            },
            operations={
                Operation.READ: h.metadata_read,
                Operation.CREATE: h.metadata_write,
                Operation.UPDATE: h.metadata_write,
                Operation.PATCH: h.metadata_patch,
                Operation.DELETE: h.metadata_delete,
                Operation.LIST: h.metadata_list,
                Operation.SCAN: h.metadata_scan,
            },
            existence_check=ctx.exists,
            synopsis="Allows interaction with key metadata and settings in the KV store.",
        ),
        Path(
            "detailed-metadata/" + match_all("path"),
            fields={"path": PATH_FIELD, **list_fields},
            operations={Operation.LIST: h.metadata_list, Operation.SCAN: h.metadata_scan},
            existence_check=ctx.exists,
            synopsis="Allows listing detailed information about key metadata in the KV store.",
        ),
    ]

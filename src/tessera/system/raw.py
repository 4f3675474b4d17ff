"""sys/raw: read, write, list and delete storage below the mounts, decrypted (Vault's RawBackend).

It is the repair tool of last resort (fix a corrupt mount table, drop a broken lease), so it is off
unless the config says ``raw_storage_endpoint = true`` (dev mode turns it on, as OpenBao's does) and
needs sudo. In recovery mode it is the only API, behind the recovery token. The barrier's own keys
and the cluster identity stay out of reach; the seal configuration is read from physical storage.
"""

from __future__ import annotations

import base64
import gzip
from typing import TYPE_CHECKING, Any

from ..barrier.aes_gcm import KEYRING_PATH, ROOT_KEY_PATH, BarrierError
from ..core.rekey import BARRIER_BACKUP_PATH, RECOVERY_BACKUP_PATH
from ..core.seal import SEAL_CONFIG_PATH
from ..framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    Operation,
    Path,
    Request,
    Response,
)
from ..gocompat.base64 import Base64Error, go_b64decode

if TYPE_CHECKING:
    from ..core.core import Core
    from ..storage.base import Physical, Storage

# Reading or rewriting these would break the barrier or change the cluster's identity.
PROTECTED_PREFIXES = (KEYRING_PATH, ROOT_KEY_PATH, "core/cluster")
# Stored outside the barrier, so raw access goes to physical storage directly.
PHYSICAL_PATHS = (SEAL_CONFIG_PATH, BARRIER_BACKUP_PATH, RECOVERY_BACKUP_PATH)

# compressutil canaries: the first byte tells a compressed value from JSON.
CANARY_GZIP = ord("G")
CANARY_SNAPPY = ord("S")
CANARY_LZ4 = ord("4")
CANARY_LZW = ord("L")

RAW_FIELDS = {
    "path": Field(FieldType.STRING),
    "value": Field(FieldType.STRING),
    "compressed": Field(FieldType.BOOL),
    "encoding": Field(FieldType.STRING),
    "compression_type": Field(FieldType.STRING),
    "after": Field(
        FieldType.STRING,
        "Optional entry to list begin listing after, not required to exist. Only used in list operations.",
    ),
    "limit": Field(
        FieldType.INT,
        "Optional number of entries to return; defaults to all entries. Only used in list operations.",
    ),
}


def raw_enabled(core: Core) -> bool:
    extra = core.config.extra
    return bool(core.config.dev or extra.get("raw_storage_endpoint") or extra.get("recovery_mode"))


class _PhysicalAccess:
    """Storage-like access to the few values kept outside the barrier."""

    def __init__(self, physical: Physical) -> None:
        self.physical = physical

    def get(self, key: str) -> bytes | None:
        return self.physical.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.physical.put(key, value)

    def delete(self, key: str) -> None:
        self.physical.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.physical.list(prefix)


def _storage(core: Core, path: str) -> Storage | _PhysicalAccess:
    for prefix in PROTECTED_PREFIXES:
        if path.startswith(prefix):
            raise ErrorResponse(f'cannot access "{path}"')
    if path in PHYSICAL_PATHS:
        return _PhysicalAccess(core.physical)
    return core.barrier


def _get(storage: Storage | _PhysicalAccess, path: str) -> bytes | None:
    try:
        return storage.get(path)
    except BarrierError as exc:
        raise ErrorResponse(str(exc)) from None


def decompress(value: bytes) -> tuple[bytes | None, str]:
    """compressutil.DecompressWithCanary: (plain bytes or None if not compressed, type)."""
    if not value:
        raise ErrorResponse("'data' being decompressed is empty")
    canary = value[0]
    if canary == CANARY_GZIP:
        if len(value) < 2:
            raise ErrorResponse("invalid 'data' after the canary")
        try:
            return gzip.decompress(value[1:]), "gzip"
        except (OSError, EOFError) as exc:
            raise ErrorResponse(f"failed to create a compression reader: {exc}") from None
    if canary == CANARY_SNAPPY:
        raise ErrorResponse("snappy compression is not supported by Tessera")
    if canary == CANARY_LZ4:
        raise ErrorResponse("support for lz4 compression has been removed")
    if canary == CANARY_LZW:
        raise ErrorResponse("support for lzw compression has been removed")
    return None, ""


def _compression_type(value: bytes) -> str:
    """The scheme of an existing value; undecodable data counts as uncompressed (as Vault does)."""
    try:
        return decompress(value)[1]
    except ErrorResponse:
        return ""


def _compress(value: bytes, ctype: str) -> bytes:
    if ctype == "gzip":
        return bytes([CANARY_GZIP]) + gzip.compress(value, compresslevel=9, mtime=0)
    if ctype == "snappy":
        raise ErrorResponse("snappy compression is not supported by Tessera")
    raise ErrorResponse(f'invalid compression type "{ctype}"')


def _encoding(data: FieldData) -> str:
    encoding = data.get("encoding")
    if encoding not in ("", "base64"):
        raise ErrorResponse(f'invalid encoding "{encoding}"')
    return str(encoding)


def raw_handlers(core: Core) -> dict[Operation, Any]:
    """The operations of sys/raw (shared by the system backend and the recovery-mode server)."""

    def read(req: Request, data: FieldData) -> Response | None:
        path = data.get("path")
        compressed, given = data.get_ok("compressed")
        encoding = _encoding(data)
        value = _get(_storage(core, path), path)
        if value is None:
            return None
        if compressed or not given:
            plain, _ = decompress(value)
            if plain is not None:
                value = plain
        shown: Any = value.decode("utf-8", "replace")
        if encoding == "base64":
            shown = base64.b64encode(value).decode()
        return Response(data={"value": shown})

    def write(req: Request, data: FieldData) -> Response | None:
        path = data.get("path")
        ctype, ctype_given = data.get_ok("compression_type")
        encoding = _encoding(data)
        value = str(data.get("value")).encode()
        if encoding == "base64":
            try:
                value = go_b64decode(str(data.get("value")))
            except Base64Error as exc:
                raise ErrorResponse(str(exc)) from None
        storage = _storage(core, path)
        if req.operation == Operation.UPDATE:
            existing = _get(storage, path)
            if existing is None:
                raise ErrorResponse("cannot figure out compression type because entry does not exist")
            existing_type = _compression_type(existing)
            if existing_type != ctype and ctype:
                raise ErrorResponse("the entry uses a different compression scheme then compression_type")
            if not ctype_given:
                ctype = existing_type
        if ctype:
            value = _compress(value, ctype)
        try:
            storage.put(path, value)
        except BarrierError as exc:
            raise ErrorResponse(str(exc)) from None
        return None

    def delete(req: Request, data: FieldData) -> Response | None:
        path = data.get("path")
        _storage(core, path).delete(path)
        return None

    def list_keys(req: Request, data: FieldData) -> Response | None:
        path = data.get("path")
        if path and not path.endswith("/"):
            path += "/"
        after, limit = data.get("after"), data.get("limit")
        keys = sorted(_storage(core, path).list(path))
        if after:
            keys = [k for k in keys if k > after]
        if limit > 0:
            keys = keys[:limit]
        return Response(data={"keys": keys})

    return {
        Operation.READ: read,
        Operation.UPDATE: write,
        Operation.CREATE: write,
        Operation.DELETE: delete,
        Operation.LIST: list_keys,
    }


def raw_path(core: Core, *, existence: bool = True) -> Path:
    """``raw``, ``raw/`` and ``raw/<path>`` (the existence check turns writes of new keys into creates)."""

    def exists(req: Request, data: FieldData) -> bool:
        path = data.get("path")
        try:
            return _get(_storage(core, path), path) is not None
        except ErrorResponse:
            # A failing existence check is the core's opaque 500 in Vault, whatever the cause.
            raise InternalError("internal error") from None

    return Path(
        r"raw(?:/?|/(?P<path>.+))",
        sudo=True,
        special=("raw", "raw/*"),
        fields=RAW_FIELDS,
        operations=raw_handlers(core),
        existence_check=exists if existence else None,
        synopsis="Write, Read, and Delete data directly in the Storage backend.",
        description=(
            "This path allows you to write, read, and delete values directly in the storage backend. "
            "This bypasses mounts and policies and should only be used in emergencies."
        ),
    )


def raw_paths(core: Core) -> list[Path]:
    """sys/raw, where the configuration turns it on."""
    return [raw_path(core)] if raw_enabled(core) else []

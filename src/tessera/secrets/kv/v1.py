"""KV version 1: the pass-through store. One JSON document per path, no versions.

A ``ttl`` (or ``lease``) key in the stored map is only a hint: reads report it as
``lease_duration`` without creating a lease, as Vault's non-leased pass-through does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from ...framework import (
    Backend,
    ErrorResponse,
    FieldData,
    Operation,
    Request,
    Response,
)
from ...gocompat.durations import DurationError, parse_duration_second
from .common import list_prefix, passthrough_backend, scan, validate_fields

if TYPE_CHECKING:
    from ...core.core import Core
    from ...routing.mounts import MountEntry
    from ...storage.base import Storage

HELP = (
    "The kv backend reads and writes arbitrary secrets to the backend.\n"
    "The secrets are encrypted/decrypted by Vault: they are never stored\n"
    "unencrypted in the backend and the backend never has an opportunity to\n"
    "see the unencrypted value.\n\n"
    "TTLs can be set on a per-secret basis. These TTLs will be sent down\n"
    "when that secret is read, and it is assumed that some outside process will\n"
    "revoke and/or replace the secret at that path."
)
SYNOPSIS = (
    "Pass-through secret storage to the storage backend, allowing you to\n"
    "read/write arbitrary data into secret storage."
)


class V1Handlers:
    """The handlers of one KV v1 mount; reads look up the mount's current default TTL."""

    def __init__(self, core: Core, entry: MountEntry) -> None:
        self.core = core
        self.entry = entry

    def default_ttl(self, mount_point: str) -> int:
        # Look the entry up again: a tune may have replaced the TTLs since the backend was built.
        current = self.core.find_mount("secret", mount_point) if mount_point else None
        return self.core.mount_ttls(current or self.entry)[0]

    def exists(self, req: Request, data: FieldData) -> bool:
        validate_fields(data)
        assert req.storage is not None
        return req.storage.exists(data.get("path"))

    def read(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        return self.read_key(req.storage, data.get("path"), req.mount_point)

    def read_key(self, storage: Storage, key: str, mount_point: str) -> Response | None:
        """The read of ``key`` on the mount at ``mount_point``: the READ handler, and the
        backend's prepared read (core/prepared.py), which calls it without a Request."""
        raw = storage.get(key)
        if raw is None:
            return None
        stored = orjson.loads(raw)
        ttl = self.default_ttl(mount_point)
        if isinstance(stored, dict) and ("ttl" in stored or "lease" in stored):
            hint = stored["ttl"] if "ttl" in stored else stored["lease"]
            try:
                ttl = parse_duration_second(hint)
            except (DurationError, ValueError, TypeError):
                pass  # a bad hint is accepted at write time and ignored here, as in Vault
        return Response(data=stored, secret=None, lease_duration_override=ttl)

    def write(self, req: Request, data: FieldData) -> Response | None:
        key = data.get("path")
        if key == "":
            raise ErrorResponse("missing path")
        if not req.data:
            raise ErrorResponse("missing data fields")
        assert req.storage is not None
        req.storage.put(key, orjson.dumps(req.data))
        return None

    def delete(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        req.storage.delete(data.get("path"))
        return None

    def list_keys(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        return Response(data={"keys": req.storage.list(list_prefix(data))})

    def scan_keys(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        return Response(data={"keys": scan(req.storage, list_prefix(data))})


def build(core: Core, entry: MountEntry) -> Backend:
    h = V1Handlers(core, entry)
    operations = {
        Operation.READ: h.read,
        Operation.CREATE: h.write,
        Operation.UPDATE: h.write,
        Operation.DELETE: h.delete,
        Operation.LIST: h.list_keys,
        Operation.SCAN: h.scan_keys,
    }
    backend = passthrough_backend(
        "kv", HELP, SYNOPSIS, "Location of the secret.", operations, h.exists, reads_as_secrets=True
    )
    backend.prepared_read = h.read_key
    return backend

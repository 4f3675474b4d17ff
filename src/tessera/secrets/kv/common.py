"""Helpers shared by KV v1, KV v2 and the cubbyhole: Go-compatible text, merge patch, locks.

Clients compare timestamps and error strings byte for byte with what Vault prints, so the
conversions here follow Go's formatting (RFC 3339 with trimmed nanoseconds, ``%q`` quoting,
mapstructure's weak decoding) rather than Python's.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from ...framework import (
    Backend,
    ErrorResponse,
    Field,
    FieldData,
    FieldError,
    FieldType,
    Operation,
    Path,
    Request,
    Response,
    match_all,
)
from ...framework.fields import weak_text
from ...gocompat.times import rfc3339_nano_ns
from ...gocompat.types import go_type
from ...storage.base import Storage

Handler = Callable[[Request, FieldData], Response | None]


def now_ns() -> int:
    return time.time_ns()


def format_time(ns: int | None) -> str:
    """Go's ``time.Format(time.RFC3339Nano)`` in UTC; 0/None (unset) prints as ``""``."""
    if not ns:
        return ""
    return rfc3339_nano_ns(int(ns))


def weak_string(value: Any) -> str:
    """mapstructure.WeakDecode into a string (custom_metadata values: ``1`` → ``"1"``)."""
    text = weak_text(value)
    if text is not None:
        return text
    if isinstance(value, float):
        # Vault keeps the JSON literal (json.Number); repr is the closest text we still have.
        return repr(value)
    raise ValueError(f"'' expected type 'string', got unconvertible type '{go_type(value)}'")


def weak_int(value: Any) -> int:
    """mapstructure.WeakDecode into an int (the ``cas`` option): strings parse with base 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0
        sign = -1 if text.startswith("-") else 1
        body = text.lstrip("+-")
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            return sign * int(body[1:], 8)
        return sign * int(body, 0)
    raise ValueError("unconvertible")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: ``null`` removes a key, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def validate_fields(data: FieldData) -> None:
    """Vault's existence check validates the input first and answers a bad field with a bare 400.

    (The handler's own validation adds the ``Field validation failed:`` prefix; the existence
    check, which runs first for writes, does not.)
    """
    try:
        data.validate()
    except FieldError as exc:
        raise ErrorResponse(str(exc)) from None


def reject_trailing_slash(req: Request) -> None:
    """Vault refuses writes to ``foo/`` (a folder, not a key) before routing."""
    if (req.full_path or req.path).endswith("/"):
        raise ErrorResponse("cannot write to a path ending in '/'")


_WRITES = (Operation.CREATE, Operation.UPDATE, Operation.PATCH)


def list_prefix(data: FieldData) -> str:
    """The storage prefix a LIST of ``path`` covers: the path as a folder (trailing slash)."""
    prefix: str = data.get("path")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


def guard_writes(paths: list[Path]) -> list[Path]:
    """Put the trailing-slash refusal in front of every write handler of ``paths``."""

    def wrap(handler: Handler) -> Handler:
        def guarded(req: Request, data: FieldData) -> Response | None:
            reject_trailing_slash(req)
            return handler(req, data)

        return guarded

    for path in paths:
        for op in _WRITES:
            if op in path.operations:
                path.operations[op] = wrap(path.operations[op])
    return paths


class KeyLocks:
    """Striped locks so read-modify-write of one key's metadata never interleaves."""

    def __init__(self, stripes: int = 256) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def for_key(self, key: str) -> threading.Lock:
        return self._locks[zlib.crc32(key.encode("utf-8", "surrogatepass")) % len(self._locks)]


_MOUNT_LOCKS: dict[str, KeyLocks] = {}
_MOUNT_LOCKS_GUARD = threading.Lock()


def locks_for_mount(mount_uuid: str) -> KeyLocks:
    """One lock set per mount, kept across backend rebuilds (a tune rebuilds while requests run)."""
    with _MOUNT_LOCKS_GUARD:
        return _MOUNT_LOCKS.setdefault(mount_uuid, KeyLocks())


def scan(storage: Storage, prefix: str) -> list[str]:
    """OpenBao's ScanView: every key under ``prefix`` (relative), depth-first as the Go code walks."""
    out: list[str] = []
    frontier = [""]
    while frontier:
        current = frontier.pop()
        for child in storage.list(prefix + current):
            full = current + child
            if child.endswith("/"):
                frontier.append(full)
            else:
                out.append(full)
    return out


def page(keys: list[str], after: str, limit: int) -> list[str]:
    """ListPage semantics: entries strictly after ``after``, at most ``limit`` when positive."""
    if after:
        keys = [k for k in keys if k > after]
    if limit > 0:
        keys = keys[:limit]
    return keys


def passthrough_backend(
    backend_type: str,
    help_text: str,
    synopsis: str,
    path_description: str,
    operations: Mapping[Operation, Handler],
    exists: Callable[[Request, FieldData], bool],
    *,
    reads_as_secrets: bool = False,
    service_tokens_only: bool = False,
) -> Backend:
    """One catch-all ``path`` over the mount's storage: the shape of KV v1 and the cubbyhole."""
    path = Path(
        match_all("path"),
        fields={"path": Field(FieldType.STRING, path_description)},
        operations=dict(operations),
        existence_check=exists,
        # Writes return nothing (so no warning); reads warn about unknown query parameters.
        synopsis=synopsis,
        description=synopsis,
    )
    return Backend(
        paths=guard_writes([path]),
        help=help_text,
        backend_type=backend_type,
        kind="logical",
        invalidate=Backend.keeps_nothing,
        reads_as_secrets=reads_as_secrets,
        service_tokens_only=service_tokens_only,
    )

"""Paths filters: the mounts a performance secondary does not receive, and what it gets instead.

A filter (``sys/replication/performance/primary/paths-filter/:id``) names mounts by path, in allow
or deny mode. A filtered mount stays on the primary alone, as Vault documents: its data is left out
of that secondary's stream and snapshots, and its entry out of the mount table the secondary gets.
That table is the primary's, decrypted, without the entry, encrypted again with the shared keyring
under the same key. The result is kept behind the barrier (``core/replication/filtered/<id>/<table>``)
so that the bytes the secondary holds, and so its hash, stay the same across the primary's restarts.
System mounts (sys, identity, token, cubbyhole) and local mounts are never filtered.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..framework.errors import ErrorResponse
from ..routing.mounts import MountEntry
from ..storage.base import Physical
from .keys import SHARED_TABLES
from .merkle import group_of
from .state import STATE_PREFIX, PathsFilter

MODES = {"allow": "allow", "deny": "deny", "whitelist": "allow", "blacklist": "deny"}  # Vault's old names
UNFILTERED_TYPES = frozenset({"system", "identity", "token", "cubbyhole"})
UNFILTERED_PATHS = frozenset({"sys/", "identity/", "auth/token/", "cubbyhole/"})
MEMO_PREFIX = STATE_PREFIX + "filtered/"


def normalise(mode: str, paths: list[str]) -> PathsFilter:
    """A filter as given to the API, validated; paths end in one slash, sorted, once each."""
    if mode not in MODES:
        raise ErrorResponse(f'invalid mode "{mode}": must be "allow" or "deny"')
    cleaned = sorted({p.strip().strip("/") + "/" for p in paths if p.strip().strip("/")})
    if not cleaned:
        raise ErrorResponse("paths must be given: the mounts to allow or deny")
    for path in cleaned:
        if path in UNFILTERED_PATHS:
            raise ErrorResponse(f'path "{path}" cannot be filtered: system mounts always replicate')
    return PathsFilter(mode=MODES[mode], paths=cleaned)


def filters_mount(paths_filter: PathsFilter, route: str, entry: dict[str, Any]) -> bool:
    """Whether the mount ``entry`` (answering under ``route``) is left out by ``paths_filter``."""
    if entry.get("type") in UNFILTERED_TYPES or entry.get("local"):
        return False
    return (route in paths_filter.paths) == (paths_filter.mode == "deny")


def _fingerprint(paths_filter: PathsFilter) -> str:
    return hashlib.sha256("\n".join([paths_filter.mode, *paths_filter.paths]).encode()).hexdigest()


class Sealer(Protocol):
    """What the barrier does for the filters: encrypt a table again, keep the result."""

    def encrypt(self, path: str, plaintext: bytes) -> bytes: ...

    def decrypt(self, path: str, blob: bytes) -> bytes: ...

    def get_json(self, key: str) -> Any: ...

    def put_json(self, key: str, value: Any) -> None: ...

    def delete_prefix(self, prefix: str) -> None: ...


@dataclass(frozen=True)
class FilteredTable:
    source: bytes  # SHA-256 of the primary's table as stored
    fingerprint: str  # of the filter it was made with
    value: bytes  # what the secondary receives under the table's key
    prefixes: frozenset[str]  # storage prefixes of the mounts left out

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.hex(),
            "fingerprint": self.fingerprint,
            "value": base64.b64encode(self.value).decode(),
            "prefixes": sorted(self.prefixes),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FilteredTable:
        return cls(
            bytes.fromhex(doc["source"]),
            doc["fingerprint"],
            base64.b64decode(doc["value"]),
            frozenset(doc["prefixes"]),
        )


@dataclass(frozen=True)
class View:
    """One filtered secondary's view of the keyspace, made from the mount tables at one moment."""

    tables: dict[str, FilteredTable]
    prefixes: frozenset[str]  # of the mounts left out, in every table

    def ships(self, key: str) -> bool:
        return key in self.tables or group_of(key) not in self.prefixes

    def value(self, key: str, stored: bytes | None) -> bytes | None:
        """What this secondary receives for ``key``, stored as ``stored`` here (None: a delete)."""
        table = self.tables.get(key)
        return stored if table is None else table.value

    def sources(self) -> dict[str, bytes]:
        return {key: table.source for key, table in self.tables.items()}

    def swap(self) -> dict[str, bytes | None]:
        """The tables this secondary holds other bytes of: their SHA-256."""
        return {key: hashlib.sha256(t.value).digest() for key, t in self.tables.items() if t.prefixes}


class FilterViews:
    """The primary's views for its filtered secondaries (``filters`` gives the current filters)."""

    def __init__(self, tap: Physical, sealer: Sealer, filters: Callable[[], dict[str, PathsFilter]]) -> None:
        self.tap = tap
        self.sealer = sealer
        self.filters = filters
        self._memo: dict[tuple[str, str], FilteredTable] = {}
        self._lock = threading.Lock()

    def view(self, secondary_id: str) -> View | None:
        """The secondary's view, or None when no filter names it."""
        paths_filter = self.filters().get(secondary_id)
        if paths_filter is None:
            return None
        tables = {}
        for key in SHARED_TABLES:
            stored = self.tap.get(key)
            if stored is not None:
                tables[key] = self._table(secondary_id, paths_filter, key, stored)
        return View(tables, frozenset().union(*(t.prefixes for t in tables.values())))

    def forget(self, secondary_id: str) -> None:
        """A secondary revoked or unfiltered: its kept tables go."""
        with self._lock:
            for memo in [m for m in self._memo if m[0] == secondary_id]:
                del self._memo[memo]
            self.sealer.delete_prefix(f"{MEMO_PREFIX}{secondary_id}/")

    def _table(self, secondary_id: str, paths_filter: PathsFilter, key: str, stored: bytes) -> FilteredTable:
        source, fingerprint = hashlib.sha256(stored).digest(), _fingerprint(paths_filter)
        with self._lock:
            memo = self._memo.get((secondary_id, key))
            if memo is None or (memo.source, memo.fingerprint) != (source, fingerprint):
                memo = self._kept(secondary_id, key)
            if memo is None or (memo.source, memo.fingerprint) != (source, fingerprint):
                memo = self._filter(secondary_id, paths_filter, key, stored, source, fingerprint)
            self._memo[(secondary_id, key)] = memo
            return memo

    def _kept(self, secondary_id: str, key: str) -> FilteredTable | None:
        doc = self.sealer.get_json(f"{MEMO_PREFIX}{secondary_id}/{key}")
        return None if doc is None else FilteredTable.from_json(doc)

    def _filter(
        self, secondary_id: str, paths_filter: PathsFilter, key: str, stored: bytes, source: bytes, fp: str
    ) -> FilteredTable:
        """The table without the filtered entries, encrypted again (kept), or as stored."""
        entries: list[dict[str, Any]] = orjson.loads(self.sealer.decrypt(key, stored))
        route = SHARED_TABLES[key]
        left_out = [e for e in entries if filters_mount(paths_filter, route + str(e.get("path")), e)]
        if not left_out:
            return FilteredTable(source, fp, stored, frozenset())
        kept = [e for e in entries if e not in left_out]
        value = self.sealer.encrypt(key, orjson.dumps(kept))
        prefixes = frozenset(MountEntry.from_json(e).storage_prefix for e in left_out)
        table = FilteredTable(source, fp, value, prefixes)
        self.sealer.put_json(f"{MEMO_PREFIX}{secondary_id}/{key}", table.to_json())
        return table

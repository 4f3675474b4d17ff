"""The physical backend a server's configuration names (``storage "kind" { ... }``)."""

from __future__ import annotations

import importlib
from typing import Any

from .base import Physical
from .inmem import InmemPhysical
from .sqlite import SQLitePhysical
from .sqlite_reader import SQLiteReader

# PostgreSQL's driver (psycopg) costs ~180 ms to import: only a server configured for PostgreSQL
# loads its backend, by this name.
POSTGRESQL_MODULE = "tessera.storage.postgresql"


def open_physical(kind: str, options: dict[str, str]) -> Physical:
    """Build the physical backend named in the server config."""
    if kind == "inmem":
        return InmemPhysical()
    if kind in ("sqlite", "file"):
        path = options.get("path")
        if not path:
            raise ValueError('storage "sqlite" needs a "path"')
        limit = options.get("wal_limit_mb")
        if limit is None:
            return SQLitePhysical(path)
        try:
            megabytes = int(limit)
        except (TypeError, ValueError):
            raise ValueError('storage "sqlite": "wal_limit_mb" must be a whole number') from None
        if megabytes < 1:
            raise ValueError('storage "sqlite": "wal_limit_mb" must be at least 1')
        return SQLitePhysical(path, wal_limit=megabytes * 1024 * 1024)
    if kind in ("postgresql", "postgres"):
        postgresql: Any = importlib.import_module(POSTGRESQL_MODULE)
        physical: Physical = postgresql.PostgreSQLPhysical(options)
        return physical
    raise ValueError(f"unknown storage type {kind!r}")


def open_reader(kind: str, options: dict[str, str]) -> Physical:
    """A worker process's view of the storage its main process writes: reads only (a write
    raises ``StandbyWrite``), for SQLite's file or PostgreSQL's database."""
    if kind in ("postgresql", "postgres"):
        postgresql: Any = importlib.import_module(POSTGRESQL_MODULE)
        reader: Physical = postgresql.PostgreSQLPhysical(options, reader=True)
        return reader
    return SQLiteReader(options["path"])

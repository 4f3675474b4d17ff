"""Physical storage backends and the logical storage interfaces."""

from .base import Physical, Storage, StorageView, TxnOp


def open_physical(kind: str, options: dict[str, str]) -> Physical:
    """Build the physical backend named in the server config."""
    if kind == "inmem":
        from .inmem import InmemPhysical

        return InmemPhysical()
    if kind in ("sqlite", "file"):
        from .sqlite import SQLitePhysical

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
        from .postgresql import PostgreSQLPhysical

        return PostgreSQLPhysical(options)
    raise ValueError(f"unknown storage type {kind!r}")


__all__ = ["Physical", "Storage", "StorageView", "TxnOp", "open_physical"]

"""The one statement a PostgreSQL write is: its fencing proof, deletes and upserts together.

On an autocommit connection one statement is one round trip and its own transaction. Written
out, a fenced write took BEGIN, the proof, a DELETE, one INSERT per key and COMMIT: four round
trips and four statements or more, with the epoch's share lock held across them. As CTEs of one
statement, every key is passed in arrays (one text, however many keys, so it stays prepared) and
each data-modifying CTE is guarded by the proof: when the epoch is not this node's, the statement
commits having written nothing, and the caller raises ``Fenced`` (``Fencing.check``). Another
write that must commit with these is one more CTE, guarded the same way (``GUARD``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# Inside a data-modifying CTE's WHERE: true only when the share-locked epoch is this node's.
GUARD = "EXISTS (SELECT 1 FROM fence WHERE epoch = %(epoch)s::bigint)"


@lru_cache(maxsize=16)
def write_statement(table: str, fence_cte: str | None) -> str:
    """Deletes and upserts of ``table`` in one statement; with ``fence_cte`` (a CTE named
    ``fence``) guarded by it, and answering the epoch it locked."""
    guard = f" AND {GUARD}" if fence_cte else ""
    parts = [fence_cte] if fence_cte else []
    parts += [
        f"deleted AS (DELETE FROM {table} WHERE key = ANY(%(deletes)s::text[]){guard})",
        f"upserted AS (INSERT INTO {table} (key, value) "
        "SELECT k, v FROM unnest(%(keys)s::text[], %(values)s::bytea[]) AS u(k, v) "
        f"WHERE true{guard} ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value)",
    ]
    answer = "SELECT (SELECT epoch FROM fence)" if fence_cte else "SELECT NULL::bigint"
    return "WITH " + ", ".join(parts) + " " + answer


@dataclass(frozen=True)
class WriteParams:
    """The arrays a write statement takes: only each key's last write, deletes apart."""

    deletes: list[str]
    keys: list[str]
    values: list[bytes]

    @classmethod
    def of(cls, ops: list[tuple[str, bytes | None]]) -> WriteParams:
        final = dict(ops)  # ON CONFLICT refuses to touch a row twice in one statement
        upserts = [(key, value) for key, value in final.items() if value is not None]
        return cls(
            deletes=[key for key, value in final.items() if value is None],
            keys=[key for key, _ in upserts],
            values=[value for _, value in upserts],
        )

    def bind(self, epoch: int | None) -> dict[str, object]:
        return {"deletes": self.deletes, "keys": self.keys, "values": self.values, "epoch": epoch}

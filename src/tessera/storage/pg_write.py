"""The one statement a PostgreSQL write is: its fencing proof, deletes and upserts together.

On an autocommit connection one statement is one round trip and its own transaction. Written
out, a fenced write took BEGIN, the proof, a DELETE, one INSERT per key and COMMIT: four round
trips and four statements or more, with the epoch's share lock held across them. As CTEs of one
statement, every key is passed in arrays (one text, however many keys, so it stays prepared) and
each data-modifying CTE is joined to the proof: when the epoch is not this node's, the statement
commits having written nothing, and the caller raises ``Fenced`` (``Fencing.check``). Another
write that must commit with these is one more CTE of the ``Proof``, joined the same way
(``FENCED_BY``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .pg_fencing import FENCED_BY, Proof


@lru_cache(maxsize=32)
def write_statement(table: str, proof: Proof | None, deletes: bool, upserts: bool) -> str:
    """Deletes and/or upserts of ``table`` in one statement; with a ``proof``, each joined to its
    ``fence`` (unless the proof is the change feed's alone) and the statement answering its row. A part with nothing to do is left
    out: even on an empty array it costs the server a third more than the rest of the write."""
    fenced = proof is not None and proof.fenced
    using, guard = (" USING fence", f"{FENCED_BY} AND ") if fenced else ("", "")
    parts = []
    if deletes:
        parts.append(f"DELETE FROM {table}{using} WHERE {guard}key = ANY(%(deletes)s::text[])")
    if upserts:
        source = "fence, " if fenced else ""
        where = f" WHERE {FENCED_BY}" if fenced else ""
        parts.append(
            f"INSERT INTO {table} (key, value) SELECT k, v FROM {source}"
            f"unnest(%(keys)s::text[], %(values)s::bytea[]) AS u(k, v){where} "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        )
    if not proof and len(parts) == 1:
        return parts[0]
    ctes = list(proof.ctes) if proof else []
    ctes += [f"w{n} AS ({part})" for n, part in enumerate(parts)]
    return "WITH " + ", ".join(ctes) + " " + (proof.answer if proof else "SELECT 1")


@dataclass(frozen=True)
class WriteParams:
    """The arrays a write statement takes: only each key's last write, deletes apart, and every
    key the write touches in the order first written (``touched``, for a proof's own record)."""

    deletes: list[str]
    keys: list[str]
    values: list[bytes]
    touched: list[str]

    @classmethod
    def of(cls, ops: list[tuple[str, bytes | None]]) -> WriteParams:
        final = dict(ops)  # ON CONFLICT refuses to touch a row twice in one statement
        upserts = [(key, value) for key, value in final.items() if value is not None]
        return cls(
            deletes=[key for key, value in final.items() if value is None],
            keys=[key for key, _ in upserts],
            values=[value for _, value in upserts],
            touched=list(final),
        )

    def statement(self, table: str, proof: Proof | None) -> str:
        return write_statement(table, proof, bool(self.deletes), bool(self.keys))

    def bind(self, epoch: int | None) -> dict[str, object]:
        return {
            "deletes": self.deletes,
            "keys": self.keys,
            "values": self.values,
            "touched": self.touched,
            "epoch": epoch,
        }

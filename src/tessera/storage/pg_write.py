"""The one statement a PostgreSQL write is: its fencing proof, deletes and upserts together.

On an autocommit connection one statement is one round trip and its own transaction. Written
out, a fenced write took BEGIN, the proof, a DELETE, one INSERT per key and COMMIT: four round
trips and four statements or more, with the epoch's share lock held across them. As CTEs of one
statement, every key is passed in arrays (one text, however many keys, so it stays prepared) and
each data-modifying CTE is joined to the proof: when the epoch is not this node's, the statement
commits having written nothing, and the caller raises ``Fenced`` (``Fencing.check``). Another
write that must commit with these is one more CTE of the ``Proof``, joined the same way
(``FENCED_BY``).

The arrays go as binary parameters built here (:func:`binary_array`): psycopg's own list dumper
walks every element in Python, and with group commit's statements of a dozen writes it was an
eighth of the active node's CPU under a login load.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from psycopg.adapt import AdaptersMap, Dumper
from psycopg.pq import Format

from .pg_fencing import FENCED_BY, Proof

# PostgreSQL's type OIDs of the elements and of the arrays the write statement takes.
TEXT_OID, BYTEA_OID = 25, 17
TEXT_ARRAY_OID, BYTEA_ARRAY_OID = 1009, 1001
_HEADER = struct.Struct("!iiiii")  # dimensions, has nulls, element type, length, lower bound
_EMPTY = struct.Struct("!iii")  # dimensions (0), has nulls, element type
_LENGTH = struct.Struct("!i")


def binary_array(element_oid: int, items: Sequence[bytes]) -> bytes:
    """A one-dimensional array without NULLs in PostgreSQL's binary format (``array_recv``)."""
    if not items:
        return _EMPTY.pack(0, 0, element_oid)
    parts = [_HEADER.pack(1, 0, element_oid, len(items), 1)]
    length = _LENGTH.pack
    for item in items:
        parts.append(length(len(item)))
        parts.append(item)
    return b"".join(parts)


class TextArray(bytes):
    """A ``text[]`` parameter already in binary form: psycopg passes it as it is."""

    @classmethod
    def of(cls, keys: Sequence[str]) -> TextArray:
        return cls(binary_array(TEXT_OID, [key.encode() for key in keys]))


class ByteaArray(bytes):
    """A ``bytea[]`` parameter already in binary form."""

    @classmethod
    def of(cls, values: Sequence[bytes]) -> ByteaArray:
        return cls(binary_array(BYTEA_OID, values))


class _Prebuilt(Dumper):
    format = Format.BINARY

    def dump(self, obj: object) -> bytes:
        assert isinstance(obj, bytes)
        return obj


class _TextArrayDumper(_Prebuilt):
    oid = TEXT_ARRAY_OID


class _ByteaArrayDumper(_Prebuilt):
    oid = BYTEA_ARRAY_OID


def register_dumpers(adapters: AdaptersMap) -> None:
    """Let a connection pass :class:`TextArray` and :class:`ByteaArray` parameters."""
    adapters.register_dumper(TextArray, _TextArrayDumper)
    adapters.register_dumper(ByteaArray, _ByteaArrayDumper)


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
        """The statement's parameters, arrays in binary form (the connection needs
        :func:`register_dumpers`); the parts the statement leaves out are not built."""
        params: dict[str, object] = {"epoch": epoch}
        keys = TextArray.of(self.keys)
        if self.deletes:
            params["deletes"] = TextArray.of(self.deletes)
            params["touched"] = TextArray.of(self.touched)
        else:
            params["touched"] = keys  # the same keys in the same order
        if self.keys:
            params["keys"] = keys
            params["values"] = ByteaArray.of(self.values)
        return params

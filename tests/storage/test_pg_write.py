"""A write on PostgreSQL is one statement (``storage/pg_write.py``), fencing proof included, and
fencing keeps its guarantee: no write of a node that lost its epoch commits, in whole or part."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tessera.storage.base import TxnOp
from tessera.storage.pg_fencing import FENCED_BY, Fenced, Fencing, Proof
from tessera.storage.pg_write import ByteaArray, TextArray, WriteParams, write_statement
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.pg_physical import ha_physical_on
from tests.helpers.postgres import Postgres

DB = "pgwrite_" + uuid.uuid4().hex[:8]  # the test server may be shared, and runs may overlap


@pytest.fixture
def ha_physical(postgres: Postgres) -> Iterator[PostgreSQLPhysical]:
    with ha_physical_on(postgres, DB) as physical:
        yield physical


def _lead(physical: PostgreSQLPhysical) -> Fencing:
    """This node takes over (cluster/ha/election.py's epoch bump) and fences its writes."""
    fencing = Fencing(physical.settings.ha_table)
    physical.fencing = fencing
    fencing.epoch = _bump(_conn(physical), fencing.ha_table)
    return fencing


def _bump(conn: psycopg.Connection[Any], ha_table: str) -> int:
    row = conn.execute(f"UPDATE {ha_table} SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch").fetchone()
    assert row is not None
    return int(row[0])


def _conn(physical: PostgreSQLPhysical) -> psycopg.Connection[Any]:
    return physical.connections.current()[0]


class _Counting:
    """The node's connection (and the cursors it opens), counting what it is asked to run."""

    def __init__(self, conn: Any, calls: list[str] | None = None) -> None:
        self.conn = conn
        self.calls: list[str] = [] if calls is None else calls

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        found = getattr(self.conn, name)
        return (lambda: _Counting(found(), self.calls)) if name == "cursor" else found


def test_a_fenced_delete_alone_and_an_unfenced_write_of_both_kinds(ha_physical: PostgreSQLPhysical) -> None:
    ha_physical.transaction([TxnOp("x", b"1"), TxnOp("y", b"2")])  # before the election: unfenced
    ha_physical.transaction([TxnOp("x", None), TxnOp("z", b"3")])
    assert (ha_physical.get("x"), ha_physical.get("y"), ha_physical.get("z")) == (None, b"2", b"3")
    fencing = _lead(ha_physical)
    ha_physical.delete("y")
    assert ha_physical.get("y") is None
    _bump(_conn(ha_physical), fencing.ha_table)
    with pytest.raises(Fenced):
        ha_physical.delete("z")
    assert ha_physical.get("z") == b"3"


def test_a_fenced_write_of_many_keys_is_one_statement(
    ha_physical: PostgreSQLPhysical, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lead(ha_physical)
    ha_physical.put("gone", b"0")
    counting = _Counting(_conn(ha_physical))
    monkeypatch.setattr(ha_physical.connections, "current", lambda: (counting, True))
    ha_physical.transaction([TxnOp(f"k{i}", b"v%d" % i) for i in range(50)] + [TxnOp("gone", None)])
    assert counting.calls == ["cursor", "execute"]  # no BEGIN/COMMIT, no proof apart, no INSERT per key
    monkeypatch.undo()
    assert ha_physical.get("k49") == b"v49"
    assert ha_physical.get("gone") is None


def test_only_each_keys_last_write_counts(ha_physical: PostgreSQLPhysical) -> None:
    _lead(ha_physical)
    ha_physical.put("b", b"old")
    ha_physical.transaction([TxnOp("a", b"1"), TxnOp("b", None), TxnOp("a", b"2"), TxnOp("b", b"3")])
    assert (ha_physical.get("a"), ha_physical.get("b")) == (b"2", b"3")
    ha_physical.transaction([TxnOp("a", b"4"), TxnOp("a", None)])
    assert ha_physical.get("a") is None


def test_a_fenced_node_writes_and_deletes_nothing(ha_physical: PostgreSQLPhysical) -> None:
    fencing = _lead(ha_physical)
    ha_physical.put("kept", b"1")
    _bump(_conn(ha_physical), fencing.ha_table)  # another node took over
    with pytest.raises(Fenced):
        ha_physical.transaction([TxnOp("kept", None), TxnOp("new", b"2"), TxnOp("kept2", b"3")])
    assert (ha_physical.get("kept"), ha_physical.get("new"), ha_physical.get("kept2")) == (b"1", None, None)


def test_a_write_waiting_on_a_takeover_in_flight_commits_nothing(
    ha_physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    """The new leader's epoch bump is not committed yet when the write starts: the write waits for
    it, then sees the new epoch (PostgreSQL rechecks a locked row's newest version)."""
    _lead(ha_physical)
    outcome: list[BaseException | None] = []
    with postgres.connect(dbname=DB) as other, other.transaction():
        _bump(other, ha_physical.settings.ha_table)

        def write() -> None:
            try:
                ha_physical.put("late", b"x")
                outcome.append(None)
            except Fenced as exc:
                outcome.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.3)
        assert outcome == []  # waiting on the takeover's row lock
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], Fenced)
    assert ha_physical.get("late") is None


def test_a_takeover_waits_for_the_fenced_write_in_flight(
    ha_physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    """The write holds the epoch's share lock from before it writes until it commits: a takeover
    that starts while the write is held up (here on a row another session locked) waits for it."""
    fencing = _lead(ha_physical)
    ha_physical.put("busy", b"old")
    written: list[BaseException | None] = []
    bumped = threading.Event()

    def write() -> None:
        try:
            ha_physical.transaction([TxnOp("first", b"1"), TxnOp("busy", b"new")])
            written.append(None)
        except Fenced as exc:
            written.append(exc)

    def take_over() -> None:
        with postgres.connect(dbname=DB) as conn:
            _bump(conn, fencing.ha_table)
        bumped.set()

    writer, taker = threading.Thread(target=write), threading.Thread(target=take_over)
    with postgres.connect(dbname=DB) as holder, holder.transaction():
        holder.execute(f"SELECT 1 FROM {ha_physical.table} WHERE key = 'busy' FOR UPDATE")
        writer.start()
        time.sleep(0.3)  # the write locked the epoch, then queued behind the row lock
        taker.start()
        time.sleep(0.3)
        assert not bumped.is_set() and written == []
    writer.join(10)
    taker.join(10)
    assert written == [None] and bumped.is_set()
    assert (ha_physical.get("first"), ha_physical.get("busy")) == (b"1", b"new")
    with pytest.raises(Fenced):
        ha_physical.put("after", b"x")


def test_the_statement_text_does_not_depend_on_the_number_of_keys() -> None:
    """One text per kind of write, so PostgreSQL keeps a prepared plan for each per connection;
    a part with nothing to do is left out."""
    fence = Fencing("t_ha").proof()
    write = WriteParams.of([("a", b"1"), ("b", None), ("c", b"3")])
    assert write.bind(7) == {
        "deletes": TextArray.of(["b"]),
        "keys": TextArray.of(["a", "c"]),
        "values": ByteaArray.of([b"1", b"3"]),
        "touched": TextArray.of(["a", "b", "c"]),
        "epoch": 7,
    }
    assert WriteParams.of([("a", None)]).bind(None).keys() == {"deletes", "touched", "epoch"}
    both = write.statement("t", fence)
    assert "FOR SHARE" in both and both.count("fence.epoch = %(epoch)s") == 2
    assert WriteParams.of([("a", b"1"), ("c", b"2")]).statement("t", fence) == write_statement(
        "t", fence, False, True
    )
    assert "DELETE" not in write_statement("t", fence, False, True)
    assert "INSERT" not in write_statement("t", fence, True, False)
    assert write_statement("t", None, True, False).startswith("DELETE")  # unfenced: the bare statement
    assert "%(epoch)s" not in write_statement("t", None, True, True)


def test_a_proofs_own_writes_commit_with_the_write_and_only_under_the_fence(
    ha_physical: PostgreSQLPhysical, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a change feed adds to the proof (one more CTE joined to ``fence``) commits exactly
    when the write does: once per write, nothing from a fenced node."""
    fencing = _lead(ha_physical)
    conn = _conn(ha_physical)
    conn.execute("CREATE TABLE side (key TEXT NOT NULL)")
    base = fencing.proof()
    feed = f"feed AS (INSERT INTO side (key) SELECT unnest(%(touched)s::text[]) FROM fence WHERE {FENCED_BY})"
    monkeypatch.setattr(fencing, "proof", lambda: Proof((*base.ctes, feed), base.answer))
    ha_physical.transaction([TxnOp("b", None), TxnOp("a", b"1"), TxnOp("b", None)])
    _bump(conn, fencing.ha_table)
    with pytest.raises(Fenced):
        ha_physical.transaction([TxnOp("c", b"1"), TxnOp("d", None)])
    assert [key for (key,) in conn.execute("SELECT key FROM side").fetchall()] == ["b", "a"]
    assert ha_physical.get("c") is None


def test_keys_and_values_survive_the_binary_arrays(ha_physical: PostgreSQLPhysical) -> None:
    """The arrays are built by hand in PostgreSQL's binary format: quotes, backslashes, braces,
    commas, non-ASCII, an empty value and bytes of every value arrive as they were sent."""
    _lead(ha_physical)
    odd = ['q"uote', "back\\slash", "{brace},comma", "NULL", "unicodé/ключ/鍵", " spaced ", "x" * 3000]
    values = [bytes(range(256)), b"", b"\x00", b'"{}"', b"\x00" * 5000, "é".encode(), b"NULL"]
    ha_physical.transaction([TxnOp(k, v) for k, v in zip(odd, values, strict=True)])
    assert [ha_physical.get(k) for k in odd] == values
    assert sorted(ha_physical.list_all("")) == sorted(odd)
    ha_physical.transaction([TxnOp(odd[0], None), TxnOp(odd[1], b"new"), TxnOp("", b"empty key")])
    assert (ha_physical.get(odd[0]), ha_physical.get(odd[1]), ha_physical.get("")) == (
        None,
        b"new",
        b"empty key",
    )

"""Group commit on PostgreSQL (``storage/pg_group.py``): writes that arrive while a statement is
in flight share the next one, each returns only once that statement committed, fencing holds for
the whole group, and a write the database refuses fails alone."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tessera.storage.base import TxnOp
from tessera.storage.pg_fencing import Fenced, Fencing
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.pg_physical import ha_physical_on
from tests.helpers.postgres import Postgres

DB = "pggroup_" + uuid.uuid4().hex[:8]  # the test server may be shared, and runs may overlap


@pytest.fixture
def ha_physical(postgres: Postgres) -> Iterator[PostgreSQLPhysical]:
    with ha_physical_on(postgres, DB) as physical:
        yield physical


def _bump(conn: psycopg.Connection[Any], ha_table: str) -> int:
    row = conn.execute(f"UPDATE {ha_table} SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch").fetchone()
    assert row is not None
    return int(row[0])


def _lead(physical: PostgreSQLPhysical) -> Fencing:
    fencing = Fencing(physical.settings.ha_table)
    physical.fencing = fencing
    fencing.epoch = _bump(physical.connections.current()[0], fencing.ha_table)
    return fencing


def _until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _grouped(
    physical: PostgreSQLPhysical, hold: Callable[[], Any], first: list[TxnOp], rest: list[list[TxnOp]]
) -> list[BaseException | None]:
    """``first`` is written while ``hold`` (a context manager of another session) holds it up in
    PostgreSQL; ``rest`` arrive meanwhile and queue. Each write's outcome, in order."""
    group = physical._group
    outcomes: list[BaseException | None] = [None] * (1 + len(rest))
    before = group.statements

    def write(n: int, ops: list[TxnOp]) -> None:
        try:
            physical.transaction(ops)
        except (Exception, Fenced) as exc:
            outcomes[n] = exc

    with hold():
        threads = [threading.Thread(target=write, args=(0, first))]
        threads[0].start()
        _until(lambda: group.statements == before + 1)
        threads += [threading.Thread(target=write, args=(n + 1, ops)) for n, ops in enumerate(rest)]
        for thread in threads[1:]:
            thread.start()
        _until(lambda: group.waiting() == len(rest))
        time.sleep(0.1)
        assert all(thread.is_alive() for thread in threads)  # nobody answered before its commit
    for thread in threads:
        thread.join(10)
    return outcomes


def _row_lock(postgres: Postgres, physical: PostgreSQLPhysical, key: str) -> Callable[[], Any]:
    class Hold:
        def __enter__(self) -> None:
            self.conn = postgres.connect(dbname=DB)
            self.conn.execute("BEGIN")
            self.conn.execute(f"SELECT 1 FROM {physical.table} WHERE key = %s FOR UPDATE", (key,))

        def __exit__(self, *exc: object) -> None:
            self.conn.execute("COMMIT")
            self.conn.close()

    return Hold


def test_writes_arriving_during_a_statement_share_the_next(
    ha_physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    _lead(ha_physical)
    ha_physical.put("blocker", b"0")
    before = ha_physical._group.statements
    rest = [[TxnOp(f"k{n}", b"%d" % n), TxnOp(f"i{n}", b"x")] for n in range(5)]
    outcomes = _grouped(
        ha_physical, _row_lock(postgres, ha_physical, "blocker"), [TxnOp("blocker", b"1")], rest
    )
    assert outcomes == [None] * 6
    assert ha_physical._group.statements == before + 2  # five writes, one statement
    assert ha_physical.get("blocker") == b"1"
    assert [ha_physical.get(f"k{n}") for n in range(5)] == [b"%d" % n for n in range(5)]


def test_a_group_of_a_fenced_node_commits_nothing(
    ha_physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    """A takeover commits while the node's first write waits for it and the rest queue: every
    one of them is told it was fenced, and none of them wrote anything."""
    fencing = _lead(ha_physical)

    class Takeover:
        def __enter__(self) -> None:
            self.conn = postgres.connect(dbname=DB)
            self.conn.execute("BEGIN")
            _bump(self.conn, fencing.ha_table)

        def __exit__(self, *exc: object) -> None:
            self.conn.execute("COMMIT")
            self.conn.close()

    rest = [[TxnOp(f"k{n}", b"v")] for n in range(4)] + [[TxnOp("first", None)]]
    ha_physical.put("first", b"kept")
    outcomes = _grouped(ha_physical, Takeover, [TxnOp("first", b"lost")], rest)
    assert all(isinstance(outcome, Fenced) for outcome in outcomes)
    assert ha_physical.get("first") == b"kept"
    assert [ha_physical.get(f"k{n}") for n in range(4)] == [None] * 4


def test_a_refused_write_fails_alone(ha_physical: PostgreSQLPhysical, postgres: Postgres) -> None:
    _lead(ha_physical)
    ha_physical.put("blocker", b"0")
    rest = [[TxnOp("good1", b"1")], [TxnOp("bad\x00key", b"2")], [TxnOp("good2", b"3")]]
    outcomes = _grouped(
        ha_physical, _row_lock(postgres, ha_physical, "blocker"), [TxnOp("blocker", b"1")], rest
    )
    assert outcomes[:2] == [None, None] and outcomes[3] is None
    assert isinstance(outcomes[2], psycopg.Error)
    assert (ha_physical.get("good1"), ha_physical.get("good2")) == (b"1", b"3")


def test_many_writers_all_commit_and_share_statements(ha_physical: PostgreSQLPhysical) -> None:
    """Writers come and go while statements are in flight (new ones may lead before a woken one
    does): every write commits once, none waits forever, and a key's last write is its value."""
    _lead(ha_physical)
    group = ha_physical._group
    before = group.statements
    threads, writes = 12, 25
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(writes):
                ha_physical.transaction([TxnOp(f"w{n}/{i}", b"%d" % i), TxnOp(f"last/{n}", b"%d" % i)])
        except BaseException as exc:
            errors.append(exc)

    running = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)
    assert not any(thread.is_alive() for thread in running) and errors == []
    assert group.waiting() == 0
    assert group.statements - before < threads * writes  # some statements held several writes
    keys = ha_physical.list_all("w")
    assert len(keys) == threads * writes
    assert [ha_physical.get(f"last/{n}") for n in range(threads)] == [b"%d" % (writes - 1)] * threads


_WRITER = """
import sys, threading
from tessera.storage.base import TxnOp
from tessera.storage.pg_fencing import Fencing
from tessera.storage.postgresql import PostgreSQLPhysical

physical = PostgreSQLPhysical({"connection_url": sys.argv[1], "ha_enabled": "true"})
fencing = Fencing(physical.settings.ha_table, physical.changes)
physical.fencing = fencing
row = physical.connections.current()[0].execute(
    f"UPDATE {fencing.ha_table} SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch"
).fetchone()
fencing.epoch = row[0]
out = threading.Lock()

def writer(w):
    for n in range(100000):
        name = f"t/{w}-{n}/"
        physical.transaction([TxnOp(name + "entry", b"e" * 200), TxnOp(name + "accessor", b"a" * 90),
                              TxnOp(name + "parent", b"p"), TxnOp(f"gone/{w}-{n - 1}", None)])
        with out:
            sys.stdout.write(f"{name} {physical._group.statements}\\n")
            sys.stdout.flush()

for w in range(8):
    threading.Thread(target=writer, args=(w,)).start()
"""


def test_kill_9_under_grouped_multi_key_writes_loses_nothing_and_splits_nothing(
    ha_physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    """A process writing 4-key transactions from 8 threads (grouped into shared statements) is
    killed mid-load: every write it acknowledged is stored whole with its change-feed rows, and
    no write is stored in part."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, ha_physical.dsn], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    assert child.stdout is not None
    try:
        while len(lines) < 400:
            line = child.stdout.readline().decode().strip()
            assert line, child.stderr.read().decode() if child.stderr else "writer ended"
            lines.append(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    lines += child.stdout.read().decode().splitlines()  # acknowledged before the kill
    acknowledged = [line.split()[0] for line in lines if line.strip()]
    statements = max(int(line.split()[1]) for line in lines if line.strip())
    assert statements < len(acknowledged)  # writes shared statements
    stored = ha_physical.list_all("t/")
    by_write: dict[str, set[str]] = {}
    for key in stored:
        name, _, part = key.rpartition("/")
        by_write.setdefault(name + "/", set()).add(part)
    assert not set(acknowledged) - by_write.keys(), "an acknowledged write was lost"
    split = {name: parts for name, parts in by_write.items() if parts != {"entry", "accessor", "parent"}}
    assert not split, f"half-written: {sorted(split.items())[:3]}"
    with postgres.connect(dbname=DB) as conn:
        fed = {row[0] for row in conn.execute(f"SELECT key FROM {ha_physical.changes}")}
    assert set(stored) <= fed  # each committed key is in the change feed

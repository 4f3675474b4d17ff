"""Every physical backend honours the same contract: get/put/delete, list children, atomic transactions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from tessera.storage.base import Physical, TxnOp
from tessera.storage.inmem import InmemPhysical
from tessera.storage.postgresql import PostgreSQLPhysical
from tessera.storage.sqlite import SQLitePhysical
from tests.helpers.postgres import Postgres


@pytest.fixture(params=["inmem", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def physical(request: pytest.FixtureRequest, tmp_path) -> Iterator[Physical]:
    if request.param == "inmem":
        backend: Physical = InmemPhysical()
        yield backend
    elif request.param == "sqlite":
        backend = SQLitePhysical(str(tmp_path / "t.db"))
        yield backend
        backend.close()
    else:
        pg = request.getfixturevalue("postgres")
        table = "tessera_test_" + uuid.uuid4().hex[:8]
        backend = PostgreSQLPhysical({"connection_url": pg.dsn, "table": table})
        yield backend
        backend.close()
        with pg.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_get_put_delete(physical: Physical) -> None:
    assert physical.get("a") is None
    physical.put("a", b"1")
    assert physical.get("a") == b"1"
    physical.put("a", b"2")
    assert physical.get("a") == b"2"
    physical.delete("a")
    assert physical.get("a") is None
    physical.delete("a")  # deleting a missing key is fine


def test_list_children(physical: Physical) -> None:
    for key in ("sys/token/id/x", "sys/token/id/y", "sys/token/salt", "sys/policy/p", "logical/u/a"):
        physical.put(key, b"v")
    assert physical.list("sys/") == ["policy/", "token/"]
    assert physical.list("sys/token/") == ["id/", "salt"]
    assert physical.list("sys/token/id/") == ["x", "y"]
    assert physical.list("nope/") == []
    assert physical.list_all("sys/token/") == ["sys/token/id/x", "sys/token/id/y", "sys/token/salt"]


def test_transaction_is_atomic(physical: Physical) -> None:
    physical.put("keep", b"old")
    physical.transaction([TxnOp("a", b"1"), TxnOp("b", b"2"), TxnOp("keep", None)])
    assert (physical.get("a"), physical.get("b"), physical.get("keep")) == (b"1", b"2", None)


def test_concurrent_writers_all_land(physical: Physical) -> None:
    def writer(n: int) -> None:
        for i in range(25):
            physical.put(f"w/{n}/{i}", str(i).encode())

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(physical.list_all("w/")) == 200


def test_sqlite_survives_reopen(tmp_path) -> None:
    path = str(tmp_path / "d.db")
    first = SQLitePhysical(path)
    first.put("k", b"durable")
    first.close()
    second = SQLitePhysical(path)
    assert second.get("k") == b"durable"
    second.close()


def _scan_all(physical: Physical, prefix: str, limit: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    after = ""
    for _ in range(1000):  # bounded: a page that never advances fails instead of spinning
        page, following = physical.scan(prefix, after, limit)
        out.extend(page)
        if following is None:
            return out
        assert following > after
        after = following
    raise AssertionError("scan did not finish")


def test_scan_pages_through_a_prefix_in_key_order(physical: Physical) -> None:
    wanted = {f"p/{i:03d}": str(i).encode() for i in range(23)}
    physical.transaction([TxnOp(k, v) for k, v in wanted.items()])
    physical.put("o/outside", b"x")
    physical.put("q", b"x")
    physical.delete("p/007")
    del wanted["p/007"]
    for limit in (1, 5, 22, 100):
        assert _scan_all(physical, "p/", limit) == sorted(wanted.items())
    assert physical.scan("none/", "", 10) == ([], None)


def test_get_many_returns_only_the_keys_that_exist(physical: Physical) -> None:
    wanted = {f"m/{i:04d}": str(i).encode() for i in range(1200)}  # more than one SQLite query's worth
    physical.transaction([TxnOp(k, v) for k, v in wanted.items()])
    physical.delete("m/0007")
    del wanted["m/0007"]
    asked = [*wanted, "m/0007", "m/missing", "other"]
    assert physical.get_many(asked) == wanted
    assert physical.get_many([]) == {}


def test_postgresql_table_is_vacuumed_early(postgres: Postgres) -> None:
    table = "tessera_test_" + uuid.uuid4().hex[:8]
    backend = PostgreSQLPhysical({"connection_url": postgres.dsn, "table": table})
    try:
        with postgres.connect() as conn:
            row = conn.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (table,)).fetchone()
        assert "autovacuum_vacuum_scale_factor=0.02" in row[0]
    finally:
        backend.close()
        with postgres.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_list_many_answers_each_prefix(physical: Physical) -> None:
    physical.transaction([TxnOp(k, b"v") for k in ("a/1", "a/2/x", "ab/1", "b/1", "c")])
    found = physical.list_many(["a/", "b/", "z/", "a/2/"])
    assert found == {"a/": ["a/1", "a/2/x"], "b/": ["b/1"], "z/": [], "a/2/": ["a/2/x"]}
    assert physical.list_many([]) == {}


def test_postgresql_vacuums_dead_rows_itself(monkeypatch: pytest.MonkeyPatch, postgres: Postgres) -> None:
    """Autovacuum may be off (it is on the shared test server): churn still gets vacuumed."""
    import time

    from tessera.storage import postgresql

    monkeypatch.setattr(postgresql, "VACUUM_CHECK_SECONDS", 0.2)
    monkeypatch.setattr(postgresql, "VACUUM_MIN_DEAD", 100)
    table = "tessera_test_" + uuid.uuid4().hex[:8]
    backend = PostgreSQLPhysical({"connection_url": postgres.dsn, "table": table})
    try:
        backend.transaction([TxnOp(f"k/{i}", b"v" * 100) for i in range(2000)])
        backend.transaction([TxnOp(f"k/{i}", None) for i in range(1900)])
        deadline = time.monotonic() + 30
        while backend.vacuums == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert backend.vacuums >= 1
        assert len(backend.list_all("k/")) == 100
    finally:
        backend.close()
        with postgres.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")

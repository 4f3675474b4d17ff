"""PostgreSQL out of reach: a typed error naming the cause, connections that heal, no double writes.

The sessions are ended from the server (``pg_terminate_backend``), as a database restart or an
administrator ends them; "down" is a port nothing listens on.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tessera.storage import pg_connections
from tessera.storage.base import StorageUnavailable, TxnOp
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.postgres import Postgres
from tests.helpers.servers import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def physical(postgres: Postgres) -> Iterator[PostgreSQLPhysical]:
    """A backend on a database of its own (the tests end every session on it)."""
    dbname = "pgconn_" + uuid.uuid4().hex[:12]
    backend = PostgreSQLPhysical({"connection_url": postgres.create_database(dbname)})
    try:
        yield backend
    finally:
        backend.close()
        postgres.drop_database(dbname)


def _dbname(physical: PostgreSQLPhysical) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(physical.dsn)["dbname"])


def _terminate_sessions(postgres: Postgres, physical: PostgreSQLPhysical) -> int:
    """End every session on the backend's database, as a restart would."""
    with postgres.connect() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (_dbname(physical),)
        ).fetchall()
    time.sleep(0.2)  # the backends exit asynchronously
    return len(rows)


def test_reads_after_the_sessions_were_ended_succeed(
    physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    physical.put("a", b"1")
    assert _terminate_sessions(postgres, physical) >= 1
    assert physical.get("a") == b"1"  # the dead connection is dropped, the read runs on a new one
    assert _terminate_sessions(postgres, physical) >= 1
    assert physical.list("") == ["a"]


def test_a_write_on_a_connection_the_server_closed_goes_on_a_new_one(
    physical: PostgreSQLPhysical, postgres: Postgres
) -> None:
    """The server ended the idle session (its socket says so): nothing was sent, so the write
    goes on a new connection, once."""
    physical.put("a", b"1")
    _terminate_sessions(postgres, physical)
    physical.transaction([TxnOp("b", b"2"), TxnOp("a", None)])
    assert physical.get("b") == b"2"
    assert physical.get("a") is None


def test_a_write_cut_while_it_runs_is_not_retried(physical: PostgreSQLPhysical, postgres: Postgres) -> None:
    """The session ends while the transaction holds a lock: the caller hears the storage was
    unavailable, and the write is not sent again behind its back."""
    physical.put("k", b"old")
    with postgres.connect(dbname=_dbname(physical)) as blocker, blocker.transaction():
        blocker.execute(f"SELECT 1 FROM {physical.table} WHERE key = 'k' FOR UPDATE")
        errors: list[BaseException] = []

        def write() -> None:
            try:
                physical.put("k", b"new")
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)  # the write waits for the row lock, inside its transaction
        with postgres.connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'",
                (_dbname(physical),),
            )
        writer.join(10)
    assert len(errors) == 1 and isinstance(errors[0], StorageUnavailable), errors
    assert str(errors[0]).startswith("storage backend unavailable: ")
    assert "connection" in str(errors[0])
    assert physical.get("k") == b"old"


def test_an_unreachable_database_is_storage_unavailable_at_once(physical: PostgreSQLPhysical) -> None:
    physical.connections.dsn = f"host=127.0.0.1 port={free_port()} user=postgres dbname=test"
    physical.connections.close()
    for call in (lambda: physical.get("a"), lambda: physical.put("a", b"1"), lambda: physical.list("")):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert time.monotonic() - started < 3
        assert "Connection refused" in str(caught.value), caught.value


def test_a_statements_own_error_is_not_storage_unavailable(physical: PostgreSQLPhysical) -> None:
    """Only an unreachable server maps to StorageUnavailable; the connection stays in use."""
    conn, _ = physical.connections.current()
    with pytest.raises(psycopg.errors.UndefinedTable):
        physical.connections.read(lambda c: c.execute("SELECT * FROM no_such_table"))
    assert physical.connections.current() == (conn, False)


def test_broken_connections_are_forgotten(physical: PostgreSQLPhysical, postgres: Postgres) -> None:
    for _ in range(3):
        physical.get("a")
        _terminate_sessions(postgres, physical)
    physical.get("a")
    assert len(physical.connections._all) == 1


def test_a_server_that_never_answers_is_storage_unavailable_within_the_connect_timeout(
    physical: PostgreSQLPhysical, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listener that takes the connection and says nothing (a hung server): the call gives up
    after ``CONNECT_TIMEOUT`` instead of hanging."""
    monkeypatch.setattr(pg_connections, "CONNECT_TIMEOUT", 2)  # libpq's smallest
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        physical.connections.dsn = f"host=127.0.0.1 port={silent.getsockname()[1]} user=postgres dbname=test"
        physical.connections.close()
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            physical.get("a")
        assert 1.5 < time.monotonic() - started < 6
        assert "timeout" in str(caught.value), caught.value
    finally:
        silent.close()

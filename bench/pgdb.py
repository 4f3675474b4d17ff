"""The bench's own PostgreSQL database, and the CPU its backends spend on Tessera's behalf.

Tessera on ``storage "postgresql"`` does part of its work in another process: each connection
is a PostgreSQL backend. Counting only Tessera's process would flatter it against the reference,
whose raft storage runs inside its own process, so the bench reports that CPU separately: the
backends connected to the bench's database (all nodes' connections; the server must run on this
machine for ``/proc`` to show them, otherwise nothing is counted).
"""

from __future__ import annotations

import os
import secrets

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# The server the bench creates its database on (trust auth, a superuser): the machine's own.
BENCH_PG_ENV = "TESSERA_BENCH_PG"
DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
TICKS = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float | None:
    """User + system CPU time so far of one process (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots of {pid: seconds}: a process that started in between
    counts from zero; one that ended in between is lost (backends live as long as a node's
    connection, so under steady load that is none)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class BenchDatabase:
    """A database of its own for one bench run, created fresh and dropped at the end. It keeps
    one connection (to the server's own database) for the whole run: a shared server may have
    no connection slot left in the middle of a run."""

    def __init__(self, admin_dsn: str, name: str) -> None:
        self.admin_dsn = admin_dsn
        self.name = name
        self._admin = psycopg.connect(admin_dsn, autocommit=True)

    @classmethod
    def create(cls, admin_dsn: str | None = None) -> BenchDatabase:
        db = cls(
            admin_dsn or os.environ.get(BENCH_PG_ENV) or DEFAULT_DSN, "tessera_bench_" + secrets.token_hex(4)
        )
        db._admin.execute(f'CREATE DATABASE "{db.name}"')
        return db

    @property
    def dsn(self) -> str:
        """The same server and user, on the bench's database."""
        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = self.name
        return make_conninfo(**params)  # type: ignore[arg-type]

    def backends(self) -> dict[int, float]:
        """{pid: CPU seconds so far} of every backend connected to the bench's database."""
        rows = self._admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
        ).fetchall()
        snapshot = {int(pid): process_seconds(int(pid)) for (pid,) in rows}
        return {pid: seconds for pid, seconds in snapshot.items() if seconds is not None}

    def drop(self) -> None:
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()

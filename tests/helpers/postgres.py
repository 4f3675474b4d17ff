"""A PostgreSQL server for the tests that need one: a throwaway cluster of their own, or a given DSN.

No test may depend on a database someone set up by hand. Unless ``TESSERA_TEST_PG`` names a server
(a libpq DSN with a superuser, e.g. ``host=127.0.0.1 port=5432 user=postgres``), the first test that
asks starts a cluster with ``initdb`` and ``pg_ctl`` from the PostgreSQL binaries found on the machine,
in a temporary folder, on a free loopback port, and it is stopped and deleted when the tests end.

Password logins are real (scram-sha-256) for every role but the superuser, so a test that logs in with
a generated credential proves the password, not just the role's existence.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.helpers.servers import free_port

SUPERUSER = "postgres"
DATABASE = "test"
# Run as an unprivileged OS user when the tests run as root (PostgreSQL refuses to run as root).
_UNPRIVILEGED = ("postgres", "nobody")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine and no ``TESSERA_TEST_PG``."""


@dataclass(frozen=True)
class Postgres:
    """Where the tests' PostgreSQL listens, with a superuser and a database ``test``."""

    host: str
    port: int
    user: str = SUPERUSER
    dbname: str = DATABASE

    @property
    def dsn(self) -> str:
        """A libpq DSN for the superuser on the test database."""
        return f"host={self.host} port={self.port} dbname={self.dbname} user={self.user}"

    def url(self, credentials: str = "{{username}}:{{password}}", dbname: str | None = None) -> str:
        """A connection URL, by default with the database engine's credential templates."""
        return f"postgresql://{credentials}@{self.host}:{self.port}/{dbname or self.dbname}?sslmode=disable"

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)  # type: ignore[arg-type]

    def create_database(self, name: str) -> str:
        """A fresh database (dropped first if a crashed run left it); returns its DSN."""
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"host={self.host} port={self.port} dbname={name} user={self.user}"

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def fresh_database(self, prefix: str) -> Iterator[tuple[str, str]]:
        """A database of the test's own, ``<prefix>_<random>``: tests on a shared server, parallel
        runs and a crashed run's leftovers never meet. (name, DSN); dropped afterwards."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        dsn = self.create_database(name)
        try:
            yield name, dsn
        finally:
            self.drop_database(name)

    def terminate(self, dbname: str, application_name: str) -> int:
        """End the sessions of ``application_name`` on ``dbname`` from PostgreSQL (as a lost
        connection would); how many there were."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = %s",
                (application_name, dbname),
            ).fetchall()
        return len(rows)


def from_environment() -> Postgres | None:
    """The server ``TESSERA_TEST_PG`` names, with its database ``test`` created if missing."""
    dsn = os.environ.get("TESSERA_TEST_PG")
    if not dsn:
        return None
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    server = Postgres(
        host=str(params.get("host", "127.0.0.1")),
        port=int(params.get("port", 5432)),
        user=str(params.get("user", SUPERUSER)),
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return server


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: PATH first, then Debian's layout."""
    initdb = shutil.which("initdb")
    candidates = [Path(initdb).resolve().parent] if initdb else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install them "
        "(Debian: apt-get install postgresql) or set TESSERA_TEST_PG to a server's DSN"
    )


class ThrowawayCluster:
    """``initdb`` + ``pg_ctl`` in a temporary folder on a free port; ``stop()`` deletes it all."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user = _os_user()

    def start(self) -> Postgres:
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--no-instructions",
        )
        hba = self.data / "pg_hba.conf"
        # The superuser connects without a password; every other role must prove its password.
        hba.write_text(f"host all {SUPERUSER} 127.0.0.1/32 trust\n" + hba.read_text())
        server = self.start_server()
        with server.connect(dbname="postgres") as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return server

    def start_server(self) -> Postgres:
        """Start the server (again, after ``stop_server``) and wait until it takes connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        server = Postgres(host="127.0.0.1", port=self.port)
        _wait_for(server)
        return server

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (``fast``: sessions are ended, as an administrator's shutdown)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=self._demote,
            cwd=self.root,
        )
        if result.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr}{result.stdout}{log}")

    def _demote(self) -> None:
        if self._user is not None:
            os.setgid(self._user.pw_gid)
            os.setuid(self._user.pw_uid)


def _os_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable(
        "running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as"
    )


def _wait_for(server: Postgres, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(
                host=server.host, port=server.port, user=server.user, dbname="postgres", connect_timeout=2
            ):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)

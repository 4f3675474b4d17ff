"""The PostgreSQL plugin: create, renew and drop database users with the role's SQL statements."""

from __future__ import annotations

import datetime as _dt
import re
import secrets as _secrets
import string
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg

PLUGIN_NAME = "postgresql-database-plugin"

DEFAULT_REVOCATION = [
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}' AND pid <> pg_backend_pid();",
    'REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{{name}}";',
    'REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM "{{name}}";',
    'REVOKE ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA public FROM "{{name}}";',
    'REVOKE USAGE ON SCHEMA public FROM "{{name}}";',
    'DROP ROLE IF EXISTS "{{name}}";',
]
DEFAULT_RENEW = ["ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';"]
DEFAULT_ROTATE_ROOT = ["ALTER ROLE \"{{username}}\" WITH PASSWORD '{{password}}';"]


class PluginError(Exception):
    pass


@dataclass
class Connection:
    connection_url: str
    username: str
    password: str
    connect_timeout: int = 5

    def dsn(self) -> str:
        return self.connection_url.replace("{{username}}", quote(self.username, safe="")).replace(
            "{{password}}", quote(self.password, safe="")
        )

    def redacted_url(self) -> str:
        return self.connection_url


def split_statements(statements: list[str]) -> list[str]:
    """Vault accepts one statement per list item or several separated by ';'."""
    out: list[str] = []
    for block in statements:
        for part in _split_sql(block):
            if part.strip():
                out.append(part.strip())
    return out


def _split_sql(text: str) -> list[str]:
    parts, buf, quote_char = [], [], ""
    for ch in text:
        if quote_char:
            buf.append(ch)
            if ch == quote_char:
                quote_char = ""
        elif ch in ("'", '"'):
            quote_char = ch
            buf.append(ch)
        elif ch == ";":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def expiration_text(ts: float) -> str:
    """Go layout "2006-01-02 15:04:05-0700", as Vault renders {{expiration}}."""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S+0000")


def render(statement: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        key = m.group(1).strip()
        return values.get(key, m.group(0))

    return re.sub(r"\{\{\s*([a-zA-Z_]+)\s*\}\}", repl, statement)


def generate_password(length: int = 20) -> str:
    """Vault's default policy: 20 characters with upper, lower and digits, plus a dash."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = "".join(_secrets.choice(alphabet) for _ in range(length - 1))
        if (
            any(c.isupper() for c in body)
            and any(c.islower() for c in body)
            and any(c.isdigit() for c in body)
        ):
            pos = _secrets.randbelow(length)
            return body[:pos] + "-" + body[pos:]


def generate_username(display_name: str, role: str) -> str:
    """Vault's default template: v-<display 8>-<role 8>-<random 20>-<unix time>, at most 63 characters."""
    rand = "".join(_secrets.choice(string.ascii_letters + string.digits) for _ in range(20))
    name = f"v-{display_name[:8]}-{role[:8]}-{rand}-{int(time.time())}"
    return name[:63]


class PostgreSQL:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _execute(self, statements: list[str], values: dict[str, str]) -> None:
        """Run the statements in one transaction; retried when PostgreSQL reports a transient conflict.

        Concurrent GRANT/REVOKE/DROP ROLE on shared catalog rows fail with "tuple concurrently updated"
        (or a deadlock/serialization error); the transaction rolled back, so running it again is safe.
        """
        for attempt in range(_RETRIES):
            try:
                with psycopg.connect(
                    self.conn.dsn(), connect_timeout=self.conn.connect_timeout, autocommit=False
                ) as db:
                    with db.cursor() as cur:
                        for stmt in split_statements(statements):
                            cur.execute(render(stmt, values).encode())
                    db.commit()
                return
            except psycopg.Error as exc:
                if attempt + 1 < _RETRIES and _transient(exc):
                    time.sleep(0.05 * (2**attempt))
                    continue
                raise PluginError(_pg_message(exc)) from None

    def verify(self) -> None:
        try:
            with psycopg.connect(self.conn.dsn(), connect_timeout=self.conn.connect_timeout) as db:
                db.execute("SELECT 1")
        except psycopg.Error as exc:
            raise PluginError(_pg_message(exc)) from None

    def new_user(self, statements: list[str], username: str, password: str, expiration: float) -> None:
        if not statements:
            raise PluginError("empty creation statements")
        self._execute(
            statements,
            {
                "name": username,
                "username": username,
                "password": password,
                "expiration": expiration_text(expiration),
            },
        )

    def renew_user(self, statements: list[str], username: str, expiration: float) -> None:
        self._execute(
            statements or DEFAULT_RENEW,
            {"name": username, "username": username, "expiration": expiration_text(expiration)},
        )

    def revoke_user(self, statements: list[str], username: str) -> None:
        self._execute(statements or DEFAULT_REVOCATION, {"name": username, "username": username})

    def rotate_root(self, statements: list[str], new_password: str) -> None:
        self._execute(
            statements or DEFAULT_ROTATE_ROOT,
            {"username": self.conn.username, "name": self.conn.username, "password": new_password},
        )


_RETRIES = 6


def _transient(exc: Any) -> bool:
    if isinstance(exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)):
        return True
    return "tuple concurrently updated" in str(exc) or "tuple concurrently deleted" in str(exc)


def _pg_message(exc: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or exc).strip()

"""Lease-count quotas on a real server: tokens and AppRole logins capped, counts kept across a
restart, and the same cap when requests arrive through a worker process (``workers = 2``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http import call
from tests.helpers.servers import TesseraServer, tessera_on_sqlite
from tests.helpers.workers import running_pair

COUNTED = "lease-count quotas:"


@pytest.fixture
def sqlite_tessera(tmp_path: Path) -> Iterator[TesseraServer]:
    server = tessera_on_sqlite(tmp_path).start()
    try:
        server.init(1, 1)
        server.unseal()
        yield server
    finally:
        server.cleanup()


def _counted(server: TesseraServer, times: int, timeout: float = 30.0) -> None:
    """Until the server has logged ``times`` finished rebuilds of the lease counts."""
    deadline = time.monotonic() + timeout
    while server.output().count(COUNTED) < times:
        assert time.monotonic() < deadline, "lease counts were never rebuilt:\n" + server.output()[-2000:]
        time.sleep(0.05)


def _ok(status: int, body: Any) -> Any:
    assert status in (200, 204), body
    return body


def _token(server: TesseraServer, **body: Any) -> int:
    return server.call("POST", "auth/token/create", json={"ttl": "1h", "policies": ["default"], **body})[0]


def _approle(server: TesseraServer, *roles: str) -> list[str]:
    """Enable AppRole with these roles; their role IDs."""
    _ok(*server.call("POST", "sys/auth/approle", json={"type": "approle"})[:2])
    for role in roles:
        _ok(*server.call("POST", f"auth/approle/role/{role}", json={"token_ttl": "1h"})[:2])
    return [server.call("GET", f"auth/approle/role/{role}/role-id")[1]["data"]["role_id"] for role in roles]


def _login(server: TesseraServer, role_id: str, role: str = "ci") -> tuple[int, Any]:
    secret_id = server.call("POST", f"auth/approle/role/{role}/secret-id")[1]["data"]["secret_id"]
    status, body, _ = server.call(
        "POST", "auth/approle/login", json={"role_id": role_id, "secret_id": secret_id}, auth=False
    )
    return status, body


def test_tokens_and_approle_logins_capped_and_counts_survive_a_restart(sqlite_tessera: TesseraServer) -> None:
    server = sqlite_tessera
    role_id, other_id = _approle(server, "ci", "other")
    _ok(
        *server.call(
            "POST", "sys/quotas/lease-count/ci", json={"path": "auth/approle", "role": "ci", "max_leases": 2}
        )[:2]
    )
    _ok(
        *server.call("POST", "sys/quotas/lease-count/tokens", json={"path": "auth/token", "max_leases": 3})[
            :2
        ]
    )
    _counted(server, 2)  # one rebuild per rule written
    logins = [_login(server, role_id) for _ in range(3)]
    assert [s for s, _ in logins] == [200, 200, 429]
    assert logins[2][1] == {
        "errors": ['1 error occurred:\n\t* request path "auth/approle/login": lease count quota exceeded\n\n']
    }
    assert _login(server, other_id, "other")[0] == 200  # the rule is the role's alone
    assert [_token(server) for _ in range(4)] == [200, 200, 200, 429]
    assert _token(server, type="batch") == 200  # batch tokens are not leases

    before = server.output().count(COUNTED)
    server.restart()
    server.unseal()
    _counted(server, before + 1)  # the log accumulates across restarts
    assert _token(server) == 429 and _login(server, role_id)[0] == 429
    revoke = {"token": logins[0][1]["auth"]["client_token"]}
    _ok(*server.call("POST", "auth/token/revoke", json=revoke)[:2])
    assert _login(server, role_id)[0] == 200
    assert _login(server, role_id)[0] == 429


def test_cap_holds_through_a_worker(tmp_path: Path) -> None:
    with running_pair(tmp_path) as pair:
        _ok(*pair.on("active", "POST", "sys/quotas/lease-count/all", json={"max_leases": 2}))
        body = {"ttl": "1h", "policies": ["default"]}
        # A worker writes nothing itself: every creation is counted by the active process.
        statuses = [
            call(pair.worker, "POST", "auth/token/create", token=pair.root, json=body)[0] for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        assert pair.on("active", "POST", "auth/token/create", json=body)[0] == 429


def test_expiry_frees_a_slot(sqlite_tessera: TesseraServer) -> None:
    server = sqlite_tessera
    _ok(*server.call("POST", "sys/quotas/lease-count/one", json={"path": "auth/token", "max_leases": 1})[:2])
    _counted(server, 1)
    assert _token(server, ttl="2s") == 200
    created = time.monotonic()
    assert _token(server) == 429
    deadline = created + 30
    while (status := _token(server, ttl="1h")) == 429:  # the ticker revokes it a little after 2 s
        assert time.monotonic() < deadline, "the expired token never freed its slot"
        time.sleep(0.1)
    assert status == 200 and time.monotonic() - created > 1.5


@pytest.mark.postgres
def test_dynamic_secret_refused_under_a_full_rule_leaves_no_user(
    fresh_tessera: TesseraServer, postgres: Any
) -> None:
    from tests.leases.test_database_leases import create_token, read_creds, setup_database

    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    mount = creds_path.split("/")[0]
    _ok(
        *fresh_tessera.call(
            "POST", "sys/quotas/lease-count/db", json={"path": f"{mount}/creds/*", "max_leases": 1}
        )[:2]
    )
    _counted(fresh_tessera, 1)

    def users() -> int:
        with postgres.connect() as conn:
            return int(
                conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE '%tlease%'").fetchone()[0]
            )

    batch = create_token(addr, "root", type="batch", policies=["dbcreds"], ttl="30m")["client_token"]
    before = users()
    first = read_creds(addr, batch, creds_path)  # a batch token's secret lease counts
    status, body, _ = call(addr, "GET", creds_path, token=batch)
    assert (status, body) == (
        429,
        {"errors": [f'1 error occurred:\n\t* request path "{creds_path}": lease count quota exceeded\n\n']},
    )
    assert users() == before + 1  # the refused request's user was dropped at once
    _ok(*fresh_tessera.call("PUT", "sys/leases/revoke", json={"lease_id": first["lease_id"]})[:2])
    read_creds(addr, batch, creds_path)

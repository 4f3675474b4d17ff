"""Dynamic PostgreSQL credentials and who owns their leases (the seed table's last rows).

A service token owns its leases; a non-orphan batch token's leases belong to its parent; an orphan
batch token's leases belong to nobody and end with their TTL, also across a restart.
Runs against a real PostgreSQL (the ``postgres`` fixture: a throwaway cluster, or ``TESSERA_TEST_PG``).
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from tests.helpers.http import call
from tests.helpers.postgres import Postgres

pytestmark = [pytest.mark.postgres]

CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',
]


def can_login(pg: Postgres, username: str, password: str) -> bool:
    try:
        with psycopg.connect(
            host=pg.host, port=pg.port, dbname=pg.dbname, user=username, password=password, connect_timeout=3
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def role_exists(pg: Postgres, username: str) -> bool:
    with pg.connect() as conn:
        row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
        return row is not None


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def setup_database(addr: str, pg: Postgres, token: str = "root") -> str:
    """Enable the engine on a fresh path and a role; returns the role's creds path."""
    mount = "db" + uuid.uuid4().hex[:6]
    status, body, _ = call(addr, "POST", f"sys/mounts/{mount}", token=token, json={"type": "database"})
    assert status == 204, body
    status, body, _ = call(
        addr,
        "POST",
        f"{mount}/config/pg",
        token=token,
        json={
            "plugin_name": "postgresql-database-plugin",
            "connection_url": pg.url(),
            "username": "postgres",
            "password": "unused-with-trust-auth",
            "allowed_roles": "*",
        },
    )
    assert status in (200, 204), body
    status, body, _ = call(
        addr,
        "POST",
        f"{mount}/roles/tlease",
        token=token,
        json={"db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "24h"},
    )
    assert status in (200, 204), body
    policy = f'path "{mount}/creds/*" {{ capabilities = ["read"] }}'
    status, body, _ = call(addr, "PUT", "sys/policies/acl/dbcreds", token=token, json={"policy": policy})
    assert status == 204, body
    return f"{mount}/creds/tlease"


def create_token(addr: str, token: str, **body) -> dict:
    path = "auth/token/create-orphan" if body.pop("orphan_path", False) else "auth/token/create"
    status, out, _ = call(addr, "POST", path, token=token, json=body)
    assert status == 200, out
    return out["auth"]


def read_creds(addr: str, token: str, path: str) -> dict:
    status, out, _ = call(addr, "GET", path, token=token)
    assert status == 200, out
    assert out["lease_id"].startswith(path + "/")
    return out


def test_service_token_owns_its_leases(fresh_tessera, postgres: Postgres) -> None:
    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    svc = create_token(addr, "root", policies=["root"], ttl="1h")["client_token"]
    out = read_creds(addr, svc, creds_path)
    user, password = out["data"]["username"], out["data"]["password"]
    assert can_login(postgres, user, password)
    status, lease, _ = call(
        addr, "PUT", "sys/leases/lookup", token="root", json={"lease_id": out["lease_id"]}
    )
    assert status == 200 and lease["data"]["renewable"] is True
    status, _, _ = call(addr, "POST", "auth/token/revoke", token="root", json={"token": svc})
    assert status == 204
    assert wait_until(lambda: not can_login(postgres, user, password), timeout=1.0)
    status, body, _ = call(addr, "PUT", "sys/leases/lookup", token="root", json={"lease_id": out["lease_id"]})
    assert (status, body["errors"]) == (400, ["invalid lease"])


def test_non_orphan_batch_token_leases_belong_to_parent(fresh_tessera, postgres: Postgres) -> None:
    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    parent = create_token(addr, "root", policies=["root"], ttl="1h")["client_token"]
    batch = create_token(addr, parent, type="batch", policies=["dbcreds"], ttl="30m")
    assert batch["client_token"].startswith("hvb.") and batch["orphan"] is False
    out = read_creds(addr, batch["client_token"], creds_path)
    assert out["lease_duration"] <= 1800
    user = out["data"]["username"]
    assert role_exists(postgres, user)
    call(addr, "POST", "auth/token/revoke", token="root", json={"token": parent})
    assert wait_until(lambda: not role_exists(postgres, user), timeout=1.0)


def test_orphan_batch_token_leases_end_with_ttl(fresh_tessera, postgres: Postgres) -> None:
    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    batch = create_token(addr, "root", type="batch", policies=["dbcreds"], ttl="3s", orphan_path=True)
    assert batch["orphan"] is True
    out = read_creds(addr, batch["client_token"], creds_path)
    assert out["lease_duration"] <= 3
    user = out["data"]["username"]
    assert role_exists(postgres, user)
    time.sleep(1)
    assert role_exists(postgres, user), "no token owns this lease; nothing may revoke it before its TTL"
    assert wait_until(lambda: not role_exists(postgres, user), timeout=6.0)


def test_orphan_batch_lease_expires_across_restart(sqlite_tessera, postgres: Postgres) -> None:
    server = sqlite_tessera
    addr = server.addr
    creds_path = setup_database(addr, postgres, server.root_token)
    batch = create_token(
        addr, server.root_token, type="batch", policies=["dbcreds"], ttl="4s", orphan_path=True
    )
    out = read_creds(addr, batch["client_token"], creds_path)
    user = out["data"]["username"]
    server.terminate()
    time.sleep(5)
    assert role_exists(postgres, user), "the server was down: nothing revoked it yet"
    server.restart()
    server.unseal()
    assert wait_until(lambda: not role_exists(postgres, user), timeout=5.0)


def test_lease_renew_and_revoke_endpoints(fresh_tessera, postgres: Postgres) -> None:
    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    out = read_creds(addr, "root", creds_path)
    lease_id = out["lease_id"]
    status, renewed, _ = call(
        addr, "PUT", "sys/leases/renew", token="root", json={"lease_id": lease_id, "increment": "10m"}
    )
    assert status == 200, renewed
    assert renewed["lease_id"] == lease_id and renewed["lease_duration"] == 600
    status, listed, _ = call(addr, "LIST", f"sys/leases/lookup/{creds_path}/", token="root")
    assert status == 200 and lease_id.rsplit("/", 1)[1] in listed["data"]["keys"]
    status, _, _ = call(addr, "PUT", "sys/leases/revoke", token="root", json={"lease_id": lease_id})
    assert status == 204
    assert not role_exists(postgres, out["data"]["username"])
    for body, message in (({}, "lease_id must be specified"), ({"lease_id": "nope/x"}, "invalid lease")):
        status, err, _ = call(addr, "PUT", "sys/leases/lookup", token="root", json=body)
        assert (status, err["errors"]) == (400, [message])
    status, _, _ = call(addr, "PUT", "sys/leases/revoke", token="root", json={"lease_id": "nope/x"})
    assert status == 204


def _break_connection(addr: str, mount: str, pg: Postgres) -> None:
    """Point the connection at a port nobody listens on (no verification, so the write is accepted)."""
    status, body, _ = call(
        addr,
        "POST",
        f"{mount}/config/pg",
        token="root",
        json={"connection_url": pg.url().replace(f":{pg.port}/", ":1/"), "verify_connection": False},
    )
    assert status in (200, 204), body


def _fix_connection(addr: str, mount: str, pg: Postgres) -> None:
    status, body, _ = call(
        addr, "POST", f"{mount}/config/pg", token="root", json={"connection_url": pg.url()}
    )
    assert status in (200, 204), body


def test_failed_revocation_is_retried_until_it_succeeds(fresh_tessera, postgres: Postgres) -> None:
    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    mount = creds_path.split("/")[0]
    svc = create_token(addr, "root", policies=["dbcreds"], ttl="1h")["client_token"]
    out = read_creds(addr, svc, creds_path)
    user = out["data"]["username"]
    _break_connection(addr, mount, postgres)
    status, _, _ = call(addr, "POST", "auth/token/revoke", token="root", json={"token": svc})
    assert status == 204
    status, _, _ = call(addr, "GET", "auth/token/lookup-self", token=svc)
    assert status == 403, "the token is gone even though its lease could not be revoked yet"
    status, _, _ = call(addr, "PUT", "sys/leases/lookup", token="root", json={"lease_id": out["lease_id"]})
    assert status == 200, "the lease stays on record for the retry"
    assert role_exists(postgres, user)
    _fix_connection(addr, mount, postgres)
    assert wait_until(lambda: not role_exists(postgres, user), timeout=8.0), "the back-off retry revoked it"
    status, _, _ = call(addr, "PUT", "sys/leases/lookup", token="root", json={"lease_id": out["lease_id"]})
    assert status == 400


def test_revoke_prefix_and_force(fresh_tessera, postgres: Postgres) -> None:
    addr = fresh_tessera.addr
    creds_path = setup_database(addr, postgres)
    mount = creds_path.split("/")[0]
    users = [read_creds(addr, "root", creds_path)["data"]["username"] for _ in range(3)]
    status, _, _ = call(addr, "PUT", f"sys/leases/revoke-prefix/{mount}/creds", token="root")
    assert status == 204
    assert not any(role_exists(postgres, u) for u in users)
    status, _, _ = call(addr, "LIST", f"sys/leases/lookup/{creds_path}/", token="root")
    assert status == 404
    stuck = read_creds(addr, "root", creds_path)
    _break_connection(addr, mount, postgres)
    status, body, _ = call(
        addr, "PUT", "sys/leases/revoke", token="root", json={"lease_id": stuck["lease_id"]}
    )
    assert status == 400 and "failed to revoke lease" in body["errors"][0]
    status, _, _ = call(addr, "PUT", f"sys/leases/revoke-force/{mount}", token="root")
    assert status == 204
    status, _, _ = call(addr, "PUT", "sys/leases/lookup", token="root", json={"lease_id": stuck["lease_id"]})
    assert status == 400, "revoke-force forgets the lease even though the backend failed"
    with postgres.connect() as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{stuck["data"]["username"]}"')


def test_revoke_prefix_needs_sudo(fresh_tessera) -> None:
    addr = fresh_tessera.addr
    policy = 'path "sys/leases/revoke-prefix/*" { capabilities = ["update"] }'
    call(addr, "PUT", "sys/policies/acl/nosudo", token="root", json={"policy": policy})
    tok = create_token(addr, "root", policies=["nosudo"])["client_token"]
    status, body, _ = call(addr, "PUT", "sys/leases/revoke-prefix/x", token=tok)
    assert status == 403, body


def test_token_leases_in_sys_leases(fresh_tessera) -> None:
    addr = fresh_tessera.addr
    tok = create_token(addr, "root", policies=["default"], ttl="1h")
    status, listed, _ = call(addr, "LIST", "sys/leases/lookup/auth/token/create/", token="root")
    assert status == 200, listed
    salted = [k for k in listed["data"]["keys"] if not k.endswith("/")]
    assert salted and all(k.startswith("h") for k in salted), (
        "token leases are keyed by salted IDs, never raw ones"
    )
    assert tok["client_token"] not in str(listed)
    found = None
    for key in salted:
        status, body, _ = call(
            addr, "PUT", "sys/leases/lookup", token="root", json={"lease_id": f"auth/token/create/{key}"}
        )
        assert status == 200 and body["data"]["path"] == "auth/token/create"
        if body["data"]["ttl"] > 0:
            found = f"auth/token/create/{key}"
    assert found is not None
    status, body, _ = call(addr, "PUT", "sys/leases/renew", token="root", json={"lease_id": found})
    assert (status, body["errors"]) == (400, ["tokens cannot be renewed through this endpoint"])
    status, _, _ = call(addr, "PUT", "sys/leases/revoke", token="root", json={"lease_id": found})
    assert status == 204
    assert call(addr, "GET", "auth/token/lookup-self", token=tok["client_token"])[0] == 403

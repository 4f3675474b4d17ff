"""Leased secrets through the agent: dynamic PostgreSQL credentials cached by the proxy, evicted
when their lease is revoked through it, and rendered by a template. Needs PostgreSQL (the
``postgres`` fixture, as tests/leases/test_database_leases.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.agent.helpers import AgentProcess, approle_block, ok, read_text, setup_approle, wait_for
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer, free_port

pytestmark = [pytest.mark.postgres]

CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',
]


@pytest.fixture(autouse=True, scope="module")
def _drop_leftover_roles(postgres: Postgres) -> Iterator[None]:
    yield
    with postgres.connect() as conn:
        for (name,) in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%-tagent%'"
        ).fetchall():
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_proxy_caches_leased_credentials_until_their_lease_is_revoked(
    fresh_tessera: TesseraServer,
    tmp_path: Path,
    start_agent: Callable[..., AgentProcess],
    postgres: Postgres,
) -> None:
    server = fresh_tessera
    ok(server, "POST", "sys/mounts/db", {"type": "database"})
    ok(
        server,
        "POST",
        "db/config/pg",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": postgres.url(),
            "username": "postgres",
            "password": "unused-with-trust-auth",
            "allowed_roles": "*",
        },
    )
    ok(
        server,
        "POST",
        "db/roles/tagent",
        {"db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "24h"},
    )
    role_file, secret_file = setup_approle(server, "dbapp", tmp_path, token_ttl="1h")
    ok(
        server,
        "PUT",
        "sys/policies/acl/app",
        {
            "policy": 'path "db/creds/*" { capabilities = ["read"] }\n'
            'path "sys/leases/revoke" { capabilities = ["update"] }\n'
            'path "sys/leases/renew" { capabilities = ["update"] }\n'
        },
    )
    port = free_port()
    proxy = f"http://127.0.0.1:{port}"
    out = tmp_path / "db.env"
    start_agent(
        f'vault {{ address = "{server.addr}" }}\n'
        f"auto_auth {{\n{approle_block(role_file, secret_file)}}}\n"
        f'template {{\n  contents = "{{{{ with secret \\"db/creds/tagent\\" }}}}user={{{{ .Data.username }}}}'
        f' renewable={{{{ .Renewable }}}}{{{{ end }}}}"\n  destination = "{out}"\n}}\n'
        "cache {}\napi_proxy { use_auto_auth_token = true }\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    )
    rendered = wait_for(lambda: read_text(out), 15, "the credentials template")
    assert rendered.startswith("user=v-") and rendered.endswith(" renewable=true")

    def get_creds() -> requests.Response:
        return requests.get(f"{proxy}/v1/db/creds/tagent", timeout=10)

    wait_for(lambda: _answers(proxy), 10, "the proxy")
    first, second = get_creds(), get_creds()
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    assert second.headers["X-Cache"] == "HIT"
    assert second.json()["data"]["username"] == first.json()["data"]["username"]
    lease_id = first.json()["lease_id"]
    revoke = requests.put(f"{proxy}/v1/sys/leases/revoke", json={"lease_id": lease_id}, timeout=10)
    assert revoke.status_code == 204
    third = get_creds()
    assert third.headers["X-Cache"] == "MISS"
    assert third.json()["data"]["username"] != first.json()["data"]["username"]


def _answers(addr: str) -> bool:
    try:
        requests.get(f"{addr}/v1/sys/health", timeout=2)
    except requests.RequestException:
        return False
    return True

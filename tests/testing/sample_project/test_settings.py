"""A user's tests against a real Vault API, with no other set-up than the installed plugin."""

from __future__ import annotations

import os

from settings import database_password


def _note(server) -> None:
    """Tell the outer test which servers ran, so it can check they are gone afterwards."""
    with open(os.environ["SERVERS_SEEN"], "a") as out:
        out.write(server.addr + "\n")


def test_reads_the_password(tessera_server, tessera_hvac) -> None:
    _note(tessera_server)
    tessera_hvac.secrets.kv.v2.create_or_update_secret(path="app", secret={"db_password": "s3cret"})
    assert database_password(tessera_hvac) == "s3cret"


def test_the_session_server_is_shared(tessera_server, tessera_hvac) -> None:
    assert tessera_hvac.url == tessera_server.addr
    assert database_password(tessera_hvac) == "s3cret"  # written by the test before


def test_a_fresh_server_is_its_own(tessera_fresh_server, tessera_server) -> None:
    _note(tessera_fresh_server)
    assert tessera_fresh_server.addr != tessera_server.addr
    client = tessera_fresh_server.hvac_client()
    assert client.is_authenticated()
    assert "secret/" in client.sys.list_mounted_secrets_engines()["data"]


def test_sealed_server_on_sqlite(tessera_sealed_server) -> None:
    _note(tessera_sealed_server)
    server = tessera_sealed_server
    assert server.sealed_now and len(server.unseal_keys) == 1
    server.unseal()
    assert not server.sealed_now
    assert server.hvac_client().sys.read_health_status(method="GET")["initialized"] is True

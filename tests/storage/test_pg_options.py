"""storage "postgresql" options as Vault's backend names them (no database needed to parse them)."""

from __future__ import annotations

import pytest

from tessera.storage.pg_options import DEFAULT_MAX_PARALLEL, PostgreSQLOptions


def test_defaults() -> None:
    opts = PostgreSQLOptions.parse({"connection_url": "host=x"})
    assert opts.table == "tessera_kv"
    assert opts.ha_table == "tessera_kv_ha"
    assert not opts.ha_enabled
    assert opts.max_parallel == DEFAULT_MAX_PARALLEL
    assert opts.max_idle_connections == 0


def test_vault_options() -> None:
    opts = PostgreSQLOptions.parse(
        {
            "connection_url": "postgres://u:p@h/db",
            "table": "vault_kv_store",
            "ha_enabled": "true",
            "max_parallel": "16",
            "max_idle_connections": "4",
        }
    )
    assert (opts.table, opts.ha_table, opts.ha_enabled) == ("vault_kv_store", "vault_kv_store_ha", True)
    assert (opts.max_parallel, opts.max_idle_connections) == (16, 4)
    assert PostgreSQLOptions.parse({"connection_url": "x", "ha_table": "locks"}).ha_table == "locks"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, 'needs a "connection_url"'),
        ({"connection_url": "x", "table": "a; drop"}, "invalid table name"),
        ({"connection_url": "x", "ha_table": "1x"}, "invalid table name"),
        ({"connection_url": "x", "ha_enabled": "maybe"}, '"ha_enabled" must be true or false'),
        ({"connection_url": "x", "max_parallel": "many"}, "failed parsing max_parallel parameter"),
        ({"connection_url": "x", "max_parallel": "0"}, "failed parsing max_parallel parameter"),
        ({"connection_url": "x", "max_idle_connections": "-1"}, "failed parsing max_idle_connections"),
    ],
)
def test_bad_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PostgreSQLOptions.parse(options)

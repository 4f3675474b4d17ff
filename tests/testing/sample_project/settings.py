"""The application under test: reads its database password from Vault's KV v2 at ``secret/app``."""

from __future__ import annotations

from typing import Any


def database_password(client: Any) -> str:
    secret = client.secrets.kv.v2.read_secret_version(
        path="app", mount_point="secret", raise_on_deleted_version=True
    )
    return str(secret["data"]["data"]["db_password"])

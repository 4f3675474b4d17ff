"""Replication test set-ups: servers with a cluster address, a secondary activated by its
primary's wrapped token, and the small waits and checks every replication test makes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer, free_port, hcl_config, tessera_on_sqlite


def cluster_extra() -> str:
    return f'cluster_addr = "https://127.0.0.1:{free_port()}"\n'


def on_sqlite(directory: Path) -> TesseraServer:
    directory.mkdir(exist_ok=True)
    return tessera_on_sqlite(directory, extra=cluster_extra())


def on_postgresql(directory: Path, postgres: Postgres, name: str) -> TesseraServer:
    """A Tessera on a fresh PostgreSQL database ``name`` (the caller drops it)."""
    directory.mkdir(exist_ok=True)
    dsn = postgres.create_database(name)
    config = directory / "tessera.hcl"
    config.write_text(
        hcl_config(
            free_port(), storage="postgresql", storage_options={"connection_url": dsn}, extra=cluster_extra()
        )
    )
    return TesseraServer(config=config)


def until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def ok(server: TesseraServer, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
    status, answer, _ = server.call(method, path, json=body, **kw)
    assert status < 400, (method, path, status, answer)
    return answer


def activation_token(primary: TesseraServer, kind: str, secondary_id: str) -> str:
    """A secondary-token from ``primary`` (its replication of ``kind`` enabled first if need be)."""
    base = f"sys/replication/{kind}/primary"
    if ok(primary, "GET", f"sys/replication/{kind}/status")["data"]["mode"] != "primary":
        ok(primary, "POST", f"{base}/enable")
    return str(ok(primary, "POST", f"{base}/secondary-token", {"id": secondary_id})["wrap_info"]["token"])


def make_secondary(primary: TesseraServer, secondary: TesseraServer, kind: str, secondary_id: str) -> None:
    """Activate ``secondary`` with ``primary``; it seals, and is unsealed with the primary's keys."""
    token = activation_token(primary, kind, secondary_id)
    body = {"token": token, "primary_api_addr": primary.addr}
    ok(secondary, "POST", f"sys/replication/{kind}/secondary/enable", body)
    until("the secondary to seal", lambda: secondary.seal_status()["sealed"])
    secondary.unseal(primary.keys)


def caught_up(primary: TesseraServer, secondary: TesseraServer, kind: str = "performance") -> bool:
    """The secondary has applied the primary's whole log and their hashes agree."""
    mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"][kind]
    theirs = primary.call("GET", "sys/replication/status", auth=False)[1]["data"][kind]
    return (mine.get("last_remote_wal"), mine.get("merkle_root")) == (
        theirs["last_wal"],
        theirs["merkle_root"],
    )


def batch_token(server: TesseraServer, policy_name: str, policy: str) -> str:
    """An orphan batch token of a policy written first: usable on every cluster of the set."""
    ok(server, "PUT", f"sys/policies/acl/{policy_name}", {"policy": policy})
    body = {"type": "batch", "no_parent": True, "policies": [policy_name], "ttl": "1h"}
    return str(ok(server, "POST", "auth/token/create", body)["auth"]["client_token"])

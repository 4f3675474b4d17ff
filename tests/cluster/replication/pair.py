"""Replication test set-ups: servers with a cluster address (a primary's replication listener is
there), a primary and a secondary to be started together, a secondary activated by its primary's
wrapped token, and the checks every replication test makes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.servers import TesseraServer, free_port, hcl_config, tessera_on_sqlite
from tests.helpers.waiting import until

P = "sys/replication/performance"
READER = 'path "kv/*" { capabilities = ["read"] }'


def cluster_addr() -> str:
    """A config line: a cluster address on a free port (a primary's replication listener is there)."""
    return f'cluster_addr = "https://127.0.0.1:{free_port()}"\n'


def on_sqlite(directory: Path, extra: str = "") -> TesseraServer:
    """A Tessera on SQLite in ``directory``, with a cluster address (it may become a primary)."""
    directory.mkdir(exist_ok=True)
    return tessera_on_sqlite(directory, extra=cluster_addr() + extra)


def on_postgresql(directory: Path, dsn: str) -> TesseraServer:
    """A Tessera on the PostgreSQL database at ``dsn``, with a cluster address."""
    directory.mkdir(exist_ok=True)
    config = directory / "tessera.hcl"
    options = {"connection_url": dsn}
    config.write_text(
        hcl_config(free_port(), storage="postgresql", storage_options=options, extra=cluster_addr())
    )
    return TesseraServer(config=config)


@contextmanager
def started(*servers: TesseraServer) -> Iterator[tuple[TesseraServer, ...]]:
    """``servers`` started, initialised and unsealed (each its own keys); removed afterwards."""
    try:
        for server in servers:
            server.start()
            server.init()
            server.unseal()
        yield servers
    finally:
        for server in servers:
            server.cleanup()


@contextmanager
def started_pair(
    tmp_path: Path, primary_extra: str = "", secondary: TesseraServer | None = None
) -> Iterator[tuple[TesseraServer, TesseraServer]]:
    """The primary on SQLite in ``tmp_path/p`` (``primary_extra``: more config lines), and
    ``secondary`` (by default on SQLite in ``tmp_path/s``), each started, initialised and unsealed;
    both removed afterwards."""
    (tmp_path / "s").mkdir(exist_ok=True)
    primary = on_sqlite(tmp_path / "p", primary_extra)
    with started(primary, secondary or tessera_on_sqlite(tmp_path / "s")) as servers:
        yield servers[0], servers[1]


def kv_and_reader(primary: TesseraServer, key: str, value: str) -> None:
    """A kv v1 mount at ``kv/`` holding ``key``, and a policy ``reader`` that reads it."""
    primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
    primary.ok("PUT", f"kv/{key}", {"v": value})
    primary.ok("PUT", "sys/policies/acl/reader", {"policy": READER})


def activation_token(primary: TesseraServer, kind: str, secondary_id: str) -> str:
    """A secondary-token from ``primary`` (its replication of ``kind`` enabled first if need be)."""
    base = f"sys/replication/{kind}/primary"
    if primary.ok("GET", f"sys/replication/{kind}/status")["data"]["mode"] != "primary":
        primary.ok("POST", f"{base}/enable")
    return str(primary.ok("POST", f"{base}/secondary-token", {"id": secondary_id})["wrap_info"]["token"])


def make_secondary(primary: TesseraServer, secondary: TesseraServer, kind: str, secondary_id: str) -> None:
    """Activate ``secondary`` with ``primary``; it seals, and is unsealed with the primary's keys."""
    token = activation_token(primary, kind, secondary_id)
    body = {"token": token, "primary_api_addr": primary.addr}
    secondary.ok("POST", f"sys/replication/{kind}/secondary/enable", body)
    until(lambda: secondary.seal_status()["sealed"], "the secondary to seal", 20.0)
    secondary.unseal(primary.keys)


def activate_ha_secondary(
    primary: TesseraServer, enabled: TesseraServer, other: TesseraServer, kind: str, secondary_id: str
) -> None:
    """An HA cluster made ``primary``'s secondary through its active node ``enabled``: both nodes
    seal (the other finds a keyring its root key cannot open); the caller unseals them with the
    primary's keys, in any order (until the enabled node's unseal saves the new state, a marker
    keeps the other from leading: ``replication/pending.py``)."""
    body = {"token": activation_token(primary, kind, secondary_id), "primary_api_addr": primary.addr}
    enabled.ok("POST", f"sys/replication/{kind}/secondary/enable", body)
    until(lambda: enabled.seal_status()["sealed"], "the enabled node to seal", 20.0)
    until(lambda: other.seal_status()["sealed"], "the other node to seal", 20.0)


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
    server.ok("PUT", f"sys/policies/acl/{policy_name}", {"policy": policy})
    body = {"type": "batch", "no_parent": True, "policies": [policy_name], "ttl": "1h"}
    return str(server.ok("POST", "auth/token/create", body)["auth"]["client_token"])

"""A primary and a secondary to be, for the replication tests: two servers, initialised and unsealed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.servers import TesseraServer, free_port, tessera_on_sqlite

P = "sys/replication/performance"
READER = 'path "kv/*" { capabilities = ["read"] }'


def cluster_addr() -> str:
    """A config line: a cluster address on a free port (a primary's replication listener is there)."""
    return f'cluster_addr = "https://127.0.0.1:{free_port()}"\n'


@contextmanager
def started_pair(
    tmp_path: Path, primary_extra: str = "", secondary: TesseraServer | None = None
) -> Iterator[tuple[TesseraServer, TesseraServer]]:
    """The primary on SQLite in ``tmp_path/p`` (``primary_extra``: more config lines), and
    ``secondary`` (by default on SQLite in ``tmp_path/s``), each started, initialised and unsealed;
    both removed afterwards."""
    (tmp_path / "p").mkdir(exist_ok=True)
    (tmp_path / "s").mkdir(exist_ok=True)
    primary = tessera_on_sqlite(tmp_path / "p", extra=cluster_addr() + primary_extra)
    secondary = secondary or tessera_on_sqlite(tmp_path / "s")
    try:
        for server in (primary, secondary):
            server.start()
            server.init()
            server.unseal()
        yield primary, secondary
    finally:
        primary.cleanup()
        secondary.cleanup()


def kv_and_reader(primary: TesseraServer, key: str, value: str) -> None:
    """A kv v1 mount at ``kv/`` holding ``key``, and a policy ``reader`` that reads it."""
    primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
    primary.ok("PUT", f"kv/{key}", {"v": value})
    primary.ok("PUT", "sys/policies/acl/reader", {"policy": READER})

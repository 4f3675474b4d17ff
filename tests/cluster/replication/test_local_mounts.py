"""``-local`` mounts: kept in their own tables (Vault's core/local-mounts), listed as ``local``."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.replication.cli import tessera_cli
from tests.helpers.servers import tessera_on_sqlite


def _replication(listing: str, path: str) -> str:
    """The Replication column of ``path``'s row (columns are aligned under the header)."""
    lines = listing.splitlines()
    start = lines[0].index("Replication")
    line = next(line for line in lines if line.startswith(path + " "))
    return line[start:].split()[0]


def test_local_mounts_survive_a_restart_and_list_as_local(tmp_path: Path) -> None:
    server = tessera_on_sqlite(tmp_path)
    try:
        server.start()
        server.init()
        server.unseal()
        assert tessera_cli(server, "secrets", "enable", "-local", "-path=lkv", "kv").returncode == 0
        assert tessera_cli(server, "secrets", "enable", "-path=skv", "kv").returncode == 0
        assert tessera_cli(server, "auth", "enable", "-local", "-path=lup", "userpass").returncode == 0
        assert server.call("PUT", "lkv/a", json={"x": "1"})[0] == 204
        server.restart()
        server.unseal()
        assert server.call("GET", "lkv/a")[1]["data"] == {"x": "1"}
        status, mounts, _ = server.call("GET", "sys/mounts")
        assert status == 200 and mounts["data"]["lkv/"]["local"] is True
        assert mounts["data"]["skv/"]["local"] is False and mounts["data"]["cubbyhole/"]["local"] is True

        listing = tessera_cli(server, "secrets", "list", "-detailed")
        assert listing.returncode == 0, listing.stderr
        assert _replication(listing.stdout, "lkv/") == "local"
        assert _replication(listing.stdout, "skv/") == "replicated"
        assert _replication(listing.stdout, "cubbyhole/") == "local"
        auths = tessera_cli(server, "auth", "list", "-detailed")
        assert auths.returncode == 0, auths.stderr
        assert _replication(auths.stdout, "lup/") == "local"
        assert _replication(auths.stdout, "token/") == "replicated"
    finally:
        server.cleanup()

"""Paths filters: a filtered mount stays on the primary alone, for one performance secondary.

Real servers on SQLite: the primary leaves the filtered mounts' data out of that secondary's stream
and snapshots and their entries out of the mount tables it sends; the secondary's hash matches the
primary's view of it; a changed filter reaches a connected secondary (the data removed or added by
a new copy); drift on the secondary is found by the same comparison and repaired.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.cluster.replication.pair import on_sqlite, started
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

P = "sys/replication/performance"
F = f"{P}/primary/paths-filter"
ADMIN = 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'
ZERO_EPOCH = "-62135596800"


def _keys_under(db: Path, prefix: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM entries WHERE key >= ? AND key < ?", (prefix, prefix + "\xff")
        )
        return int(row.fetchone()[0])


def _status(secondary: TesseraServer) -> dict[str, Any]:
    return secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]  # type: ignore[no-any-return]


def _in_sync(primary: TesseraServer, secondary: TesseraServer, since: float) -> bool:
    """The secondary reached the primary's index and compared hashes (after ``since``): equal."""
    mine, theirs = _status(secondary), primary.ok("GET", f"{P}/status")["data"]
    return (
        mine["last_remote_wal"] == theirs["last_wal"]
        and int(mine["last_corruption_check_epoch"]) >= int(since)
        and mine["corrupted_merkle_tree"] is False
    )


def _copies(secondary: TesseraServer) -> int:
    return secondary.output().count("copying its data again")


def test_filter_api_validation(tmp_path: Path) -> None:
    with started(on_sqlite(tmp_path)) as (server,):
        status, body, _ = server.call("POST", f"{F}/perf-1", json={"mode": "deny", "paths": ["kv/"]})
        assert status == 400 and body["errors"] == ["this cluster is not a performance primary"]
        server.ok("POST", f"{P}/primary/enable")
        for payload, error in (
            ({"mode": "bogus", "paths": ["kv/"]}, 'invalid mode "bogus": must be "allow" or "deny"'),
            ({"mode": "deny"}, "paths must be given: the mounts to allow or deny"),
            (
                {"mode": "deny", "paths": ["sys"]},
                'path "sys/" cannot be filtered: system mounts always replicate',
            ),
            (
                {"paths": ["auth/token/"]},
                'path "auth/token/" cannot be filtered: system mounts always replicate',
            ),
        ):
            status, body, _ = server.call("POST", f"{F}/perf-1", json=payload)
            assert (status, body) == (400, {"errors": [error]}), payload
        assert server.call("GET", f"{F}/perf-1")[0] == 404
        server.ok("POST", f"{F}/perf-1", {"paths": "b/,a, a/"})  # mode defaults to allow
        assert server.ok("GET", f"{F}/perf-1")["data"] == {"mode": "allow", "paths": ["a/", "b/"]}
        server.ok("POST", f"{F}/perf-1", {"mode": "blacklist", "paths": ["auth/up"]})  # Vault's old name
        assert server.ok("GET", f"{F}/perf-1")["data"] == {"mode": "deny", "paths": ["auth/up/"]}
        assert server.call("DELETE", f"{F}/perf-1")[0] == 204
        assert server.call("GET", f"{F}/perf-1")[0] == 404
        assert server.call("DELETE", f"{F}/perf-1")[0] == 204


def test_filtered_mounts_stay_on_the_primary_and_filter_changes_reach_the_secondary(tmp_path: Path) -> None:
    primary, secondary = on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")
    db = tmp_path / "s" / "t.db"
    with started(primary, secondary):
        for path in ("pub", "priv"):
            primary.ok("POST", f"sys/mounts/{path}", {"type": "kv"})
            primary.ok("PUT", f"{path}/a", {"v": path})
        primary.ok("POST", "sys/auth/up", {"type": "userpass"})
        primary.ok("PUT", "sys/policies/acl/admin", {"policy": ADMIN})
        body = {"type": "batch", "no_parent": True, "policies": ["admin"], "ttl": "2h"}
        admin = primary.ok("POST", "auth/token/create", body)["auth"]["client_token"]
        uuids = {m: e["uuid"] for m, e in primary.ok("GET", "sys/mounts")["data"].items() if "uuid" in e}
        priv, pub = f"logical/{uuids['priv/']}/", f"logical/{uuids['pub/']}/"
        primary.ok("POST", f"{P}/primary/enable")
        # Set before the secondary exists: its first copy already leaves the mounts out.
        primary.ok("POST", f"{F}/perf-1", {"mode": "deny", "paths": ["priv/", "auth/up/"]})
        token = primary.ok("POST", f"{P}/primary/secondary-token", {"id": "perf-1"})["wrap_info"]["token"]
        start = time.time()
        secondary.ok("POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
        until(lambda: secondary.seal_status()["sealed"], "the secondary to seal", 20.0)
        secondary.unseal(primary.keys)

        def read(path: str) -> int:
            return int(secondary.call("GET", path, token=admin)[0])

        assert secondary.call("GET", "pub/a", token=admin)[1]["data"] == {"v": "pub"}
        assert read("priv/a") == 404
        assert "priv/" not in secondary.ok("GET", "sys/mounts", token=admin)["data"]
        assert "up/" not in secondary.ok("GET", "sys/auth", token=admin)["data"]
        until(lambda: _in_sync(primary, secondary, start), "the hashes to be compared and match", 20.0)
        copies = _copies(secondary)

        # New writes to a filtered mount stay on the primary; the others stream.
        primary.ok("PUT", "priv/b", {"v": "b"})
        primary.ok("PUT", "pub/b", {"v": "b"})
        until(lambda: read("pub/b") == 200, "pub/b to arrive", 20.0)
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync", 20.0)
        assert _keys_under(db, priv) == 0 and _keys_under(db, pub) > 0
        assert _copies(secondary) == copies  # streaming alone kept the hashes equal

        # The primary restarted: it still sends the same filtered tables, no copy is needed.
        primary.restart()
        primary.unseal()
        primary.ok("PUT", "pub/c", {"v": "c"})
        until(lambda: read("pub/c") == 200, "pub/c to arrive", 20.0)
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync after the primary's restart", 20.0)
        assert _copies(secondary) == copies

        # Allow mode naming pub/ and priv/: priv/ comes (by a new copy), auth/up/ stays out.
        primary.ok("POST", f"{F}/perf-1", {"mode": "allow", "paths": ["pub/", "priv/"]})
        until(lambda: read("priv/b") == 200, "priv/ to arrive", 20.0)
        assert secondary.call("GET", "priv/a", token=admin)[1]["data"] == {"v": "priv"}
        assert "up/" not in secondary.ok("GET", "sys/auth", token=admin)["data"]
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync with the allow filter", 20.0)

        # The filter deleted: everything replicates.
        assert primary.call("DELETE", f"{F}/perf-1")[0] == 204
        until(
            lambda: "up/" in secondary.ok("GET", "sys/auth", token=admin)["data"], "auth/up/ to arrive", 20.0
        )
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync unfiltered", 20.0)
        mine, theirs = _status(secondary), primary.ok("GET", f"{P}/status")["data"]
        assert mine["merkle_root"] == theirs["merkle_root"]  # unfiltered: the primary's own hash

        # pub/ denied: its data leaves the secondary's storage, its mount its tables.
        primary.ok("POST", f"{F}/perf-1", {"mode": "deny", "paths": ["pub"]})
        until(lambda: read("pub/a") == 404, "pub/ to go", 20.0)
        until(lambda: _keys_under(db, pub) == 0, "pub/'s data to be deleted", 20.0)
        assert _keys_under(db, priv) > 0
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync with pub/ denied", 20.0)
        # A local mount of the secondary's own may take the filtered path.
        secondary.ok("POST", "sys/mounts/pub", {"type": "kv", "local": True}, token=admin)
        secondary.ok("PUT", "pub/mine", {"v": "m"}, token=admin)
        assert secondary.call("GET", "pub/mine", token=admin)[1]["data"] == {"v": "m"}
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync with a local mount", 20.0)
        local = "logical/" + secondary.ok("GET", "sys/mounts", token=admin)["data"]["pub/"]["uuid"] + "/"
        assert _keys_under(db, local) > 0
        secondary.ok("DELETE", "sys/mounts/pub", token=admin)  # its data is its own to delete
        assert _keys_under(db, local) == 0 and read("pub/mine") == 404


def test_drift_on_the_secondary_is_found_and_repaired(tmp_path: Path) -> None:
    primary, secondary = on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")
    with started(primary, secondary):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        primary.ok("PUT", "kv/a", {"v": "1"})
        primary.ok("PUT", "sys/policies/acl/admin", {"policy": ADMIN})
        body = {"type": "batch", "no_parent": True, "policies": ["admin"], "ttl": "2h"}
        admin = primary.ok("POST", "auth/token/create", body)["auth"]["client_token"]
        kv = "logical/" + primary.ok("GET", "sys/mounts")["data"]["kv/"]["uuid"] + "/"
        primary.ok("POST", f"{P}/primary/enable")
        token = primary.ok("POST", f"{P}/primary/secondary-token", {"id": "perf-1"})["wrap_info"]["token"]
        start = time.time()
        secondary.ok("POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
        until(lambda: secondary.seal_status()["sealed"], "the secondary to seal", 20.0)
        secondary.unseal(primary.keys)
        until(lambda: _in_sync(primary, secondary, start), "in sync", 20.0)

        secondary.stop()
        with sqlite3.connect(tmp_path / "s" / "t.db") as conn:  # a replicated key lost behind its back
            assert conn.execute("DELETE FROM entries WHERE key = ?", (kv + "a",)).rowcount == 1
        secondary.start()
        secondary.unseal(primary.keys)
        until(lambda: secondary.call("GET", "kv/a", token=admin)[0] == 200, "the key to be restored", 20.0)
        assert "the primary expects" in secondary.output()
        mark = time.time()
        until(lambda: _in_sync(primary, secondary, mark), "in sync again", 20.0)
        assert _status(secondary)["merkle_root"] == primary.ok("GET", f"{P}/status")["data"]["merkle_root"]

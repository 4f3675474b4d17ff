"""A performance secondary in a second Tessera process: activated by the primary's wrapped token,
it copies the primary, unseals with the primary's keys and follows its log over mutual TLS."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.cluster.replication.servers import caught_up, ok, until
from tests.helpers.servers import free_port, tessera_on_sqlite

P = "sys/replication/performance"


def test_kv_written_on_the_primary_is_read_on_the_secondary(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "s").mkdir()
    primary = tessera_on_sqlite(tmp_path / "p", extra=f'cluster_addr = "https://127.0.0.1:{free_port()}"\n')
    secondary = tessera_on_sqlite(tmp_path / "s")
    try:
        for server in (primary, secondary):
            server.start()
            server.init()
            server.unseal()
        ok(primary, "POST", "sys/mounts/kv", {"type": "kv"})
        ok(primary, "PUT", "kv/before", {"v": "1"})
        ok(primary, "PUT", "sys/policies/acl/reader", {"policy": 'path "kv/*" { capabilities = ["read"] }'})
        batch = ok(
            primary, "POST", "auth/token/create", {"type": "batch", "no_parent": True, "policies": ["reader"]}
        )
        orphan_batch = batch["auth"]["client_token"]
        service = ok(primary, "POST", "auth/token/create", {"policies": ["reader"]})["auth"]["client_token"]
        child = ok(primary, "POST", "auth/token/create", {"type": "batch", "policies": ["reader"]})
        non_orphan_batch = child["auth"]["client_token"]
        ok(primary, "POST", f"{P}/primary/enable")
        token = ok(primary, "POST", f"{P}/primary/secondary-token", {"id": "perf-1"})["wrap_info"]["token"]

        # A wrong token is refused and nothing is applied.
        status, body, _ = secondary.call(
            "POST", f"{P}/secondary/enable", json={"token": "hvs.nope", "primary_api_addr": primary.addr}
        )
        assert status == 400 and "unwrapping the activation token" in body["errors"][0]
        assert secondary.call("GET", f"{P}/status")[1]["data"] == {"mode": "disabled"}

        answer = ok(
            secondary, "POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr}
        )
        assert any("primary's unseal keys" in w for w in answer["warnings"])
        until("the secondary to seal", lambda: secondary.seal_status()["sealed"])
        secondary.unseal(primary.keys)

        assert secondary.call("GET", "kv/before", token=orphan_batch)[1]["data"] == {"v": "1"}
        assert secondary.call("GET", "kv/before", token=service)[0] == 403  # local to the primary
        # A batch token with a parent is checked against its parent, a service token the secondary lacks.
        assert primary.call("GET", "kv/before", token=non_orphan_batch)[0] == 200
        assert secondary.call("GET", "kv/before", token=non_orphan_batch)[0] == 403
        ok(primary, "PUT", "kv/after", {"v": "2"})
        until("the write to arrive", lambda: secondary.call("GET", "kv/after", token=orphan_batch)[0] == 200)
        assert secondary.call("GET", "kv/after", token=orphan_batch)[1]["data"] == {"v": "2"}

        rows = ok(primary, "GET", f"{P}/status")["data"]
        assert rows["known_secondaries"] == ["perf-1"]
        assert [s["node_id"] for s in rows["secondaries"]] == ["perf-1"]
        assert rows["secondaries"][0]["connection_status"] == "connected"

        def matched() -> dict[str, Any] | None:
            mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
            theirs = ok(primary, "GET", f"{P}/status")["data"]
            same = (mine["last_remote_wal"], mine["merkle_root"]) == (
                theirs["last_wal"],
                theirs["merkle_root"],
            )
            return mine if same else None

        mine = until("the secondary's hash to match the primary's", matched)
        assert (
            mine["mode"] == "secondary"
            and mine["secondary_id"] == "perf-1"
            and mine["state"] == "stream-wals"
        )
        assert mine["primaries"][0]["connection_status"] == "connected"
        health = secondary.call("GET", "sys/health", auth=False)[1]
        assert health["replication_performance_mode"] == "secondary"

        # A write of replicated data on the secondary is the primary's (test_forwarding.py has more).
        ok(primary, "PUT", "sys/policies/acl/writer", {"policy": 'path "kv/*" { capabilities = ["update"] }'})
        writer = ok(
            primary, "POST", "auth/token/create", {"type": "batch", "no_parent": True, "policies": ["writer"]}
        )
        until("the policy to arrive", matched)
        status, body, _ = secondary.call(
            "PUT", "kv/before", json={"v": "changed"}, token=writer["auth"]["client_token"]
        )
        assert status == 204, body
        assert ok(primary, "GET", "kv/before")["data"] == {"v": "changed"}
        assert secondary.call("GET", "kv/before", token=orphan_batch)[1]["data"] == {"v": "changed"}
        until("the hashes to match after the forwarded write", matched)

        # A restart resumes the stream from the index kept behind the barrier.
        secondary.restart()
        secondary.unseal(primary.keys)
        ok(primary, "PUT", "kv/third", {"v": "3"})
        until("the stream to resume", lambda: secondary.call("GET", "kv/third", token=orphan_batch)[0] == 200)
        until("the hashes to match again", matched)

        # A revoked secondary is refused by the primary's listener: its stream stops advancing.
        ok(primary, "POST", f"{P}/primary/revoke-secondary", {"id": "perf-1"})
        ok(primary, "PUT", "kv/fourth", {"v": "4"})
        # The id issued again makes a new certificate: the revoked one stays refused.
        ok(primary, "POST", f"{P}/primary/secondary-token", {"id": "perf-1"})
        time.sleep(1.0)
        assert secondary.call("GET", "kv/fourth", token=orphan_batch)[0] == 404
        mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
        assert mine["connection_state"] == "connecting"
    finally:
        primary.cleanup()
        secondary.cleanup()


def test_a_secondary_behind_the_log_comes_back_through_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "s").mkdir()
    extra = f'cluster_addr = "https://127.0.0.1:{free_port()}"\nreplication_log_retention = 5\n'
    primary = tessera_on_sqlite(tmp_path / "p", extra=extra)
    secondary = tessera_on_sqlite(tmp_path / "s")
    try:
        for server in (primary, secondary):
            server.start()
            server.init()
            server.unseal()
        ok(primary, "POST", "sys/mounts/kv", {"type": "kv"})
        ok(primary, "PUT", "kv/gone", {"v": "0"})
        ok(primary, "PUT", "sys/policies/acl/reader", {"policy": 'path "kv/*" { capabilities = ["read"] }'})
        body = {"type": "batch", "no_parent": True, "policies": ["reader"]}
        reader = ok(primary, "POST", "auth/token/create", body)["auth"]["client_token"]
        admin_policy = 'path "sys/replication/*" { capabilities = ["read", "update"] }\n'
        admin_policy += 'path "kv/*" { capabilities = ["create", "update", "read"] }\n'
        ok(primary, "PUT", "sys/policies/acl/admin", {"policy": admin_policy})
        body = {"type": "batch", "no_parent": True, "policies": ["admin"], "ttl": "1h"}
        admin = ok(primary, "POST", "auth/token/create", body)["auth"]["client_token"]
        ok(primary, "POST", f"{P}/primary/enable")
        token = ok(primary, "POST", f"{P}/primary/secondary-token", {"id": "late"})["wrap_info"]["token"]
        ok(secondary, "POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
        until("the secondary to seal", lambda: secondary.seal_status()["sealed"])
        secondary.unseal(primary.keys)
        assert secondary.call("GET", "kv/gone", token=reader)[1]["data"] == {"v": "0"}

        secondary.stop()
        for i in range(12):  # more records than the primary keeps
            ok(primary, "PUT", f"kv/k{i}", {"v": i})
        ok(primary, "DELETE", "kv/gone")
        secondary.start()
        secondary.unseal(primary.keys)
        until("the copy to arrive", lambda: secondary.call("GET", "kv/k11", token=reader)[0] == 200)
        assert secondary.call("GET", "kv/k0", token=reader)[1]["data"] == {"v": 0}
        assert secondary.call("GET", "kv/gone", token=reader)[0] == 404
        until("the hashes to match", lambda: caught_up(primary, secondary))
        mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
        assert mine["state"] == "stream-wals"
        assert "fell behind the primary's log" in secondary.output()
        ok(primary, "PUT", "kv/after", {"v": "a"})
        until("streaming again", lambda: secondary.call("GET", "kv/after", token=reader)[0] == 200)

        # Disabled, the secondary keeps its copy, stops following, and takes writes of its own.
        assert secondary.call("POST", f"{P}/secondary/disable", token=reader)[0] == 403
        # (the primary's root token is a service token: local to the primary, unknown here)
        assert secondary.call("POST", f"{P}/secondary/disable", token=primary.root_token)[0] == 403
        answer = ok(secondary, "POST", f"{P}/secondary/disable", token=admin)
        assert answer["warnings"] and secondary.call("GET", f"{P}/status", auth=False)[0] == 403
        assert ok(secondary, "GET", f"{P}/status", token=admin)["data"] == {"mode": "disabled"}
        ok(primary, "PUT", "kv/not-followed", {"v": "b"})
        ok(secondary, "PUT", "kv/mine", {"v": "c"}, token=admin)
        time.sleep(1.0)
        assert secondary.call("GET", "kv/not-followed", token=reader)[0] == 404
        assert secondary.call("GET", "kv/after", token=reader)[1]["data"] == {"v": "a"}
    finally:
        primary.cleanup()
        secondary.cleanup()

"""A performance secondary in a second Tessera process: activated by the primary's wrapped token,
it copies the primary, unseals with the primary's keys and follows its log over mutual TLS."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.cluster.replication.pair import P, caught_up, kv_and_reader, started_pair
from tests.helpers.waiting import until


def test_kv_written_on_the_primary_is_read_on_the_secondary(tmp_path: Path) -> None:
    with started_pair(tmp_path) as (primary, secondary):
        kv_and_reader(primary, "before", "1")
        batch = primary.ok(
            "POST", "auth/token/create", {"type": "batch", "no_parent": True, "policies": ["reader"]}
        )
        orphan_batch = batch["auth"]["client_token"]
        service = primary.ok("POST", "auth/token/create", {"policies": ["reader"]})["auth"]["client_token"]
        child = primary.ok("POST", "auth/token/create", {"type": "batch", "policies": ["reader"]})
        non_orphan_batch = child["auth"]["client_token"]
        primary.ok("POST", f"{P}/primary/enable")
        token = primary.ok("POST", f"{P}/primary/secondary-token", {"id": "perf-1"})["wrap_info"]["token"]

        # A wrong token is refused and nothing is applied.
        status, body, _ = secondary.call(
            "POST", f"{P}/secondary/enable", json={"token": "hvs.nope", "primary_api_addr": primary.addr}
        )
        assert status == 400 and "unwrapping the activation token" in body["errors"][0]
        assert secondary.call("GET", f"{P}/status")[1]["data"] == {"mode": "disabled"}

        answer = secondary.ok(
            "POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr}
        )
        assert any("primary's unseal keys" in w for w in answer["warnings"])
        until(lambda: secondary.seal_status()["sealed"], "the secondary to seal", 20.0)
        secondary.unseal(primary.keys)

        assert secondary.call("GET", "kv/before", token=orphan_batch)[1]["data"] == {"v": "1"}
        assert secondary.call("GET", "kv/before", token=service)[0] == 403  # local to the primary
        # A batch token with a parent is checked against its parent, a service token the secondary lacks.
        assert primary.call("GET", "kv/before", token=non_orphan_batch)[0] == 200
        assert secondary.call("GET", "kv/before", token=non_orphan_batch)[0] == 403
        primary.ok("PUT", "kv/after", {"v": "2"})
        until(
            lambda: secondary.call("GET", "kv/after", token=orphan_batch)[0] == 200,
            "the write to arrive",
            20.0,
        )
        assert secondary.call("GET", "kv/after", token=orphan_batch)[1]["data"] == {"v": "2"}

        rows = primary.ok("GET", f"{P}/status")["data"]
        assert rows["known_secondaries"] == ["perf-1"]
        assert [s["node_id"] for s in rows["secondaries"]] == ["perf-1"]
        assert rows["secondaries"][0]["connection_status"] == "connected"

        def matched() -> dict[str, Any] | None:
            mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
            theirs = primary.ok("GET", f"{P}/status")["data"]
            same = (mine["last_remote_wal"], mine["merkle_root"]) == (
                theirs["last_wal"],
                theirs["merkle_root"],
            )
            return mine if same else None

        mine = until(matched, "the secondary's hash to match the primary's", 20.0)
        assert mine["corrupted_merkle_tree"] is False
        assert (
            mine["mode"] == "secondary"
            and mine["secondary_id"] == "perf-1"
            and mine["state"] == "stream-wals"
        )
        assert mine["primaries"][0]["connection_status"] == "connected"
        health = secondary.call("GET", "sys/health", auth=False)[1]
        assert health["replication_performance_mode"] == "secondary"

        # A write of replicated data on the secondary is the primary's (test_forwarding.py has more).
        primary.ok("PUT", "sys/policies/acl/writer", {"policy": 'path "kv/*" { capabilities = ["update"] }'})
        writer = primary.ok(
            "POST", "auth/token/create", {"type": "batch", "no_parent": True, "policies": ["writer"]}
        )
        until(matched, "the policy to arrive", 20.0)
        status, body, _ = secondary.call(
            "PUT", "kv/before", json={"v": "changed"}, token=writer["auth"]["client_token"]
        )
        assert status == 204, body
        assert primary.ok("GET", "kv/before")["data"] == {"v": "changed"}
        assert secondary.call("GET", "kv/before", token=orphan_batch)[1]["data"] == {"v": "changed"}
        until(matched, "the hashes to match after the forwarded write", 20.0)

        # A restart resumes the stream from the index kept behind the barrier.
        secondary.restart()
        secondary.unseal(primary.keys)
        primary.ok("PUT", "kv/third", {"v": "3"})
        until(
            lambda: secondary.call("GET", "kv/third", token=orphan_batch)[0] == 200,
            "the stream to resume",
            20.0,
        )
        until(matched, "the hashes to match again", 20.0)

        assert "the primary expects" not in secondary.output()  # streaming alone kept the hashes equal

        # A revoked secondary is refused by the primary's listener: its stream stops advancing.
        primary.ok("POST", f"{P}/primary/revoke-secondary", {"id": "perf-1"})
        primary.ok("PUT", "kv/fourth", {"v": "4"})
        # The id issued again makes a new certificate: the revoked one stays refused.
        primary.ok("POST", f"{P}/primary/secondary-token", {"id": "perf-1"})
        time.sleep(1.0)
        assert secondary.call("GET", "kv/fourth", token=orphan_batch)[0] == 404
        mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
        assert mine["connection_state"] == "connecting"


def test_a_secondary_behind_the_log_comes_back_through_a_snapshot(tmp_path: Path) -> None:
    with started_pair(tmp_path, "replication_log_retention = 5\n") as (primary, secondary):
        kv_and_reader(primary, "gone", "0")
        body = {"type": "batch", "no_parent": True, "policies": ["reader"]}
        reader = primary.ok("POST", "auth/token/create", body)["auth"]["client_token"]
        admin_policy = 'path "sys/replication/*" { capabilities = ["read", "update"] }\n'
        admin_policy += 'path "kv/*" { capabilities = ["create", "update", "read"] }\n'
        primary.ok("PUT", "sys/policies/acl/admin", {"policy": admin_policy})
        body = {"type": "batch", "no_parent": True, "policies": ["admin"], "ttl": "1h"}
        admin = primary.ok("POST", "auth/token/create", body)["auth"]["client_token"]
        primary.ok("POST", f"{P}/primary/enable")
        token = primary.ok("POST", f"{P}/primary/secondary-token", {"id": "late"})["wrap_info"]["token"]
        secondary.ok("POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
        until(lambda: secondary.seal_status()["sealed"], "the secondary to seal", 20.0)
        secondary.unseal(primary.keys)
        assert secondary.call("GET", "kv/gone", token=reader)[1]["data"] == {"v": "0"}

        secondary.stop()
        for i in range(12):  # more records than the primary keeps
            primary.ok("PUT", f"kv/k{i}", {"v": i})
        primary.ok("DELETE", "kv/gone")
        secondary.start()
        secondary.unseal(primary.keys)
        until(lambda: secondary.call("GET", "kv/k11", token=reader)[0] == 200, "the copy to arrive", 20.0)
        assert secondary.call("GET", "kv/k0", token=reader)[1]["data"] == {"v": 0}
        assert secondary.call("GET", "kv/gone", token=reader)[0] == 404
        until(lambda: caught_up(primary, secondary), "the hashes to match", 20.0)
        mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
        assert mine["state"] == "stream-wals"
        assert "fell behind the primary's log" in secondary.output()
        primary.ok("PUT", "kv/after", {"v": "a"})
        until(lambda: secondary.call("GET", "kv/after", token=reader)[0] == 200, "streaming again", 20.0)

        # Disabled, the secondary keeps its copy, stops following, and takes writes of its own.
        assert secondary.call("POST", f"{P}/secondary/disable", token=reader)[0] == 403
        # (the primary's root token is a service token: local to the primary, unknown here)
        assert secondary.call("POST", f"{P}/secondary/disable", token=primary.root_token)[0] == 403
        answer = secondary.ok("POST", f"{P}/secondary/disable", token=admin)
        assert answer["warnings"] and secondary.call("GET", f"{P}/status", auth=False)[0] == 403
        assert secondary.ok("GET", f"{P}/status", token=admin)["data"] == {"mode": "disabled"}
        primary.ok("PUT", "kv/not-followed", {"v": "b"})
        secondary.ok("PUT", "kv/mine", {"v": "c"}, token=admin)
        time.sleep(1.0)
        assert secondary.call("GET", "kv/not-followed", token=reader)[0] == 404
        assert secondary.call("GET", "kv/after", token=reader)[1]["data"] == {"v": "a"}

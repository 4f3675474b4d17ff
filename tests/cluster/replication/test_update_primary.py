"""``secondary/update-primary``: a secondary re-activated with another token of a primary, without a
wipe; the DR one authorised by ``dr_operation_token``; wrong, expired or doubled input refused with
nothing changed; a blank token forgets the primary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.cluster.replication.pair import batch_token, caught_up, make_secondary, on_sqlite, started
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

D = "sys/replication/dr"
OPERATIONS = 'path "sys/replication/dr/secondary/*" { capabilities = ["update"] }\n'


def _dr_status(server: TesseraServer) -> dict[str, Any]:
    return dict(server.call("GET", f"{D}/status", auth=False)[1]["data"])


def test_a_dr_secondary_takes_a_new_activation_token(tmp_path: Path) -> None:
    primary, secondary = on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")
    with started(primary, secondary):
        operations = batch_token(primary, "dr-ops", OPERATIONS)
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        make_secondary(primary, secondary, "dr", "dr-1")
        until(lambda: caught_up(primary, secondary, "dr"), "the DR secondary to catch up", 20.0)

        def update(token: str, **extra: Any) -> tuple[int, Any]:
            body = {"token": token, "primary_api_addr": primary.addr, **extra}
            status, answer, _ = secondary.call("POST", f"{D}/secondary/update-primary", json=body, auth=False)
            return status, answer

        # No DR operation token, or a wrong one: refused before anything else is looked at.
        assert update("whatever") == (403, {"errors": ["permission denied"]})
        assert update("whatever", dr_operation_token="hvb.forged")[0] == 403
        # A wrong activation token: the primary's own error, and the secondary still follows dr-1.
        status, answer = update("hvs.not-a-wrapping-token", dr_operation_token=operations)
        assert status == 400
        assert answer["errors"][0].startswith(f"error unwrapping the activation token at {primary.addr}")
        assert "wrapping token is not valid or does not exist" in answer["errors"][0]
        # An expired one likewise.
        expiring = {"id": "dr-late", "ttl": "1s"}
        late = primary.ok("POST", f"{D}/primary/secondary-token", expiring)["wrap_info"]["token"]
        time.sleep(1.5)
        status, answer = update(late, dr_operation_token=operations)
        assert status == 400 and "wrapping token is not valid or does not exist" in answer["errors"][0]
        # Both a token and addresses: Vault's fields are exclusive.
        status, answer = update(late, dr_operation_token=operations, update_primary_addrs=["https://x:1"])
        assert (status, answer) == (
            400,
            {"errors": ["only one of token or update_primary_addrs may be given"]},
        )
        primary.ok("PUT", "kv/during", {"v": "1"})
        until(lambda: caught_up(primary, secondary, "dr"), "the stream to go on after the refusals", 20.0)
        assert _dr_status(secondary)["secondary_id"] == "dr-1"

        # A valid token: re-activated as dr-2 (no wipe, no seal), the primary's data copied again.
        token = primary.ok("POST", f"{D}/primary/secondary-token", {"id": "dr-2"})["wrap_info"]["token"]
        status, answer = update(token, dr_operation_token=operations)
        assert status == 200 and answer["warnings"], answer
        assert secondary.seal_status()["sealed"] is False
        primary.ok("PUT", "kv/after", {"v": "2"})
        until(lambda: caught_up(primary, secondary, "dr"), "the secondary to follow as dr-2", 20.0)
        mine = _dr_status(secondary)
        assert (mine["secondary_id"], mine["state"]) == ("dr-2", "stream-wals")
        rows = primary.ok("GET", f"{D}/status")["data"]["secondaries"]
        assert {row["node_id"]: row["connection_status"] for row in rows}["dr-2"] == "connected"

        # A blank token forgets the primary: still a secondary, following nothing.
        assert update("", dr_operation_token=operations) == (204, None)
        mine = _dr_status(secondary)
        assert (mine["mode"], mine["primaries"], mine["state"]) == ("secondary", [], "idle")
        primary.ok("PUT", "kv/unfollowed", {"v": "3"})
        time.sleep(1.0)
        assert _dr_status(secondary)["last_remote_wal"] < primary.ok("GET", f"{D}/status")["data"]["last_wal"]


def test_a_performance_secondary_without_a_primary_forwards_nothing(tmp_path: Path) -> None:
    primary, secondary = on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")
    with started(primary, secondary):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        policy = (
            OPERATIONS.replace("dr", "performance")
            + 'path "kv/*" { capabilities = ["create", "update", "read"] }\n'
        )
        admin = batch_token(primary, "admin", policy)
        make_secondary(primary, secondary, "performance", "perf-1")
        until(lambda: caught_up(primary, secondary), "the secondary to catch up", 20.0)
        assert (
            secondary.call(
                "POST", "sys/replication/performance/secondary/update-primary", json={"token": ""}
            )[0]
            == 403
        )
        secondary.ok(
            "POST", "sys/replication/performance/secondary/update-primary", {"token": ""}, token=admin
        )
        status, body, _ = secondary.call("PUT", "kv/x", json={"v": "1"}, token=admin)
        assert status == 500 and "follows no primary" in body["errors"][0], body
        assert primary.call("GET", "kv/x")[0] == 404
        assert secondary.call("GET", "kv/x", token=admin)[0] == 404

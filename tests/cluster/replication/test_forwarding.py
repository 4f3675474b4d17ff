"""A performance secondary forwards writes of replicated data to its primary over mutual TLS: the
client sees one API, its next read on the secondary sees the write; its own tokens work for them;
local mounts stay local; a primary gone is a 500 naming it, with nothing applied."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cluster.replication.pair import P, batch_token, caught_up, make_secondary, on_sqlite, started
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

WRITER = """
path "kv/*" { capabilities = ["create", "update", "read", "delete"] }
path "kv2/*" { capabilities = ["create", "update", "read"] }
path "sys/policies/acl/*" { capabilities = ["create", "update", "read"] }
path "sys/mounts/*" { capabilities = ["create", "update", "read"] }
path "local/*" { capabilities = ["create", "update", "read"] }
path "shared/*" { capabilities = ["create", "update", "read"] }
"""


@pytest.mark.parametrize("mode", ["threaded", "asgi"])
def test_writes_on_a_performance_secondary_land_on_the_primary(tmp_path: Path, mode: str) -> None:
    """The secondary on either HTTP path (granian's threaded worker, or ASGI)."""
    primary, secondary = on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")
    secondary.extra_env["TESSERA_HTTP_MODE"] = mode
    with started(primary, secondary):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        primary.ok("POST", "sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}})
        primary.ok("PUT", "kv/a", {"v": "1"})
        writer = batch_token(primary, "writer", WRITER)
        primary.ok("POST", "sys/auth/userpass", {"type": "userpass"})
        primary.ok("POST", "auth/userpass/users/ann", {"password": "pw", "policies": "writer"})
        make_secondary(primary, secondary, "performance", "perf-1")
        until(lambda: caught_up(primary, secondary), "the secondary to catch up", 20.0)

        # A KV write sent to the secondary is the primary's, and the secondary reads it at once.
        status, body, _ = secondary.call("PUT", "kv/a", json={"v": "2"}, token=writer)
        assert (status, body) == (204, None)
        assert primary.ok("GET", "kv/a")["data"] == {"v": "2"}
        assert secondary.ok("GET", "kv/a", token=writer)["data"] == {"v": "2"}
        # The primary's answer is the client's (kv v2's version metadata).
        answer = secondary.ok("PUT", "kv2/data/x", {"data": {"k": "v"}}, token=writer)
        assert answer["data"]["version"] == 1
        assert primary.ok("GET", "kv2/data/x")["data"]["data"] == {"k": "v"}
        assert secondary.ok("GET", "kv2/data/x", token=writer)["data"]["data"] == {"k": "v"}

        # A token of the secondary's own (a login there; the primary never saw it) writes too:
        # the primary acts for the entry the secondary resolved, with the replicated policies.
        # Her first login makes her identity entity: on the primary (identity replicates), while
        # the token stays the secondary's.
        login = secondary.ok("POST", "auth/userpass/login/ann", {"password": "pw"})["auth"]
        mine = login["client_token"]
        assert primary.call("GET", "auth/token/lookup-self", token=mine)[0] == 403
        assert (
            primary.ok("GET", f"identity/entity/id/{login['entity_id']}")["data"]["aliases"][0]["name"]
            == "ann"
        )
        again = secondary.ok("POST", "auth/userpass/login/ann", {"password": "pw"})["auth"]
        assert again["entity_id"] == login["entity_id"]
        secondary.ok("PUT", "kv/by-ann", {"v": "ann"}, token=mine)
        assert primary.ok("GET", "kv/by-ann")["data"] == {"v": "ann"}
        assert secondary.ok("GET", "kv/by-ann", token=mine)["data"] == {"v": "ann"}
        # ... and within its policies only: refused on the secondary, nothing forwarded.
        status, body, _ = secondary.call("PUT", "other/x", json={"v": "1"}, token=mine)
        assert status == 403
        # A policy written through the secondary is the primary's and comes back replicated.
        secondary.ok(
            "PUT", "sys/policies/acl/fwd", {"policy": 'path "kv/*" { capabilities = ["read"] }'}, token=mine
        )
        assert "kv/*" in primary.ok("GET", "sys/policies/acl/fwd")["data"]["policy"]
        assert "kv/*" in secondary.ok("GET", "sys/policies/acl/fwd", token=writer)["data"]["policy"]

        # A shared mount enabled through the secondary is the primary's, and comes back replicated.
        secondary.ok("POST", "sys/mounts/shared", {"type": "kv"}, token=writer)
        assert primary.ok("GET", "sys/mounts")["data"]["shared/"]["local"] is False
        secondary.ok("PUT", "shared/x", {"v": "s"}, token=writer)
        assert primary.ok("GET", "shared/x")["data"] == {"v": "s"}
        # A local mount enabled on the secondary stays there, and so do its writes.
        secondary.ok("POST", "sys/mounts/local", {"type": "kv", "local": True}, token=writer)
        secondary.ok("PUT", "local/mine", {"v": "here"}, token=writer)
        assert secondary.ok("GET", "local/mine", token=writer)["data"] == {"v": "here"}
        assert "local/" not in primary.ok("GET", "sys/mounts")["data"]
        until(lambda: caught_up(primary, secondary), "the hashes to agree", 20.0)

        # The primary gone: a 500 naming it and the cause; the secondary applied nothing.
        primary.kill()
        status, body, _ = secondary.call("PUT", "kv/a", json={"v": "3"}, token=writer)
        assert status == 500, body
        assert body["errors"][0].startswith(
            "error forwarding the request to the primary at https://127.0.0.1:"
        )
        assert body["errors"][0].count("https://") == 1, body  # the address named once
        assert secondary.ok("GET", "kv/a", token=writer)["data"] == {"v": "2"}
        secondary.ok("PUT", "local/still", {"v": "ok"}, token=writer)  # local writes go on


def test_a_filtered_secondary_forwards_and_keeps_its_view(tmp_path: Path) -> None:
    """Paths filters and forwarding together: a filtered secondary's forwarded writes are answered
    once applied there (a record its filter empties advances its index all the same), a shared
    mount it enables at a denied path is the primary's alone, and its hash stays its view's."""
    with started(on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")) as (primary, secondary):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        writer = batch_token(primary, "writer", WRITER)
        reader = batch_token(primary, "mounts", 'path "sys/mounts" { capabilities = ["read"] }')
        primary.ok("POST", f"{P}/primary/enable")
        primary.ok("POST", f"{P}/primary/paths-filter/perf-1", {"mode": "deny", "paths": ["shared/"]})
        make_secondary(primary, secondary, "performance", "perf-1")
        until(lambda: _compared_since(secondary, 0), "the hashes to be compared", 20.0)

        secondary.ok("PUT", "kv/a", {"v": "1"}, token=writer)
        assert primary.ok("GET", "kv/a")["data"] == {"v": "1"}
        assert secondary.ok("GET", "kv/a", token=writer)["data"] == {"v": "1"}
        secondary.ok("POST", "sys/mounts/shared", {"type": "kv"}, token=writer)
        assert "shared/" in primary.ok("GET", "sys/mounts")["data"]
        primary.ok("PUT", "shared/x", {"v": "primary's"})
        secondary.ok("PUT", "kv/b", {"v": "2"}, token=writer)  # after shared/x in the primary's log
        assert "shared/" not in secondary.ok("GET", "sys/mounts", token=reader)["data"]
        assert secondary.call("GET", "shared/x", token=writer)[0] == 404
        mark = time.time()
        until(lambda: _compared_since(secondary, mark), "the hashes to be compared again", 20.0)
        output = secondary.output()
        assert "not applied here in time" not in output and "copying its data again" not in output


def _compared_since(secondary: TesseraServer, since: float) -> bool:
    """The secondary reached its primary's index and compared hashes (after ``since``): equal."""
    mine = secondary.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
    return (
        int(mine["last_corruption_check_epoch"]) >= int(since)
        and mine["corrupted_merkle_tree"] is False
        and mine["state"] == "stream-wals"
    )

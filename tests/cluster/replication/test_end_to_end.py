"""Issue 22's end-to-end run: a primary, a performance secondary and a DR secondary as three server
processes (the performance secondary on PostgreSQL, the others on SQLite).

Orphan batch tokens of the primary work on the performance secondary, its non-orphan batch and
service tokens do not; a write sent to the performance secondary lands on the primary. Then the
primary is killed (-9), seed 001's DR steps through the ``tessera`` CLI promote the DR secondary
with a DR operation batch token (role ``failover-handler``), the replicated secrets and the old
primary's service tokens work there, and the performance secondary follows the new primary after
``update-primary``.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from tests.cluster.replication.cli import cli_ok, tessera_cli
from tests.cluster.replication.pair import (
    activation_token,
    batch_token,
    caught_up,
    make_secondary,
    on_postgresql,
    on_sqlite,
    started,
)
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

PROMOTION_POLICY = 'path "sys/replication/dr/secondary/promote" { capabilities = ["update"] }\n'
READER = 'path "secret/*" { capabilities = ["read"] }\n'
OPERATOR = """
path "secret/*" { capabilities = ["create", "update", "read"] }
path "sys/replication/performance/secondary/update-primary" { capabilities = ["update"] }
"""


def _prepare_primary(primary: TesseraServer, workdir: Path) -> dict[str, str]:
    """Seed 001's preparation on the primary (policy, role, DR batch token), a secret, and tokens."""
    (workdir / "dr.hcl").write_text(PROMOTION_POLICY)
    cli_ok(primary, "policy", "write", "dr-secondary-promotion", str(workdir / "dr.hcl"))
    cli_ok(primary, "write", "auth/token/roles/failover-handler", "allowed_policies=dr-secondary-promotion",
         "orphan=true", "renewable=false", "token_type=batch")  # fmt: skip
    created = json.loads(
        cli_ok(primary, "token", "create", "-role=failover-handler", "-ttl=8h", "-format=json")
    )
    cli_ok(primary, "secrets", "enable", "-path=secret", "kv")
    cli_ok(primary, "kv", "put", "secret/app", "password=s3cret")
    reader = batch_token(primary, "reader", READER)
    child = {"type": "batch", "policies": ["reader"]}  # a batch token with a parent: the root token
    return {
        "dr": created["auth"]["client_token"],
        "reader": reader,
        "operator": batch_token(primary, "operator", OPERATOR),
        "child": primary.ok("POST", "auth/token/create", child)["auth"]["client_token"],
        "service": primary.ok("POST", "auth/token/create", {"policies": ["reader"]})["auth"]["client_token"],
    }


def test_primary_performance_and_dr_secondaries(tmp_path: Path, postgres: Postgres) -> None:
    with ExitStack() as stack:
        dsn = stack.enter_context(postgres.fresh_database("replication"))[1]
        servers = on_sqlite(tmp_path / "p"), on_postgresql(tmp_path / "s", dsn), on_sqlite(tmp_path / "d")
        primary, perf, dr = stack.enter_context(started(*servers))
        tokens = _prepare_primary(primary, tmp_path)
        make_secondary(primary, perf, "performance", "perf-1")
        make_secondary(primary, dr, "dr", "dr-1")

        # The performance secondary reads the primary's KV with the primary's orphan batch token;
        # the primary's non-orphan batch token and its service token are unknown there.
        assert perf.ok("GET", "secret/app", token=tokens["reader"])["data"] == {"password": "s3cret"}
        for name in ("child", "service"):
            assert primary.call("GET", "secret/app", token=tokens[name])[0] == 200
            assert perf.call("GET", "secret/app", token=tokens[name])[0] == 403, name

        # A write sent to the performance secondary lands on the primary (and is read back there).
        status, body, _ = perf.call("PUT", "secret/from-perf", json={"v": "fwd"}, token=tokens["operator"])
        assert status == 204, body
        assert primary.ok("GET", "secret/from-perf")["data"] == {"v": "fwd"}
        assert perf.ok("GET", "secret/from-perf", token=tokens["reader"])["data"] == {"v": "fwd"}
        until(lambda: caught_up(primary, dr, "dr"), "the DR secondary to catch up", 20.0)
        until(lambda: caught_up(primary, perf), "the performance secondary to catch up", 20.0)

        primary.kill()  # kill -9

        # Seed 001: the DR secondary promoted through the CLI with the DR operation batch token.
        forged = tessera_cli(
            dr, "write", "sys/replication/dr/secondary/promote", "dr_operation_token=hvb.nope"
        )
        assert forged.returncode != 0 and "permission denied" in forged.stderr
        promoted = tessera_cli(
            dr, "write", "sys/replication/dr/secondary/promote", f"dr_operation_token={tokens['dr']}"
        )
        assert promoted.returncode == 0, promoted.stderr
        assert dr.call("GET", "sys/replication/dr/status", auth=False)[1]["data"]["mode"] == "primary"
        dr.root_token, dr.keys = primary.root_token, primary.keys
        assert "s3cret" in cli_ok(dr, "kv", "get", "secret/app")
        assert "fwd" in cli_ok(dr, "kv", "get", "secret/from-perf")
        assert dr.ok("GET", "secret/app", token=tokens["service"])["data"] == {"password": "s3cret"}
        assert dr.ok("GET", "auth/token/lookup-self", token=tokens["service"])["data"]["policies"] == [
            "default",
            "reader",
        ]

        # The performance secondary follows the new primary after update-primary.
        token = activation_token(dr, "performance", "perf-1")
        perf.root_token = tokens["operator"]  # the CLI's token there: the primary's orphan batch token
        updated = tessera_cli(perf, "write", "sys/replication/performance/secondary/update-primary",
                              f"token={token}", f"primary_api_addr={dr.addr}")  # fmt: skip
        assert updated.returncode == 0, updated.stderr
        cli_ok(dr, "kv", "put", "secret/after-failover", "v=new")
        until(
            lambda: perf.call("GET", "secret/after-failover", token=tokens["reader"])[0] == 200,
            "the write on the new primary to reach the performance secondary",
            20.0,
        )
        until(lambda: caught_up(dr, perf), "the hashes to agree with the new primary", 20.0)
        mine = perf.call("GET", "sys/replication/status", auth=False)[1]["data"]["performance"]
        assert mine["primaries"][0]["api_address"] == dr.addr and mine["state"] == "stream-wals"
        perf.ok("PUT", "secret/from-perf-again", {"v": "2"}, token=tokens["operator"])
        assert dr.ok("GET", "secret/from-perf-again")["data"] == {"v": "2"}
        assert perf.ok("GET", "secret/app", token=tokens["reader"])["data"] == {"password": "s3cret"}

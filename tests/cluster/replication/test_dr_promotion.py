"""Seed 001's DR promotion through the tessera CLI: a DR secondary answers nothing but replication;
once its primary is killed, a DR operation batch token from the primary promotes it, and the
primary's secrets and service tokens work on it."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.cluster.replication.cli import cli_ok, tessera_cli
from tests.cluster.replication.pair import on_postgresql, on_sqlite, started_pair
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

D = "sys/replication/dr"
PROMOTION_POLICY = 'path "sys/replication/dr/secondary/promote" { capabilities = ["update"] }\n'


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_seed_001_dr_promotion(tmp_path: Path, storage: str, request: pytest.FixtureRequest) -> None:
    """The primary on SQLite; the DR secondary on SQLite or on PostgreSQL."""
    with ExitStack() as stack:
        secondary: TesseraServer | None = None  # with a cluster address: it becomes a primary
        if storage == "postgresql":
            postgres: Postgres = request.getfixturevalue("postgres")
            dsn = stack.enter_context(postgres.fresh_database("replication"))[1]
            secondary = on_postgresql(tmp_path / "s", dsn)
        primary, secondary = stack.enter_context(
            started_pair(tmp_path, secondary=secondary or on_sqlite(tmp_path / "s"))
        )
        (tmp_path / "dr.hcl").write_text(PROMOTION_POLICY)
        cli_ok(primary, "policy", "write", "dr-secondary-promotion", str(tmp_path / "dr.hcl"))
        cli_ok(primary, "write", "auth/token/roles/failover-handler", "allowed_policies=dr-secondary-promotion",
             "orphan=true", "renewable=false", "token_type=batch")  # fmt: skip
        created = json.loads(
            cli_ok(primary, "token", "create", "-role=failover-handler", "-ttl=8h", "-format=json")
        )
        dr_token = created["auth"]["client_token"]
        assert dr_token.startswith("hvb.")
        cli_ok(primary, "secrets", "enable", "-path=secret", "kv")
        cli_ok(primary, "kv", "put", "secret/app", "password=s3cret")
        service = json.loads(cli_ok(primary, "token", "create", "-policy=default", "-format=json"))["auth"][
            "client_token"
        ]

        cli_ok(primary, "write", "-f", f"{D}/primary/enable")
        answer = json.loads(
            cli_ok(primary, "write", f"{D}/primary/secondary-token", "id=dr-secondary", "-format=json")
        )
        activation = answer["wrap_info"]["token"]
        cli_ok(
            secondary,
            "write",
            f"{D}/secondary/enable",
            f"token={activation}",
            f"primary_api_addr={primary.addr}",
        )
        until(lambda: secondary.seal_status()["sealed"], "the DR secondary to seal", 20.0)
        secondary.unseal(primary.keys)
        cli_ok(primary, "kv", "put", "secret/app2", "password=later")
        until(
            lambda: (
                secondary.call("GET", f"{D}/status", auth=False)[1]["data"].get("last_remote_wal")
                == primary.call("GET", f"{D}/status")[1]["data"]["last_wal"]
            ),
            "the DR secondary to catch up",
            20.0,
        )

        def compared() -> bool:
            mine = secondary.call("GET", f"{D}/status", auth=False)[1]["data"]
            return mine["last_corruption_check_epoch"] != "-62135596800" and not mine["corrupted_merkle_tree"]

        until(compared, "the DR secondary's hash to be compared with the primary's, and match", 20.0)
        assert "the primary expects" not in secondary.output()  # no copy for a false difference

        # A DR secondary answers nothing but replication.
        status, body, _ = secondary.call("GET", "secret/app", token=primary.root_token)
        assert (status, body) == (400, {"errors": ["path disabled in replication DR secondary mode"]})
        assert secondary.call("GET", "sys/health", auth=False)[1]["replication_dr_mode"] == "secondary"

        primary.kill()  # kill -9

        # A DR operation token generated on the secondary from the primary's key shares (seed 001's other way).
        started = json.loads(
            cli_ok(secondary, "operator", "generate-root", "-dr-token", "-init", "-format=json")
        )
        nonce, otp = started["nonce"], started["otp"]
        done = json.loads(
            cli_ok(
                secondary,
                "operator",
                "generate-root",
                "-dr-token",
                f"-nonce={nonce}",
                "-format=json",
                primary.keys[0],
            )
        )
        assert done["complete"] is True
        generated = cli_ok(secondary, "operator", "generate-root", "-dr-token", f"-decode={done['encoded_token']}",
                         f"-otp={otp}").strip()  # fmt: skip
        cli_ok(secondary, "write", f"{D}/secondary/operation-token/delete", f"dr_operation_token={generated}")
        deleted = tessera_cli(secondary, "write", f"{D}/secondary/promote", f"dr_operation_token={generated}")
        assert deleted.returncode != 0 and "permission denied" in deleted.stderr

        refused = tessera_cli(secondary, "write", f"{D}/secondary/promote", "dr_operation_token=hvb.forged")
        assert refused.returncode != 0 and "permission denied" in refused.stderr
        assert secondary.call("GET", f"{D}/status", auth=False)[1]["data"]["mode"] == "secondary"
        no_policy = tessera_cli(secondary, "write", f"{D}/secondary/promote", f"dr_operation_token={service}")
        assert no_policy.returncode != 0 and "permission denied" in no_policy.stderr

        promoted = tessera_cli(secondary, "write", f"{D}/secondary/promote", f"dr_operation_token={dr_token}")
        assert promoted.returncode == 0, promoted.stderr
        assert "promoted to a replication primary" in promoted.stdout + promoted.stderr
        assert secondary.call("GET", f"{D}/status", auth=False)[1]["data"]["mode"] == "primary"

        # The old primary's secrets, root token and service tokens work on the new primary.
        secondary.root_token = primary.root_token
        assert "s3cret" in cli_ok(secondary, "kv", "get", "secret/app")
        assert "later" in cli_ok(secondary, "kv", "get", "secret/app2")
        assert secondary.call("GET", "auth/token/lookup-self", token=service)[0] == 200
        cli_ok(secondary, "kv", "put", "secret/new", "x=1")  # it takes writes now

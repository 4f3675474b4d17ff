"""A node that joins an HA cluster later: sealed, it knows no leader (Vault's 503); unsealed with the
same keys, it is a standby that forwards and is listed by sys/ha-status."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.ha_cluster import ha_cluster
from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer, free_port, hcl_config
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres


def test_a_late_node_joins_as_a_standby(postgres: Postgres, tmp_path: Path) -> None:
    with ha_cluster(postgres, tmp_path, size=2) as cluster:
        active = cluster.active()
        dsn = f"host={postgres.host} port={postgres.port} dbname={cluster.dbname} user={postgres.user}"
        port = free_port()
        config = tmp_path / "late.hcl"
        options = {"connection_url": dsn, "ha_enabled": "true"}
        config.write_text(
            hcl_config(
                port,
                storage="postgresql",
                storage_options=options,
                extra=f'api_addr = "http://127.0.0.1:{port}"\n',
            )
        )
        with TesseraServer(config=config) as late:
            status, body, _ = late.call("GET", "sys/leader", auth=False)
            assert status == 503 and body == {"errors": ["Vault is sealed"]}
            assert late.call("GET", "sys/health", auth=False)[0] == 503
            assert late.seal_status()["initialized"] is True
            late.keys, late.root_token = cluster.nodes[0].keys, cluster.token
            late.unseal()
            # Its election's first round reads the HA table.
            until(lambda: cluster.leader(late)["leader_address"], "the late node to learn the leader", 5)
            leader = cluster.leader(late)
            assert leader["is_self"] is False and leader["leader_address"] == active.addr
            status, body, _ = late.call("PUT", "kv/from-late", json={"v": 1}, token=cluster.token)
            assert status == 204, (status, body)
            assert active.call("GET", "kv/from-late", token=cluster.token)[1]["data"] == {"v": 1}
            nodes = active.call("GET", "sys/ha-status", token=cluster.token)[1]["data"]["nodes"]
            assert late.addr in {node["api_address"] for node in nodes}
            assert cluster.leader(active)["is_self"] is True  # joining took nothing from the active node

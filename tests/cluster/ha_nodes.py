"""Two HA nodes in one process on PostgreSQL, each with its cluster listener, for the tests of the
parts between the HTTP layer and the election (``test_ha_peer_role.py``, ``test_ha_index_role.py``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tessera.cluster.ha import HARole, attach_ha
from tessera.core.config import CoreConfig
from tessera.core.core import Core
from tessera.server.cluster_listener import build_cluster_server
from tessera.server.config import ListenerConfig
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.postgres import Postgres
from tests.helpers.servers import free_port
from tests.helpers.waiting import until


class Node:
    """A core, its HA role (``attach_ha``'s, a performance standby when not active) and its cluster
    listener on ``port``."""

    def __init__(self, dsn: str) -> None:
        self.port = free_port()
        self.physical = PostgreSQLPhysical({"connection_url": dsn, "ha_enabled": "true"})
        self.core = Core(self.physical, CoreConfig(storage_type="postgresql", api_addr="http://127.0.0.1:1"))
        cluster_addr = f"https://127.0.0.1:{self.port}"
        self.role: HARole = attach_ha(self.core, self.physical, "http://127.0.0.1:1", cluster_addr)
        self.node = self.role.node
        self.server = build_cluster_server(
            ListenerConfig(address=f"127.0.0.1:{self.port}"), self.core, self.role
        )
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.stop()
        self.thread.join(10)
        self.role.close()
        self.core.shutdown()


@contextmanager
def two_nodes(postgres: Postgres, prefix: str) -> Iterator[tuple[Node, Node]]:
    """Two nodes on a database of their own: the first initialised and active, the second unsealed."""
    with postgres.fresh_database(prefix) as (_, dsn):
        first, second = Node(dsn), Node(dsn)
        try:
            keys = first.core.initialize(1, 1)["keys"]
            first.core.unseal(keys[0])
            until(lambda: first.node.active, "the first node to become active")
            second.core.unseal(keys[0])
            yield first, second
        finally:
            second.close()
            first.close()

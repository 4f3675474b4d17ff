"""Three Tessera nodes on one PostgreSQL database, for the HA tests (``test_ha_*.py``)."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer, free_port, hcl_config

HA_TABLE = "tessera_kv_ha"


class HACluster:
    """The nodes, the database they share, and what the tests ask of them."""

    def __init__(self, postgres: Postgres, dbname: str, nodes: list[TesseraServer]) -> None:
        self.postgres = postgres
        self.dbname = dbname
        self.nodes = nodes

    @property
    def token(self) -> str:
        return str(self.nodes[0].root_token)

    def leader(self, node: TesseraServer) -> dict[str, object]:
        status, body, _ = node.call("GET", "sys/leader", auth=False)
        assert status == 200, (status, body)
        return dict(body)

    def active(self, among: list[TesseraServer] | None = None, timeout: float = 15.0) -> TesseraServer:
        """The node that says it is active (waiting for one, up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for node in among or self.nodes:
                try:
                    if self.leader(node).get("is_self"):
                        return node
                except (AssertionError, requests.RequestException):
                    pass
            assert time.monotonic() < deadline, "no node became active"
            time.sleep(0.05)

    def wait_until_all_name(self, active: TesseraServer, timeout: float = 10.0) -> None:
        """Every node's sys/leader names ``active`` (standbys read the HA table every second)."""
        deadline = time.monotonic() + timeout
        while any(self.leader(node).get("leader_address") != active.addr for node in self.nodes):
            assert time.monotonic() < deadline, "the nodes do not agree on the active node"
            time.sleep(0.05)

    def standbys(self, active: TesseraServer) -> list[TesseraServer]:
        return [node for node in self.nodes if node is not active and node.running()]

    def sql(self, query: str, *args: object) -> list[tuple[object, ...]]:
        with self.postgres.connect(dbname=self.dbname) as conn:
            cur = conn.execute(query, args)
            return cur.fetchall() if cur.description else []

    def epoch(self) -> tuple[int, str]:
        rows = self.sql(f"SELECT epoch, node_id FROM {HA_TABLE} WHERE id = 1")
        return int(rows[0][0]), str(rows[0][1])  # type: ignore[call-overload]

    def cut_lock_connection(self, node_id: str) -> int:
        """End the active node's lock session from PostgreSQL (as a lost connection would)."""
        rows = self.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            f"tessera-ha-{node_id}",
        )
        return len(rows)


@contextmanager
def ha_cluster(
    postgres: Postgres,
    tmp_path: Path,
    size: int = 3,
    extra: str = "",
    listener_options: str = "",
    env: Callable[[int], dict[str, str]] | None = None,
) -> Iterator[HACluster]:
    """``size`` nodes, initialised through the first, all unsealed, one active; a kv v1 mount.
    ``extra``: more lines for every node's config; ``listener_options``: lines for each node's
    listener block; ``env``: the environment of node number n, beside the test's."""
    dbname = "ha_" + uuid.uuid4().hex[:12]
    dsn = postgres.create_database(dbname)
    nodes: list[TesseraServer] = []
    try:
        for number in range(size):
            port = free_port(span=2)
            config = tmp_path / f"node{number}.hcl"
            addrs = f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "https://127.0.0.1:{port + 1}"\n'
            options = {"connection_url": dsn, "ha_enabled": "true"}
            text = hcl_config(port, storage="postgresql", storage_options=options, extra=addrs + extra)
            config.write_text(
                text.replace("  tls_disable = true\n", "  tls_disable = true\n" + listener_options)
            )
            nodes.append(TesseraServer(config=config, env=env(number) if env else None).start())
        first = nodes[0]
        first.init()
        for node in nodes:
            node.keys, node.root_token = first.keys, first.root_token
            node.unseal()
        cluster = HACluster(postgres, dbname, nodes)
        active = cluster.active()
        cluster.wait_until_all_name(active)
        status, body, _ = active.call("POST", "sys/mounts/kv", json={"type": "kv"})
        assert status == 204, (status, body)
        try:
            yield cluster
        except BaseException:  # what the nodes said, to tell why
            for node in nodes:
                print(f"--- {node.addr} ---\n{node.output()[-6000:]}")
            raise
    finally:
        for node in nodes:
            if node.process is not None and node.running():
                node._signal(signal.SIGCONT)
            node.cleanup()
        postgres.drop_database(dbname)


class WriteLoad:
    """Writers putting ``kv/load-<n>`` through the given nodes; remembers what was acknowledged."""

    def __init__(self, addrs: list[str], token: str, writers: int = 2, limit: int = 5000) -> None:
        self.addrs = addrs
        self.token = token
        self.limit = limit  # bounded: each writer stops after this many attempts
        self.acknowledged: list[str] = []
        self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(w,), daemon=True) for w in range(writers)]

    def __enter__(self) -> WriteLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _write(self, writer: int) -> None:
        session = requests.Session()
        for n in range(self.limit):
            if self._stop.is_set():
                return
            key = f"load-{writer}-{n}"
            addr = self.addrs[n % len(self.addrs)]
            try:
                response = session.put(
                    f"{addr}/v1/kv/{key}", json={"n": n}, headers={"X-Vault-Token": self.token}, timeout=30
                )
                ok = response.status_code == 204
            except requests.RequestException:
                ok = False
            with self._lock:
                if ok:
                    self.acknowledged.append(key)
                else:
                    self.failed += 1
            if not ok:
                time.sleep(0.02)

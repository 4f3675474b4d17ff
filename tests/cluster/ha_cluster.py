"""Three Tessera nodes on one PostgreSQL database, and what the HA tests (``test_ha_*.py``) ask of them."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.helpers.postgres import Postgres
from tests.helpers.servers import TesseraServer, free_port, hcl_config
from tests.helpers.waiting import until

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
        return until(lambda: self._says_active(among or self.nodes), "a node to become active", timeout, 0.05)

    def _says_active(self, nodes: list[TesseraServer]) -> TesseraServer | None:
        for node in nodes:
            try:
                if self.leader(node).get("is_self"):
                    return node
            except (AssertionError, requests.RequestException):
                pass
        return None

    def wait_until_all_name(self, active: TesseraServer, timeout: float = 10.0) -> None:
        """Every node's sys/leader names ``active`` (standbys read the HA table every second)."""
        until(
            lambda: all(self.leader(node).get("leader_address") == active.addr for node in self.nodes),
            "the nodes to agree on the active node",
            timeout,
            0.05,
        )

    def wait_performance_standbys(self, active: TesseraServer, timeout: float = 15.0) -> None:
        """Every other node answers sys/health as a performance standby (473)."""
        for node in self.standbys(active):
            until(lambda node=node: health(node)[0] == 473, "performance standbys", timeout)  # type: ignore[misc]

    def stored_keys(self, node: TesseraServer) -> set[str]:
        """The keys of the ``kv/`` mount, listed through ``node``."""
        status, body, _ = node.call("LIST", "kv/", token=self.token)
        assert status == 200, (status, body)
        return set(body["data"]["keys"])

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
        return self.postgres.terminate(self.dbname, f"tessera-ha-{node_id}")


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
    with postgres.fresh_database("ha") as (dbname, dsn):
        nodes: list[TesseraServer] = []
        try:
            for number in range(size):
                config = tmp_path / f"node{number}.hcl"
                nodes.append(
                    _node(config, dsn, extra, listener_options, env(number) if env else None).start()
                )
            cluster = HACluster(postgres, dbname, nodes)
            _initialise(cluster)
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


def _node(
    config: Path, dsn: str, extra: str, listener_options: str, env: dict[str, str] | None = None
) -> TesseraServer:
    """A node on ``dsn``, its cluster port next to its API port."""
    port = free_port(span=2)
    addrs = f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "https://127.0.0.1:{port + 1}"\n'
    options = {"connection_url": dsn, "ha_enabled": "true"}
    text = hcl_config(port, storage="postgresql", storage_options=options, extra=addrs + extra)
    config.write_text(text.replace("  tls_disable = true\n", "  tls_disable = true\n" + listener_options))
    return TesseraServer(config=config, env=env)


def _initialise(cluster: HACluster) -> None:
    """Initialised through the first node, every node unsealed, one active; a kv v1 mount."""
    first = cluster.nodes[0]
    first.init()
    for node in cluster.nodes:
        node.keys, node.root_token = first.keys, first.root_token
        node.unseal()
    active = cluster.active()
    cluster.wait_until_all_name(active)
    status, body, _ = active.call("POST", "sys/mounts/kv", json={"type": "kv"})
    assert status == 204, (status, body)


def health(node: TesseraServer, **params: str) -> tuple[int, Any]:
    """``GET sys/health`` of ``node``: (status, body)."""
    status, body, _ = node.call("GET", "sys/health", auth=False, params=params)
    return status, body


def get(
    node: TesseraServer, path: str, token: str, timeout: float = 10.0, **headers: str
) -> requests.Response:
    """``GET /v1/<path>`` of ``node``, with ``headers``: the whole response."""
    return requests.get(
        f"{node.addr}/v1/{path}", headers={"X-Vault-Token": token, **headers}, timeout=timeout
    )


@contextmanager
def paused(node: TesseraServer) -> Iterator[None]:
    """The node stopped (SIGSTOP delivered: its state ``T``) for the block."""
    node._signal(signal.SIGSTOP)
    assert node.process is not None
    stat = Path(f"/proc/{node.process.pid}/stat")
    until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", "the node to stop", 5, 0.002)
    try:
        yield
    finally:
        node._signal(signal.SIGCONT)


def put_from(addr: str, source: str, token: str, key: str) -> int:
    """A write to ``kv/<key>`` from the loopback address ``source`` (127.0.0.x): the client's
    address, told apart from a standby's (127.0.0.1)."""
    host, _, port = addr.removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        conn.request("PUT", f"/v1/kv/{key}", body=b'{"v":1}', headers={"X-Vault-Token": token})
        return conn.getresponse().status
    finally:
        conn.close()


def cli(addr: str, *command: str, token: str = "") -> str:
    """``tessera <command>`` (``status`` by default) against ``addr``: its standard output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["VAULT_ADDR"] = addr
    if token:
        env["VAULT_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-m", "tessera", *(command or ("status",))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def table_rows(table: str) -> dict[str, str]:
    """``Key   Value`` rows of a CLI table: keys are the words before the run of spaces."""
    out = {}
    for line in table.splitlines()[2:]:
        key, _, value = line.partition("  ")
        out[key.strip()] = value.strip()
    return out


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

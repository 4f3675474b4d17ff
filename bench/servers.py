"""The four servers of a side-by-side run: the reference and Tessera, each in memory and durable.

Pairs share a storage class so that a ratio compares like with like: ``bao -dev`` (in memory)
against Tessera ``-dev`` (in memory), and bao on its raft storage (fsync per commit) against
Tessera on SQLite (WAL, ``synchronous=FULL``, group commit). Durable servers are initialised
with one key share and unsealed; bao also has to win its single-node raft election first.

The ``postgresql`` mode puts Tessera on ``storage "postgresql"`` with ``ha_enabled`` (its fenced
write path, as a cluster runs it) in a database of the bench's own (``bench/pgdb.py``), against
the reference on raft as in ``durable``; with ``standby`` a second Tessera node joins as a standby.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pgdb import BenchDatabase  # noqa: E402
from tests.helpers.servers import (  # noqa: E402
    ReferenceServer,
    ServerProcess,
    TesseraServer,
    free_port,
)

# Which storage each mode uses, per server; the label is what the table prints.
MODES = {
    "memory": ("bao dev (inmem)", "tessera dev (inmem)"),
    "durable": ("bao raft", "tessera sqlite"),
    "postgresql": ("bao raft", "tessera postgresql"),
}
STANDBY_LABEL = "tessera pg standby"
# Tessera processes on SQLite (``workers`` in its config; ``bench.run --workers 1`` for one): the
# reference's one Go process uses both cores. docs/performance.md has both settings. On
# PostgreSQL one process unless ``--workers`` asks for more (each node runs that many).
DURABLE_WORKERS = 2


def workers_for(mode: str, asked: int | None) -> int:
    """Tessera's processes per node in ``mode``: ``--workers`` if given, else the mode's default."""
    if mode == "memory":
        return 1
    if asked is not None:
        return asked
    return DURABLE_WORKERS if mode == "durable" else 1


def labels(mode: str, workers: int, standby: bool = False) -> tuple[str, ...]:
    """The table's name of each server, in the order of :meth:`Pair.servers`."""
    ref, tes = MODES[mode]
    if mode in ("durable", "postgresql") and workers > 1:
        tes = f"{tes} x{workers}"
    return (ref, tes, STANDBY_LABEL) if standby else (ref, tes)


@dataclass
class Pair:
    """The reference and Tessera for one storage mode, both unsealed with a root token."""

    mode: str
    reference: ServerProcess
    tessera: ServerProcess
    standby: ServerProcess | None = None  # a second Tessera node (postgresql mode only)
    database: BenchDatabase | None = None  # Tessera's database (postgresql mode only)

    def servers(self) -> list[tuple[str, ServerProcess]]:
        pairs = [("reference", self.reference), ("tessera", self.tessera)]
        return pairs + ([("standby", self.standby)] if self.standby is not None else [])

    def stop(self) -> None:
        for _, server in self.servers():
            server.cleanup()
        if self.database is not None:
            self.database.drop()


def _raft_config(workdir: Path, port: int) -> Path:
    data = workdir / "raft"
    data.mkdir(parents=True, exist_ok=True)
    path = workdir / "bao-raft.hcl"
    path.write_text(
        f'storage "raft" {{\n  path = "{data}"\n  node_id = "n1"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\n'
        f'cluster_addr = "https://127.0.0.1:{port + 1}"\n'
        "disable_mlock = true\n"
    )
    return path


def _sqlite_config(workdir: Path, port: int, workers: int = 1) -> Path:
    path = workdir / "tessera-sqlite.hcl"
    path.write_text(
        f'storage "sqlite" {{\n  path = "{workdir / "tessera.db"}"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f"workers = {workers}\n"
    )
    return path


def _postgresql_config(workdir: Path, port: int, dsn: str, workers: int = 1) -> Path:
    """One HA node: fenced writes, its own api_addr (standbys name it as the leader), and
    ``workers`` processes."""
    path = workdir / f"tessera-pg-{port}.hcl"
    path.write_text(
        f'storage "postgresql" {{\n  connection_url = "{dsn}"\n  ha_enabled = "true"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\n'
        f'cluster_addr = "https://127.0.0.1:{port + 1}"\n'
        f"workers = {workers}\n"
    )
    return path


def _wait_standby(server: ServerProcess, active: ServerProcess, timeout: float = 60.0) -> None:
    """Until the node is unsealed and names ``active`` as the leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = server.call("GET", "sys/leader", auth=False)
        if status == 200 and isinstance(body, dict) and body.get("leader_address") == active.addr:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not become a standby within {timeout:.0f}s:\n{server.output()}")


def postgresql_nodes(
    workdir: Path, database: BenchDatabase, standby: bool, workers: int = 1
) -> list[ServerProcess]:
    """The active node (initialised through it) and, if asked, a standby unsealed with its keys."""
    active = _durable(
        TesseraServer(config=_postgresql_config(workdir, free_port(span=2), database.dsn, workers))
    )
    nodes = [active]
    try:
        if standby:
            config = _postgresql_config(workdir, free_port(span=2), database.dsn, workers)
            node = TesseraServer(config=config).start()
            nodes.append(node)
            node.keys, node.root_token = active.keys, active.root_token
            node.unseal()
            _wait_standby(node, active)
    except BaseException:
        for server in nodes:
            server.cleanup()
        raise
    return nodes


def _wait_active(server: ServerProcess, timeout: float = 60.0) -> None:
    """Until the server answers as an unsealed active node (bao: raft leadership won)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = server.call("GET", "sys/leader", auth=False)
        if status == 200 and isinstance(body, dict) and (body.get("is_self") or not body.get("ha_enabled")):
            status, _, _ = server.call("GET", "auth/token/lookup-self")
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not become active within {timeout:.0f}s:\n{server.output()}")


def _durable(server: ServerProcess) -> ServerProcess:
    server.start()
    server.init()
    server.unseal()
    _wait_active(server)
    return server


def start_pair(mode: str, workdir: Path, workers: int = 1, standby: bool = False) -> Pair:
    """Start both servers of ``mode`` (see ``MODES``), unsealed and ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    if mode == "memory":
        ref: ServerProcess = ReferenceServer().start()
        tes: ServerProcess = TesseraServer().start()
        _wait_active(ref)
        _wait_active(tes)
        return Pair(mode, ref, tes)
    if mode == "durable":
        ref_dir, tes_dir = workdir / "bao", workdir / "tessera"
        ref_dir.mkdir(exist_ok=True)
        tes_dir.mkdir(exist_ok=True)
        ref = _durable(ReferenceServer(config=_raft_config(ref_dir, free_port(span=2))))
        try:
            tes = _durable(TesseraServer(config=_sqlite_config(tes_dir, free_port(), workers)))
        except BaseException:
            ref.cleanup()
            raise
        return Pair(mode, ref, tes)
    if mode == "postgresql":
        return _postgresql_pair(workdir, standby, workers)
    raise ValueError(f"unknown mode {mode!r}")


def _postgresql_pair(workdir: Path, standby: bool, workers: int = 1) -> Pair:
    ref_dir, tes_dir = workdir / "bao", workdir / "tessera"
    ref_dir.mkdir(exist_ok=True)
    tes_dir.mkdir(exist_ok=True)
    ref = _durable(ReferenceServer(config=_raft_config(ref_dir, free_port(span=2))))
    database: BenchDatabase | None = None
    try:
        database = BenchDatabase.create()
        nodes = postgresql_nodes(tes_dir, database, standby, workers)
    except BaseException:
        ref.cleanup()
        if database is not None:
            database.drop()
        raise
    return Pair("postgresql", ref, nodes[0], nodes[1] if standby else None, database)


def start_tessera(
    mode: str, workdir: Path, env: dict[str, str] | None = None, workers: int = 1
) -> ServerProcess:
    """Tessera alone (profiling, the memory check, a third column), configured as in a pair;
    ``workers`` processes on SQLite in the durable mode."""
    workdir.mkdir(parents=True, exist_ok=True)
    if mode == "memory":
        server: ServerProcess = TesseraServer(env=env).start()
        _wait_active(server)
        return server
    return _durable(TesseraServer(config=_sqlite_config(workdir, free_port(), workers), env=env))

"""A config-mode Tessera with ``workers = 2`` whose worker listens on an address of its own, so
a test can send each request to the process it means (shared by the worker, lockout, batch-token
and compatibility tests that check one process against the other)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .http import call
from .servers import TesseraServer, free_port, hcl_config


class Pair:
    """The active process (``server``) and the address of its worker."""

    def __init__(self, server: TesseraServer, worker_addr: str) -> None:
        self.server = server
        self.active = server.addr
        self.worker = worker_addr

    @property
    def root(self) -> str:
        assert self.server.root_token is not None
        return self.server.root_token

    def on(self, where: str, method: str, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        addr = self.active if where == "active" else self.worker
        status, body, _ = call(addr, method, path, token=token or self.root, **kw)
        return status, body

    def worker_pid(self) -> int:
        pids = worker_pids(self.server)
        assert len(pids) == 1, pids
        return pids[0]


def worker_pids(server: TesseraServer) -> list[int]:
    """The live worker processes of ``server`` (its main process's children)."""
    assert server.process is not None
    return [
        int(pid)
        for task in Path(f"/proc/{server.process.pid}/task").iterdir()
        for pid in (task / "children").read_text().split()
        if process_state(int(pid)) != "Z"
    ]


def process_state(pid: int) -> str:
    """The state letter of ``/proc/<pid>/stat`` ("Z" also for a process that is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def wait_worker(addr: str, timeout: float = 30.0) -> None:
    """Until the worker answers ``sys/health`` with 200 (it is up and unsealed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, _ = call(addr, "GET", "sys/health")
            if status == 200:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the worker process never answered")
        time.sleep(0.1)


def start_pair(directory: Path, dsn: str = "", **env: str) -> Pair:
    """A config-mode server with ``workers = 2``, the worker on an address of its own: on SQLite,
    or on the PostgreSQL database ``dsn`` names."""
    config = directory / "tessera.hcl"
    storage, options = (
        ("postgresql", {"connection_url": dsn}) if dsn else ("sqlite", {"path": str(directory / "t.db")})
    )
    config.write_text(
        hcl_config(free_port(), storage=storage, storage_options=options)
        + "workers = 2\nunsafe_allow_api_audit_creation = true\n"  # one test enables a device
    )
    worker_addr = f"127.0.0.1:{free_port()}"
    server = TesseraServer(config=config, env={"TESSERA_WORKER_LISTEN": worker_addr, **env})
    server.start()
    return Pair(server, "http://" + worker_addr)


@contextmanager
def running_pair(directory: Path, dsn: str = "") -> Iterator[Pair]:
    """A started pair, initialised and unsealed, with its worker answering; cleaned up on exit."""
    pair = start_pair(directory, dsn)
    try:
        pair.server.init()
        pair.server.unseal()
        wait_worker(pair.worker)
        yield pair
    finally:
        pair.server.cleanup()

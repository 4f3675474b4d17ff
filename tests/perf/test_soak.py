"""A short soak (bench/soak.py is the long one): bounds that hold whatever the machine's speed.

Two identical cycles of short-lived service tokens and KV writes against Tessera on SQLite with a
1 MB WAL limit: the WAL never grows far past its limit, every expired token is gone soon after the
load stops (the backlog drains to zero, in storage and in ``sys/metrics``), and the second cycle
leaves the server's memory where the first did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench.memory import rss_kib
from bench.soak import gauges
from tests.helpers.servers import TesseraServer, free_port, hcl_config

TTL = 2
TOKENS_PER_CYCLE = 2000
CLIENTS = 4
WAL_LIMIT_MB = 1


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[TesseraServer]:
    config = tmp_path / "tessera.hcl"
    options = {"path": str(tmp_path / "t.db"), "wal_limit_mb": str(WAL_LIMIT_MB)}
    config.write_text(hcl_config(free_port(), storage="sqlite", storage_options=options))
    srv = TesseraServer(config=config).start()
    try:
        srv.init(1, 1)
        srv.unseal()
        status, body, _ = srv.call("POST", "sys/mounts/kv1", json={"type": "kv", "options": {"version": "1"}})
        assert status == 204, body
        yield srv
    finally:
        srv.cleanup()


class WalWatch:
    """The WAL file's largest size, sampled every 10 ms on a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, self.path.stat().st_size)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _load(server: TesseraServer) -> None:
    """TOKENS_PER_CYCLE service tokens with a TTL of TTL seconds, and a KV write every fifth."""
    failures: list[str] = []

    def client(n: int) -> None:
        with requests.Session() as http:
            http.headers["X-Vault-Token"] = str(server.root_token)
            for i in range(TOKENS_PER_CYCLE // CLIENTS):
                r = http.post(f"{server.addr}/v1/auth/token/create", json={"ttl": f"{TTL}s"}, timeout=30)
                if r.status_code != 200:
                    failures.append(f"token create -> {r.status_code} {r.text}")
                    return
                if i % 5 == 0:
                    r = http.post(f"{server.addr}/v1/kv1/k{n}-{i % 50}", json={"v": "x" * 64}, timeout=30)
                    if r.status_code != 204:
                        failures.append(f"kv write -> {r.status_code} {r.text}")
                        return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def _stored_tokens(server: TesseraServer) -> int:
    status, body, _ = server.call("LIST", "auth/token/accessors")
    assert status == 200, body
    return len(body["data"]["keys"])


def _gauges(server: TesseraServer) -> dict[str, float]:
    status, body, _ = server.call("GET", "sys/metrics")
    assert status == 200, body
    return gauges(body)


def _wait_drained(server: TesseraServer, baseline: int) -> float:
    """Seconds until no expired token is left (bounded); fails if that takes over TTL + 30 s."""
    started = time.monotonic()
    while time.monotonic() - started < TTL + 30:
        if _stored_tokens(server) == baseline and _gauges(server)["tessera.expire.backlog"] == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(
        f"{_stored_tokens(server) - baseline} tokens still stored, backlog {_gauges(server)['tessera.expire.backlog']}"
    )


def test_wal_bounded_backlog_drains_memory_flat(sqlite_server: TesseraServer, tmp_path: Path) -> None:
    server = sqlite_server
    assert server.process is not None
    baseline = _stored_tokens(server)
    wal = WalWatch(tmp_path / "t.db-wal")
    rss = []
    try:
        for _ in range(2):
            _load(server)
            _wait_drained(server, baseline)
            rss.append(rss_kib(server.process.pid))
    finally:
        wal.stop()
    gauges = _gauges(server)
    assert gauges["tessera.sqlite.wal_restarts"] >= 1
    # A commit batch may land past the limit before the committer truncates the WAL.
    assert wal.peak < 3 * WAL_LIMIT_MB * 2**20, f"WAL peaked at {wal.peak / 2**20:.1f} MB"
    assert gauges["vault.expire.num_leases"] == 0
    first, second = rss
    assert second - first < max(8 * 1024, first * 0.10), (
        f"RSS {first} KiB after one cycle, {second} after two"
    )

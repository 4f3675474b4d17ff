"""A million stored leases: the unseal serves requests within 5 s, and every lease still expires on time.

The leases are written straight through the barrier into the SQLite file while the server is
stopped (a million requests would take too long for CI); the server then restores its schedule in
the background (leases/manager.py). A quarter had expired before the restart, most expire soon
after it, and a few only in an hour: those must still be there when all the others are gone.
Takes ~2-4 minutes on a busy 2-core machine (mostly writing and revoking the million), hence
``slow``; ``TESSERA_MILLION_LEASES`` sets another count.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bench.soak import gauges
from tessera.barrier.aes_gcm import Barrier
from tessera.leases.manager import Lease
from tessera.storage.base import TxnOp
from tessera.storage.sqlite import SQLitePhysical
from tests.helpers.servers import TesseraServer, tessera_on_sqlite

COUNT = int(os.environ.get("TESSERA_MILLION_LEASES", "1000000"))
LATE = 1000  # leases that expire in an hour and must survive the run
CHUNK = 20_000
PREFIX = "sys/expire/id/"


def _write_leases(db: Path, unseal_key: bytes, soon: float) -> None:
    physical = SQLitePhysical(str(db))
    try:
        barrier = Barrier(physical)
        barrier.unseal(unseal_key)
        now = time.time()
        ops: list[TxnOp] = []
        for i in range(COUNT):
            if i < LATE:
                expire = now + 3600
            elif i % 4 == 0:
                expire = now - 60  # expired before the restart
            else:
                expire = soon + (i % 10)
            lease = Lease(
                lease_id=f"gone/creds/r/{i:08x}",
                path="gone/creds/r",
                mount_prefix="gone/",
                issue_time=now,
                expire_time=expire,
                ttl=60,
            )
            key = PREFIX + lease.lease_id
            ops.append(TxnOp(key, barrier.encrypt(key, lease.to_json())))
            if len(ops) == CHUNK:
                physical.transaction(ops)
                ops = []
        physical.transaction(ops)
    finally:
        physical.close()


def _stored(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        high = PREFIX + "\U0010ffff"
        return int(
            conn.execute(
                "SELECT count(*) FROM entries WHERE key >= ? AND key < ?", (PREFIX, high)
            ).fetchone()[0]
        )
    finally:
        conn.close()


def _gauge(server: TesseraServer, name: str) -> float:
    status, body, _ = server.call("GET", "sys/metrics")
    assert status == 200, body
    return gauges(body).get(name, 0)


@pytest.mark.slow
def test_unseal_serves_at_once_and_every_lease_expires(tmp_path: Path) -> None:
    server = tessera_on_sqlite(tmp_path).start()
    try:
        server.init(1, 1)
        server.stop()
        db = tmp_path / "t.db"
        started = time.monotonic()
        _write_leases(db, base64.b64decode(server.keys_base64[0]), soon=time.time() + 30)
        written = time.monotonic() - started
        assert _stored(db) == COUNT

        server.start()
        unsealing = time.monotonic()
        server.unseal()
        for _ in range(500):  # bounded: 5 s of 10 ms waits, and then some
            status, _, _ = server.call("GET", "auth/token/lookup-self")
            if status == 200 or time.monotonic() - unsealing > 10:
                break
            time.sleep(0.01)
        serving = time.monotonic() - unsealing
        assert status == 200
        assert serving < 5, f"first answer {serving:.1f}s after the unseal key"

        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and (
            _stored(db) > LATE or not _gauge(server, "tessera.expire.restored")
        ):
            time.sleep(2)
        remaining = _stored(db)
        expired_in = time.monotonic() - unsealing
        assert remaining == LATE, f"{remaining} leases stored ({LATE} expected), write took {written:.0f}s"
        print(
            f"\n{COUNT:,} leases: written in {written:.0f}s; first answer {serving:.2f}s after the unseal "
            f"key; all due ones revoked {expired_in:.0f}s after it"
        )
        status, body, _ = server.call("PUT", "sys/leases/lookup", json={"lease_id": "gone/creds/r/00000000"})
        assert status == 200, body
        assert body["data"]["ttl"] > 3000
        status, body, _ = server.call(
            "PUT", "sys/leases/lookup", json={"lease_id": f"gone/creds/r/{LATE:08x}"}
        )
        assert status == 400 and body["errors"] == ["invalid lease"]
    finally:
        server.cleanup()

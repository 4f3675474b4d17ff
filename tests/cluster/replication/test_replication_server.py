"""A primary's log and hash on a real, populated Tessera: they match its storage file exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from tessera.replication.keys import LOCAL, REPLICATED
from tessera.replication.log import LOG_PREFIX
from tessera.replication.merkle import KeyspaceHash
from tests.cluster.replication.populated import AUDIT_CONFIG, populate, read_storage
from tests.helpers.servers import tessera_on_sqlite


def test_hash_and_log_match_the_storage_file(tmp_path: Path) -> None:
    server = tessera_on_sqlite(tmp_path, extra=AUDIT_CONFIG.format(tmp_path))
    try:
        server.start()
        server.init()
        server.unseal()
        assert server.call("POST", "sys/replication/dr/primary/enable")[0] == 200
        populate(server, tmp_path)
        status = server.call("GET", "sys/replication/dr/status")[1]["data"]
        server.stop()
        entries, classifier = read_storage(server, tmp_path / "t.db")
    finally:
        server.cleanup()

    fresh = KeyspaceHash()
    for key, value in entries.items():
        if classifier.classify(key) == REPLICATED:
            fresh.set(key, hashlib.sha256(value).digest())
    assert status["merkle_root"] == fresh.root()

    records = sorted(
        (orjson.loads(v) for k, v in entries.items() if k.startswith(LOG_PREFIX)), key=lambda r: r["wal"]
    )
    assert [r["wal"] for r in records] == list(range(1, status["last_wal"] + 1))
    assert status["last_dr_wal"] == status["last_wal"]
    logged = {op[0]: op[1] for r in records for op in r["ops"]}
    # Every class in the log is the one the stored tables give; tokens and the -local kv are local.
    assert all(classifier.classify(key) == cls for key, cls in logged.items())
    assert any(key.startswith("sys/token/id/") and cls == LOCAL for key, cls in logged.items())
    assert any(key.startswith("logical/") and cls == REPLICATED for key, cls in logged.items())
    assert "core/cluster" not in logged and not any(k.startswith("core/replication/") for k in logged)

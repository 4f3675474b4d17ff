"""A primary with a worker process: the worker reports the modes; the active process alone logs."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.waiting import until
from tests.helpers.workers import running_pair


def test_worker_follows_the_mode_and_the_log_counts_every_write(tmp_path: Path) -> None:
    with running_pair(tmp_path) as pair:
        assert pair.on("active", "POST", "sys/replication/dr/primary/enable")[0] == 200
        until(
            lambda: pair.on("worker", "GET", "sys/health")[1]["replication_dr_mode"] == "primary",
            "the worker to see the new mode",
            20,
        )
        assert pair.on("worker", "GET", "sys/replication/dr/status")[1]["data"]["mode"] == "primary"
        start = pair.on("active", "GET", "sys/replication/dr/status")[1]["data"]["last_wal"]
        assert pair.on("active", "POST", "sys/mounts/kv", json={"type": "kv"})[0] == 204
        for i in range(5):
            assert pair.on("worker", "PUT", f"kv/k{i}", json={"v": i})[0] == 204  # handed to the active
        assert pair.on("worker", "GET", "kv/k4")[1]["data"] == {"v": 4}
        now = pair.on("worker", "GET", "sys/replication/dr/status")[1]["data"]
        assert now["last_wal"] == start + 6

"""Storage timings around the barrier's physical operations, on SQLite as a server uses it."""

from __future__ import annotations

from pathlib import Path

from tessera.core.core import Core, CoreConfig
from tessera.storage.inmem import InmemPhysical
from tessera.storage.sqlite import SQLitePhysical
from tessera.telemetry import metrics
from tessera.telemetry.storage import TimedPhysical


def _count(name: str) -> float:
    [metric] = [m for m in metrics.ALL if m.name == name]
    return sum(value[0] for _labels, value in metric.series())  # type: ignore[index]


def test_sqlite_operations_are_timed_under_vaults_naming(tmp_path: Path) -> None:
    metrics.reset()
    core = Core(SQLitePhysical(str(tmp_path / "t.db")), CoreConfig(storage_type="sqlite"))
    try:
        assert isinstance(core.barrier.physical, TimedPhysical)
        keys = core.initialize(1, 1)["keys"]
        core.unseal(keys[0])
        puts, gets = _count("vault.sqlite.put"), _count("vault.sqlite.get")
        core.barrier.put("test/key", b"value")
        assert core.barrier.get("test/key") == b"value"
        assert _count("vault.sqlite.put") == puts + 1
        assert _count("vault.sqlite.get") >= gets  # the barrier's read cache may answer it
        core.barrier.delete("test/key")
        assert _count("vault.sqlite.delete") >= 1
    finally:
        core.shutdown()


def test_postgresql_reports_as_vaults_postgres() -> None:
    timed = TimedPhysical(object(), "postgresql")
    assert timed._timers["get"].name == "vault.postgres.get"


def test_in_memory_storage_is_not_timed() -> None:
    core = Core(InmemPhysical(), CoreConfig())
    assert not isinstance(core.barrier.physical, TimedPhysical)

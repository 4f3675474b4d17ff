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
    timed = TimedPhysical(InmemPhysical(), "postgresql")
    assert timed._timers["get"].name == "vault.postgres.get"


def test_in_memory_storage_is_not_timed() -> None:
    core = Core(InmemPhysical(), CoreConfig())
    assert not isinstance(core.barrier.physical, TimedPhysical)


def test_the_timed_view_passes_on_what_it_does_not_time() -> None:
    """TimedPhysical is a Physical: ``Physical``'s own defaults must never answer for the backend."""
    calls: list[str] = []

    class Below(InmemPhysical):
        name = "below"
        cacheable = True

        def after_durable(self, ready: object) -> bool:
            calls.append("after_durable")
            return True

        def scan(self, prefix: str, after: str, limit: int) -> tuple[list[tuple[str, bytes]], str | None]:
            calls.append("scan")
            return [], None

        def list_many(self, prefixes: list[str]) -> dict[str, list[str]]:
            calls.append("list_many")
            return {}

        def close(self) -> None:
            calls.append("close")

    timed = TimedPhysical(Below(), "sqlite")
    assert (timed.name, timed.cacheable) == ("below", True)
    assert timed.after_durable(lambda _err: None) is True
    assert timed.scan("", "", 10) == ([], None)
    assert timed.list_many(["a/"]) == {}
    timed.close()
    assert calls == ["after_durable", "scan", "list_many", "close"]

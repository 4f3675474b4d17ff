"""The postgresql mode of ``bench/run.py``: its node config, its CPU accounting, its projection."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from bench.pgdb import BenchDatabase, cpu_spent, process_seconds
from bench.projection import projected_rps, projection_table
from bench.run import Row, per_request, table
from bench.servers import DURABLE_WORKERS, _postgresql_config, labels, workers_for
from bench.wrk import WrkResult
from tessera.server.config import load_config
from tests.helpers.postgres import Postgres


def _result(requests: int = 1000, seconds: float = 2.0) -> WrkResult:
    return WrkResult(requests, seconds, 0, 0, 1.0, 2.0, 3.0)


def test_a_node_is_fenced_on_the_benchs_database(tmp_path: Path) -> None:
    path = _postgresql_config(tmp_path, 43210, "host=127.0.0.1 port=5432 user=postgres dbname=b1")
    config = load_config(str(path))
    assert config.storage_type == "postgresql"
    assert config.storage_options["connection_url"] == "host=127.0.0.1 port=5432 user=postgres dbname=b1"
    assert config.storage_options["ha_enabled"] == "true"
    assert config.api_addr == "http://127.0.0.1:43210"


def test_a_standby_gets_its_own_label() -> None:
    assert labels("postgresql", 1) == ("bao raft", "tessera postgresql")
    assert labels("postgresql", 1, standby=True)[2] == "tessera pg standby"


def test_workers_on_postgresql_only_when_asked(tmp_path: Path) -> None:
    assert (workers_for("postgresql", None), workers_for("durable", None)) == (1, DURABLE_WORKERS)
    assert (workers_for("postgresql", 2), workers_for("memory", 2)) == (2, 1)
    assert labels("postgresql", 2) == ("bao raft", "tessera postgresql x2")
    dsn = "host=127.0.0.1 port=5432 user=postgres dbname=b1"
    assert load_config(str(_postgresql_config(tmp_path, 43210, dsn, workers=2))).workers == 2


def test_cpu_between_snapshots_counts_new_backends_from_zero() -> None:
    assert cpu_spent({1: 2.0, 2: 5.0}, {1: 2.5, 3: 0.25}) == pytest.approx(0.75)


def test_cpu_per_request_counts_successes_only() -> None:
    # 50% of a core for 2 s is 1 s of CPU; 1000 answers of which 200 failed -> 1250 µs each.
    assert per_request(50.0, WrkResult(1000, 2.0, 200, 0, 1, 2, 3)) == pytest.approx(1250.0)


def test_the_table_shows_the_database_cpu_and_the_standby_apart() -> None:
    rows = [
        Row("postgresql", "kv1 write", "reference", "bao raft", _result(500), 50.0),
        Row("postgresql", "kv1 write", "tessera", "tessera postgresql", _result(1000), 50.0, 25.0),
        Row("postgresql", "kv1 write", "standby", "tessera pg standby", _result(900), 40.0, 30.0, 20.0),
    ]
    text = table(rows)
    assert (
        "| postgresql | kv1 write | 250 | 1.00 | 3.00 | 2000 | 500 | 1.00 | 3.00 | 1000 | 500 | 0/0 | 2.00 |"
        in text
    )
    # The standby: its own CPU, the active node's, the database's, and its share of the active's req/s.
    assert "| postgresql | kv1 write | 500 | 450 | 1.00 | 3.00 | 889 | 444 | 667 | 0 | 0.90 |" in text


def test_projection_scales_what_standbys_serve_and_caps_it_at_the_database() -> None:
    # 2 cores: a node at 500 µs/req serves 4,000 req/s; the database at 100 µs/req, 20,000.
    assert projected_rps(500, 500, 100, 1, local=True, cores=2) == pytest.approx(4000)
    assert projected_rps(500, 500, 100, 3, local=True, cores=2) == pytest.approx(12000)
    assert projected_rps(500, 500, 100, 5, local=True, cores=2) == pytest.approx(20000)
    assert projected_rps(500, 250, 100, 5, local=True, cores=2) == pytest.approx(20000)  # capped
    assert projected_rps(500, 500, 100, 5, local=False, cores=2) == pytest.approx(4000)  # forwarded


def test_projection_table_names_what_is_projected() -> None:
    rows = [
        Row("postgresql", "kv1 read batch", "tessera", "t", _result(1000, 1.0), 50.0, 10.0),
        Row("postgresql", "kv1 write", "tessera", "t", _result(1000, 1.0), 50.0, 10.0),
        Row("durable", "kv1 write", "tessera", "t", _result(1000, 1.0), 50.0),
    ]
    text = projection_table(rows, cores=2)  # type: ignore[arg-type]
    assert "Projected (not measured)" in text
    assert "| kv1 read batch | every node | 4,000 | 12,000 | 20,000 |" in text
    assert "| kv1 write | active only | 4,000 | 4,000 | 4,000 |" in text
    assert text.count("| kv1 write |") == 1  # the durable row is not projected


def test_the_benchs_database_and_its_backends_cpu(postgres: Postgres) -> None:
    database = BenchDatabase.create(postgres.dsn)
    try:
        with psycopg.connect(database.dsn, autocommit=True) as conn:
            conn.execute("SELECT count(*) FROM generate_series(1, 200000)")
            backends = database.backends()
            assert len(backends) == 1
            if process_seconds(next(iter(backends))) is None:
                pytest.skip("PostgreSQL runs elsewhere: its backends' CPU is not visible here")
            assert all(seconds >= 0 for seconds in backends.values())
    finally:
        database.drop()
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database.name,)).fetchone()
    assert found is None

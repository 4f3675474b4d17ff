"""Fixtures of the cluster tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.postgres import Postgres, PostgresUnavailable, ThrowawayCluster


@pytest.fixture
def own_postgres() -> Iterator[tuple[ThrowawayCluster, Postgres]]:
    """A PostgreSQL cluster of the test's own, which it may stop and restart (never the shared one)."""
    try:
        cluster = ThrowawayCluster()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster, cluster.start()
    finally:
        cluster.stop()

"""``bench/standby_role.py``: a performance standby serves the bench's read itself, every time."""

from __future__ import annotations

import pytest

from bench.standby_role import measure
from tests.helpers.postgres import Postgres

pytestmark = pytest.mark.postgres


def test_the_standby_serves_every_request_it_is_timed_on(postgres: Postgres) -> None:
    with postgres.fresh_database("standby_role") as (_, dsn):
        figures, served = measure(dsn, 200, 2)
    assert served == 400  # none forwarded: the figure is the standby's own path
    assert len(figures) == 2 and all(0 < f < 10_000 for f in figures)

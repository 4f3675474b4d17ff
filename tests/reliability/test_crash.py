"""Crash consistency, scaled down for CI: 10 SIGKILL cycles (``bench/crash_full.py`` runs 100+).

See ``crash.py`` for what is written, when the server is killed and what is checked.
``TESSERA_CRASH_CYCLES`` overrides the number of cycles.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.crash import run_cycles

pytestmark = pytest.mark.slow
CYCLES = int(os.environ.get("TESSERA_CRASH_CYCLES", "10"))


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    figures = run_cycles(tmp_path, CYCLES, window=(0.2, 0.8))
    print(figures.summary())
    assert figures.cycles == CYCLES
    assert figures.acknowledged > 10 * CYCLES

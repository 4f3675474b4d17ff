"""bench/instructions.py's pieces that run outside valgrind: the counted loop and the dump's totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.instructions import _counted, _each, _total


def test_the_counted_work_runs_once_and_each_step_in_order() -> None:
    seen: list[int] = []
    _counted(lambda: _each(seen.append, 5))
    assert seen == [0, 1, 2, 3, 4]


def test_a_dumps_total_is_read_from_its_summary_line(tmp_path: Path) -> None:
    dump = tmp_path / "cg.out.1"
    dump.write_text("version: 1\ncreator: callgrind\nevents: Ir\nsummary: 86421000\n")
    assert _total(dump) == 86421000
    dump.write_text("events: Ir\ntotals: 12\n")
    assert _total(dump) == 12
    dump.write_text("events: Ir\n")
    with pytest.raises(SystemExit):
        _total(dump)

"""hvac's own integration tests, the selected modules in a few pytest subprocesses, against Tessera.

``HVAC_SUITE_TARGET=reference`` runs the same modules against the reference OpenBao instead, which
checks the harness itself. Modules share a subprocess in batches (``selection.batches``) to save
start-ups; the JUnit report of each run says which module failed or passed nothing. The modules run from the unpacked sdist root (so ``tests.utils`` is hvac's)
with our plugin replacing hvac's ``ServerManager``; see ``prepare.py`` and ``tessera_hvac_plugin.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .prepare import prepare, suite_command, suite_env
from .results import outcomes, problems
from .selection import KNOWN_FAILURES, batches

TARGET = os.environ.get("HVAC_SUITE_TARGET", "tessera")
BATCH_TIMEOUT = 900

pytestmark = [pytest.mark.hvac, pytest.mark.slow]


@pytest.fixture(scope="session")
def hvac_root() -> Path:
    """hvac's tests, downloaded and unpacked once (shared by the xdist workers through a file lock)."""
    return prepare()


def _server_logs(log_dir: Path, limit: int = 20000) -> str:
    parts = []
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        parts.append(f"--- {path.name} ---\n{text[-limit:]}")
    return "\n".join(parts)


def _batch_id(batch: tuple[str, ...]) -> str:
    return "+".join(m.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_") for m in batch)


BATCHES = batches()


@pytest.mark.parametrize("batch", BATCHES, ids=[_batch_id(b) for b in BATCHES])
def test_hvac_modules(batch: tuple[str, ...], hvac_root: Path, tmp_path: Path) -> None:
    """Each module's tests all pass (skips allowed, known failures must still fail), and at least one ran."""
    log_dir = tmp_path / "server-logs"
    junit_xml = tmp_path / "junit.xml"
    cmd = [*suite_command(hvac_root, batch), f"--junitxml={junit_xml}"]
    proc = subprocess.run(
        cmd,
        cwd=hvac_root,
        env=suite_env(hvac_root, TARGET, expected_failures=KNOWN_FAILURES.get(TARGET, {}), log_dir=log_dir),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=BATCH_TIMEOUT,
    )
    output = proc.stdout + proc.stderr
    report = f"$ {' '.join(cmd)}\n{output[-30000:]}"
    if proc.returncode != 0:
        report += "\n" + _server_logs(log_dir)
    assert junit_xml.exists(), f"hvac's run wrote no report against {TARGET}:\n{report}"
    found = problems(outcomes(junit_xml, batch))
    assert not found, f"hvac's modules against {TARGET}:\n" + "\n".join(found) + f"\n{report}"
    assert proc.returncode == 0, f"hvac's run of {', '.join(batch)} failed against {TARGET}:\n{report}"

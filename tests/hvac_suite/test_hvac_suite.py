"""hvac's own integration tests, each selected module in a pytest subprocess, against Tessera.

``HVAC_SUITE_TARGET=reference`` runs the same modules against the reference OpenBao instead, which
checks the harness itself. The modules run from the unpacked sdist root (so ``tests.utils`` is hvac's)
with our plugin replacing hvac's ``ServerManager``; see ``prepare.py`` and ``tessera_hvac_plugin.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .prepare import prepare, suite_command, suite_env
from .selection import KNOWN_FAILURES, SELECTED

TARGET = os.environ.get("HVAC_SUITE_TARGET", "tessera")
MODULE_TIMEOUT = 600

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


@pytest.mark.parametrize("module", SELECTED, ids=[m.rsplit("/", 1)[-1].removesuffix(".py") for m in SELECTED])
def test_hvac_module(module: str, hvac_root: Path, tmp_path: Path) -> None:
    """The module's tests all pass (skips allowed, known failures must still fail), and at least one ran."""
    log_dir = tmp_path / "server-logs"
    cmd = suite_command(hvac_root, [module])
    proc = subprocess.run(
        cmd,
        cwd=hvac_root,
        env=suite_env(hvac_root, TARGET, expected_failures=KNOWN_FAILURES.get(TARGET, {}), log_dir=log_dir),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=MODULE_TIMEOUT,
    )
    output = proc.stdout + proc.stderr
    report = f"$ {' '.join(cmd)}\n{output[-30000:]}"
    if proc.returncode != 0:
        report += "\n" + _server_logs(log_dir)
    assert proc.returncode == 0, f"hvac's {module} failed against {TARGET}:\n{report}"
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) > 0, f"no test of {module} passed against {TARGET}:\n{report}"

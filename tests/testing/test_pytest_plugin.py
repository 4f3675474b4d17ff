"""The pytest plugin as a user meets it: a project of its own, run by pytest in a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

SAMPLE = Path(__file__).with_name("sample_project")


def test_the_plugin_is_registered_for_pytest() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("tessera") == "tessera.testing.plugin"


def _listening(addr: str) -> bool:
    parts = urlsplit(addr)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_project_uses_the_fixtures_and_the_servers_stop(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project)
    seen = tmp_path / "servers.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PYTEST_"))}
    env["SERVERS_SEEN"] = str(seen)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "test_settings.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout, proc.stdout
    addresses = seen.read_text().split()
    assert len(set(addresses)) == 3  # the session server, a fresh one, a sealed one
    assert not [a for a in addresses if _listening(a)]  # all stopped with their scope

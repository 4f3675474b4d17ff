"""The Vault version Tessera answers as, next to its own (see tessera/version.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packaging.version import Version

from tessera import __version__
from tessera.version import VAULT_VERSION
from tests.helpers.servers import TesseraServer
from tests.hvac_suite.prepare import vault_cli


def test_seal_status_and_health_answer_as_vault_and_name_tessera(tessera: TesseraServer) -> None:
    for path in ("sys/seal-status", "sys/health"):
        status, body, _ = tessera.call("GET", path, auth=False)
        assert status == 200
        assert body["version"] == VAULT_VERSION
        assert body["tessera_version"] == __version__
    assert Version(VAULT_VERSION) >= Version("1.16")  # what clients gate 1.x features on


def test_cli_version_and_status_say_tessera(tessera: TesseraServer) -> None:
    cli = [str(Path(sys.executable).with_name("tessera"))]
    assert (
        subprocess.run([*cli, "version"], capture_output=True, text=True).stdout
        == f"Tessera v{__version__}\n"
    )
    out = subprocess.run(
        [*cli, "status"],
        capture_output=True,
        text=True,
        env={"VAULT_ADDR": tessera.addr, "PATH": "/usr/bin:/bin"},
    ).stdout
    rows = [line.split() for line in out.splitlines()]
    assert ["Version", __version__] in rows, out


def test_named_vault_the_cli_says_the_vault_version_hvac_reads(tmp_path: Path) -> None:
    """hvac's tests run `vault -version` and take the second word, without its v."""
    vault = vault_cli(tmp_path) / "vault"
    out = subprocess.run([str(vault), "-version"], capture_output=True, text=True, check=True).stdout
    assert out == f"Vault v{VAULT_VERSION} (Tessera v{__version__})\n"
    assert out.strip().split()[1].lstrip("v") == VAULT_VERSION

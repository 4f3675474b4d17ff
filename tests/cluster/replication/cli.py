"""The ``tessera`` command line against a test server, as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers.servers import TesseraServer


def tessera_cli(server: TesseraServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(VAULT_ADDR=server.addr, VAULT_TOKEN=server.root_token or "", HOME=str(server.workdir))
    return subprocess.run(
        [sys.executable, "-m", "tessera", *args], capture_output=True, text=True, env=env, timeout=60
    )


def cli_ok(server: TesseraServer, *args: str) -> str:
    """The command's standard output; the command must succeed."""
    done = tessera_cli(server, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout

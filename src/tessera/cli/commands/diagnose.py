"""``tessera operator diagnose``: check a configuration, its storage and listeners (server/diagnose.py)."""

from __future__ import annotations

import orjson

from ... import __version__
from ...server.diagnose import diagnose, exit_code, render
from ...version import VAULT_VERSION
from ..base import Command


class OperatorDiagnoseCommand(Command):
    name = "operator diagnose"
    synopsis = "Troubleshoot problems starting Tessera"
    flag_bits = 0
    usage = """
Usage: tessera operator diagnose -config=<path> [options]

  Checks a server configuration file as the server would read it: its
  syntax, log settings, telemetry, storage (reachable? initialised?) and
  listeners (address free? certificate and key load together? expiry?).
  Nothing is written. The exit code is 0 when all is well, 2 when there
  are warnings and 4 when a check failed.

      $ tessera operator diagnose -config=/etc/tessera/config.hcl
"""

    command_flags = (
        ("config", "string", "Path to the configuration file to check."),
        ("format", "string", 'Output format: "table" or "json".', "table"),
    )

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        path = self.flag("config")
        if not path:
            self.ui.error("Must specify a configuration file using -config.")
            return 1
        result = diagnose(path)
        if self.flag("format") == "json":
            self.ui.output(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode())
        else:
            self.ui.output(f"Tessera v{__version__} (answering as Vault v{VAULT_VERSION})\n\nResults:")
            render(result, self.ui.output)
        return exit_code(result)

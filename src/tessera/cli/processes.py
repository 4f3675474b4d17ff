"""The long-running commands, ``server`` and ``agent``, imported only when one of them runs.

Importing the server pulls in granian, every backend and the cryptography behind them (about 1.5 s
against 0.2 s for the whole CLI): ``tessera kv get`` must not pay for it. So the two modules are
named here, in one table, and imported with importlib when their command is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

PROCESS_COMMANDS = {"server": "tessera.server.command", "agent": "tessera.agent.command"}


def process_command(name: str) -> Callable[[list[str]], int] | None:
    """The ``run(argv)`` of the long-running command ``name``, or None for any other command."""
    module = PROCESS_COMMANDS.get(name)
    if module is None:
        return None
    run: Callable[[list[str]], int] = importlib.import_module(module).run
    return run

"""What the long-running commands (``tessera server``, ``tessera agent``) share with each other.

Both parse their flags the way Go's ``flag`` package does, log with go-hclog's level names and
refuse a taken listen address before starting. They are separate programs (the agent imports no
server code), so these pieces sit below both.
"""

from __future__ import annotations

import logging
import socket

#: go-hclog's level names, as ``log_level`` / ``-log-level`` accept them
HCLOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def flag_value(
    argv: list[str], i: int, name: str, inline: str | None, error: type[Exception]
) -> tuple[str, int]:
    """A string flag's value, ``-name=v`` or ``-name v``, and the index of the argument it ended on.

    ``inline`` is the text after ``=`` (None without one); a missing value raises ``error`` with
    Go's text.
    """
    if inline is not None:
        return inline, i
    if i + 1 >= len(argv):
        raise error(f"flag needs an argument: -{name}")
    return argv[i + 1], i + 1


def bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on, or None when it can (the probe is closed again)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None

"""Log lines shaped like hashicorp/go-hclog, because operators grep Vault Agent's wording.

``2026-11-23T09:25:32.020Z [INFO]  agent.auth.handler: authentication successful: path=/x``
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from ..cmdutil import HCLOG_LEVELS

_LEVELS = HCLOG_LEVELS
_LABELS = {
    logging.DEBUG: "[DEBUG]",
    logging.INFO: "[INFO] ",
    logging.WARNING: "[WARN] ",
    logging.ERROR: "[ERROR]",
    logging.CRITICAL: "[ERROR]",
}


def _value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\t\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def kv(message: str, **fields: Any) -> str:
    """``message: k=v k2="v 2"``: hclog's key/value rendering (fields in call order)."""
    if not fields:
        return message
    return message + ": " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())


class HCLogFormatter(logging.Formatter):
    """UTC timestamps with milliseconds and hclog's padded level labels."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        label = _LABELS.get(record.levelno, "[INFO] ")
        text = f"{stamp}.{millis:03d}Z {label} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup(level: str) -> None:
    """Send the ``agent`` loggers to stderr at ``level`` (unknown levels fall back to info)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HCLogFormatter())
    root = logging.getLogger("agent")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level.lower(), logging.INFO))
    root.propagate = False


def valid_level(level: str) -> bool:
    return level.lower() in _LEVELS

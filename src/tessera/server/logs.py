"""The server log: level, format (standard or JSON) and a log file with size-based rotation.

Configured as Vault's: ``log_level``, ``log_format = "json"``, ``log_file`` (a file, or a directory
ending in ``/`` that gets ``tessera.log``), ``log_rotate_bytes`` and ``log_rotate_max_files``
(archives kept: 0 keeps all, -1 none). The JSON lines carry hclog's keys (``@level``,
``@message``, ``@module``, ``@timestamp``), so tools reading Vault's JSON log read ours.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..cmdutil import HCLOG_LEVELS

LEVELS = HCLOG_LEVELS
STANDARD_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
DEFAULT_FILE_NAME = "tessera.log"
# Loggers of the embedded HTTP server: only their warnings are worth an operator's attention.
QUIET_LOGGERS = ("_granian", "granian")


class LogConfigError(ValueError):
    pass


@dataclass
class LogSettings:
    level: str = "info"
    format: str = "standard"
    file: str = ""
    rotate_bytes: int = 0
    rotate_max_files: int = 0


def _int(raw: dict[str, Any], name: str) -> int:
    try:
        return int(str(raw.get(name, 0)))
    except ValueError:
        raise LogConfigError(f"{name}: expected a whole number, got {raw[name]!r}") from None


def log_settings(raw: dict[str, Any], level_flag: str = "") -> LogSettings:
    """The log settings of a configuration document; ``-log-level`` wins over ``log_level``."""
    settings = LogSettings(
        level=(level_flag or str(raw.get("log_level", "info"))).lower(),
        format=str(raw.get("log_format", "standard")).lower() or "standard",
        file=str(raw.get("log_file", "")),
        rotate_bytes=_int(raw, "log_rotate_bytes"),
        rotate_max_files=_int(raw, "log_rotate_max_files"),
    )
    if settings.level not in LEVELS:
        raise LogConfigError(f'unknown log level: "{settings.level}" (trace, debug, info, warn, error)')
    if settings.format not in ("standard", "json"):
        raise LogConfigError(f'unknown log format: "{settings.format}" (standard, json)')
    if settings.rotate_bytes < 0:
        raise LogConfigError("log_rotate_bytes must not be negative")
    if settings.rotate_max_files < -1:
        raise LogConfigError("log_rotate_max_files must be -1 or more")
    return settings


class JSONFormatter(logging.Formatter):
    """One JSON object per line, keyed as hclog's JSON format."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "@level": logging.getLevelName(record.levelno).lower().replace("warning", "warn"),
            "@message": record.getMessage(),
            "@module": record.name,
            "@timestamp": f"{stamp}.{int(record.created * 1e6) % 1000000:06d}Z",
        }
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


class ArchivingFileHandler(logging.handlers.RotatingFileHandler):
    """Past ``max_bytes`` the file moves aside as ``<name>-<unix nanoseconds><ext>``, as Vault's
    log files do; ``max_files`` archives are kept (0: all, -1: none)."""

    def __init__(self, path: str, max_bytes: int, max_files: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=0, encoding="utf-8", delay=False)
        self.max_files = max_files

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        path = Path(self.baseFilename)
        archive = path.with_name(f"{path.stem}-{time.time_ns()}{path.suffix}")
        if self.max_files == -1:
            path.unlink(missing_ok=True)
        else:
            os.replace(path, archive)
            self._prune(path)
        self.stream = self._open()

    def _prune(self, path: Path) -> None:
        if self.max_files <= 0:
            return
        archives = sorted(path.parent.glob(f"{path.stem}-*{path.suffix}"))
        for old in archives[: -self.max_files]:
            old.unlink(missing_ok=True)


def log_file_path(setting: str) -> str:
    return os.path.join(setting, DEFAULT_FILE_NAME) if setting.endswith("/") else setting


def setup(settings: LogSettings) -> None:
    """Point the root logger at stderr (and the log file), in the configured format and level."""
    formatter: logging.Formatter = (
        JSONFormatter() if settings.format == "json" else logging.Formatter(STANDARD_FORMAT)
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.file:
        path = log_file_path(settings.file)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(ArchivingFileHandler(path, settings.rotate_bytes, settings.rotate_max_files))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    set_level(settings.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """The root logger's level, at start-up or on SIGHUP.

    ``Logger.setLevel`` would clear every logger's level cache, the embedded HTTP server's too,
    whose Rust side then panics at shutdown; only the caches of other loggers are cleared here.
    """
    root = logging.getLogger()
    root.level = LEVELS.get(level.lower(), logging.INFO)
    with _LOCK:
        root._cache.clear()  # type: ignore[attr-defined]
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger) and not name.startswith(QUIET_LOGGERS):
                logger._cache.clear()  # type: ignore[attr-defined]


_LOCK = threading.Lock()

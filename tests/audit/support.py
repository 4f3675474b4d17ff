"""Shared pieces of the audit tests: servers that allow API-created devices, reading audit files,
and normalising audit lines so that two servers' lines can be compared.

OpenBao refuses ``sys/audit/<path>`` unless the configuration says
``unsafe_allow_api_audit_creation = true``; Tessera does the same, so both servers get that
(and ``allow_audit_log_prefixing``) from an extra ``-config`` file next to ``-dev``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer

ALLOW_CONFIG = "unsafe_allow_api_audit_creation = true\nallow_audit_log_prefixing = true\n"

HMAC_RE = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
ACCESSOR_NAME_RE = re.compile(r"^(?:auth_)?[a-z_]+_[0-9a-f]{8}$")
TOKEN_ACCESSOR_RE = re.compile(r"^[A-Za-z0-9]{24}$")
# Values that differ by nature between two servers, by key.
VOLATILE = {
    "time": "<time>",
    "id": "<id>",
    "remote_port": "<port>",
    "mount_running_version": "<version>",
    "mount_running_plugin_version": "<version>",
    "token_issue_time": "<time>",
    "creation_time": "<time>",
    "ttl": "<ttl>",  # remaining TTLs tick between the two servers' answers
}


def allow_config(directory: Path) -> Path:
    path = directory / "audit-allow.hcl"
    path.write_text(ALLOW_CONFIG)
    return path


def start_server(kind: type[ServerProcess], directory: Path) -> ServerProcess:
    """A dev server (reference or Tessera) that allows API-created audit devices."""
    directory.mkdir(parents=True, exist_ok=True)
    server = kind(extra_args=[f"-config={allow_config(directory)}"])
    return server.start()


def enable_file_device(server: ServerProcess, path: str, file_path: Path, **options: str) -> None:
    status, body, _ = server.call(
        "PUT", f"sys/audit/{path}", json={"type": "file", "options": {"file_path": str(file_path), **options}}
    )
    assert status == 204, f"enabling audit device {path} on {server.name}: {status} {body}"


class AuditFile:
    """An audit file read incrementally: ``mark()`` then ``since()`` gives one step's lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def since(self, expected: int | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Lines written after the mark (waiting until at least ``expected`` arrived)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                text = fh.read().decode()
            out = [json.loads(line) for line in text.splitlines() if line.strip()]
            if expected is None or len(out) >= expected or time.monotonic() > deadline:
                return out
            time.sleep(0.05)


def normalize_line(obj: Any, key: str | None = None) -> Any:
    """Per-server values become placeholders; every HMAC becomes ``<hmac>`` (only *whether* a value
    is hashed is compared, since each device has its own salt)."""
    if isinstance(obj, dict):
        return {k: (v if k == "namespace" else normalize_line(v, k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normalize_line(v, key) for v in obj]
    if isinstance(obj, str):
        if HMAC_RE.match(obj):
            return "<hmac>"
        if key in VOLATILE:
            return VOLATILE[key]
        if key == "mount_accessor" and ACCESSOR_NAME_RE.match(obj):
            return "<mount_accessor>"
        if key in ("accessor", "client_token_accessor") and TOKEN_ACCESSOR_RE.match(obj):
            return "<accessor>"
        if UUID_RE.match(obj):
            return "<uuid>"
        if TIME_RE.match(obj):
            return "<time>"
        return obj
    if key in VOLATILE and isinstance(obj, int) and not isinstance(obj, bool):
        return VOLATILE[key]
    if key is not None and key.isdigit() and isinstance(obj, int) and obj > 1_000_000_000:
        return "<epoch>"  # transit key versions map to creation times
    return obj


def drop(obj: Any, keys: frozenset[str]) -> Any:
    if isinstance(obj, dict):
        return {k: drop(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [drop(v, keys) for v in obj]
    return obj


def hashed_paths(obj: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every HMAC'd value in a line (what a device chose to hash)."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= hashed_paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out |= hashed_paths(v, f"{prefix}[{i}]")
    elif isinstance(obj, str) and HMAC_RE.match(obj):
        out.add(prefix)
    return out


__all__ = [
    "AuditFile",
    "ReferenceServer",
    "TesseraServer",
    "drop",
    "enable_file_device",
    "hashed_paths",
    "normalize_line",
    "start_server",
]

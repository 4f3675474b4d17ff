"""``tessera operator diagnose``: check a server configuration before (or while) a server uses it.

As Vault's diagnose: a tree of checks, each a success, warning, failure or skip with a plain
message, and advice where there is something to do. Nothing is written: storage is opened only
when it already exists, listeners are bound and released at once.
"""

from __future__ import annotations

import errno
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from ..cmdutil import bind_error
from ..core.seal import SEAL_CONFIG_PATH
from ..storage.opening import open_physical
from .config import ConfigError, ListenerConfig, ServerConfig, load_config
from .logs import LogConfigError, log_file_path, log_settings

SUCCESS, WARNING, FAILURE, SKIPPED = "success", "warning", "failure", "skipped"
_RANK = {SKIPPED: 0, SUCCESS: 1, WARNING: 2, FAILURE: 3}
CERT_EXPIRY_WARNING = timedelta(days=30)


@dataclass
class Check:
    name: str
    status: str = SUCCESS
    message: str = ""
    advice: str = ""
    children: list[Check] = field(default_factory=list)

    def add(self, child: Check) -> Check:
        self.children.append(child)
        if _RANK[child.status] > _RANK[self.status] and child.status != SKIPPED:
            self.status = child.status
        return child

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"name": self.name, "status": self.status}
        if self.message:
            doc["message"] = self.message
        if self.advice:
            doc["advice"] = self.advice
        if self.children:
            doc["children"] = [c.to_json() for c in self.children]
        return doc


def diagnose(config_path: str) -> Check:
    """Every check for one configuration file; the root's status is the worst of them."""
    root = Check("Tessera Diagnose")
    parse = root.add(Check("Parse Configuration"))
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        parse.status, parse.message = FAILURE, str(exc)
        root.status = FAILURE
        return root
    if not cfg.listeners:
        parse.status, parse.message = FAILURE, "no listener is configured"
        root.status = FAILURE
    root.add(_log_check(cfg))
    root.add(_telemetry_check(cfg))
    root.add(_storage_check(cfg))
    listeners = root.add(Check("Check Listeners"))
    for listener in cfg.listeners:
        listeners.add(_listener_check(listener))
    return root


def _log_check(cfg: ServerConfig) -> Check:
    check = Check("Check Logging")
    try:
        settings = log_settings(cfg.raw)
    except LogConfigError as exc:
        check.status, check.message = FAILURE, str(exc)
        return check
    if not settings.file:
        check.message = "logging to standard error only"
        return check
    directory = Path(log_file_path(settings.file)).parent
    existing = next((p for p in (directory, *directory.parents) if p.exists()), Path("/"))
    if not os.access(existing, os.W_OK):
        check.status = FAILURE
        check.message = f"log file directory {directory} cannot be created or written to"
    return check


def _telemetry_check(cfg: ServerConfig) -> Check:
    check = Check("Check Telemetry")
    if not cfg.telemetry.prometheus_enabled:
        check.status = WARNING
        check.message = "Prometheus metrics are off: sys/metrics?format=prometheus answers 400"
        check.advice = (
            'Set telemetry { prometheus_retention_time = "24h" } to scrape sys/metrics with Prometheus.'
        )
    return check


def _storage_check(cfg: ServerConfig) -> Check:
    check = Check(f"Check Storage ({cfg.storage_type})")
    kind = cfg.storage_type
    if kind == "inmem":
        check.status = WARNING
        check.message = "inmem storage loses every secret when the server stops"
        check.advice = 'Use storage "sqlite" (or "postgresql") for anything but tests.'
        return check
    if kind in ("sqlite", "file"):
        return _sqlite_check(check, cfg.storage_options.get("path", ""))
    if kind in ("postgresql", "postgres"):
        return _opened(check, cfg)
    check.status, check.message = FAILURE, f"unknown storage type {kind!r}"
    return check


def _sqlite_check(check: Check, path: str) -> Check:
    if not path:
        check.status, check.message = FAILURE, 'storage "sqlite" needs a "path"'
        return check
    db = Path(path)
    if not db.exists():
        if not db.parent.is_dir() or not os.access(db.parent, os.W_OK):
            check.status = FAILURE
            check.message = f"{db.parent} does not exist or is not writable: the database cannot be created"
            return check
        check.status = WARNING
        check.message = f"{db} does not exist yet: the server will create it, uninitialised"
        return check
    if not os.access(db, os.R_OK | os.W_OK):
        check.status, check.message = FAILURE, f"{db} is not readable and writable by this user"
        return check
    return _opened(check, ServerConfig(storage_type="sqlite", storage_options={"path": path}))


def _opened(check: Check, cfg: ServerConfig) -> Check:
    """Open the storage and read the seal configuration: reachable, and initialised or not."""
    try:
        physical = open_physical(cfg.storage_type, cfg.storage_options)
    except Exception as exc:
        check.status, check.message = FAILURE, f"cannot open storage: {exc}"
        return check
    try:
        initialised = physical.get(SEAL_CONFIG_PATH) is not None
    except Exception as exc:
        check.status, check.message = FAILURE, f"storage opened but cannot be read: {exc}"
        return check
    finally:
        physical.close()
    if not initialised:
        check.status = WARNING
        check.message = "storage is reachable but not initialised"
        check.advice = "Start the server and run tessera operator init."
    else:
        check.message = "storage is reachable and initialised"
    return check


def _listener_check(listener: ListenerConfig) -> Check:
    check = Check(f"Listener {listener.address}")
    try:
        host, port = listener.host_port
    except ConfigError as exc:
        check.status, check.message = FAILURE, str(exc)
        return check
    check.add(_bind_check(host, port))
    if listener.tls_disable:
        check.add(
            Check(
                "TLS",
                WARNING,
                "TLS is disabled: tokens and secrets cross the network in clear text",
                "Set tls_cert_file and tls_key_file unless a TLS proxy on this host fronts the listener.",
            )
        )
    else:
        check.add(_tls_check(listener))
    return check


def _bind_check(host: str, port: int) -> Check:
    exc = bind_error(host, port)
    if exc is None:
        return Check("Bind", SUCCESS, f"{host}:{port} is free")
    if exc.errno == errno.EADDRINUSE:
        return Check(
            "Bind",
            WARNING,
            f"{host}:{port} is in use",
            "Fine if it is this server running; otherwise another process holds the port.",
        )
    return Check("Bind", FAILURE, f"cannot listen on {host}:{port}: {exc.strerror}")


def _tls_check(listener: ListenerConfig) -> Check:
    check = Check("TLS")
    for label, path in (("tls_cert_file", listener.tls_cert_file), ("tls_key_file", listener.tls_key_file)):
        if not os.access(path, os.R_OK):
            check.status, check.message = FAILURE, f"{label} {path} does not exist or cannot be read"
            return check
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(listener.tls_cert_file, listener.tls_key_file)
    except (ssl.SSLError, OSError) as exc:
        check.status = FAILURE
        check.message = f"the certificate and key do not load together: {exc}"
        return check
    expiry = _certificate_expiry(listener.tls_cert_file)
    if expiry is not None:
        left = expiry - datetime.now(UTC)
        if left <= timedelta(0):
            check.status, check.message = FAILURE, f"the certificate expired on {expiry:%Y-%m-%d}"
        elif left <= CERT_EXPIRY_WARNING:
            check.status, check.message = WARNING, f"the certificate expires on {expiry:%Y-%m-%d}"
            check.advice = "Renew it, then send the server a SIGHUP: it reloads the certificate."
        else:
            check.message = f"certificate valid until {expiry:%Y-%m-%d}"
    if listener.tls_client_ca_file and not os.access(listener.tls_client_ca_file, os.R_OK):
        check.status = FAILURE
        check.message = f"tls_client_ca_file {listener.tls_client_ca_file} cannot be read"
    return check


def _certificate_expiry(path: str) -> datetime | None:
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (ValueError, OSError):
        return None
    return cert.not_valid_after_utc


def render(check: Check, out: Callable[[str], None], depth: int = 0) -> None:
    """Vault's layout: ``[ status ] name: message``, children indented, advice under its check."""
    pad = "  " * depth
    text = f"{pad}[ {check.status} ] {check.name}"
    out(text + (f": {check.message}" if check.message else ""))
    if check.advice:
        out(f"{pad}  {check.advice}")
    for child in check.children:
        render(child, out, depth + 1)


def exit_code(check: Check) -> int:
    """Vault's: 0 when all is well, 2 with warnings, 4 with failures."""
    return {FAILURE: 4, WARNING: 2}.get(check.status, 0)

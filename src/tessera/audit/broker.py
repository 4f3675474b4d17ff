"""The audit broker: the table of enabled devices, kept through the barrier, and fan-out logging.

A request counts as recorded when at least one device wrote it (Vault's AuditBroker); when every
enabled device fails the core refuses the request. The table lives at ``core/audit`` (and
``core/local-audit`` for local devices) like the mount tables; each device keeps its HMAC salt
in its own barrier view ``audit/<uuid>/``. Devices declared in the server configuration are
created at unseal and cannot be disabled through the API.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from ..core.host import Host
from ..framework import Request
from ..storage.base import StorageView, TxnOp
from ..telemetry import metrics
from .devices import Device, DeviceError, create_device
from .formatter import AuthInfo, LogInput, RequestInfo
from .hashing import LazySalt
from .trail import Trail

_AUDIT_METRICS = {
    "request": (metrics.AUDIT_LOG_REQUEST, metrics.AUDIT_LOG_REQUEST_FAILURE),
    "response": (metrics.AUDIT_LOG_RESPONSE, metrics.AUDIT_LOG_RESPONSE_FAILURE),
}
log = logging.getLogger("tessera.audit")

AUDIT_TABLE = "core/audit"
LOCAL_AUDIT_TABLE = "core/local-audit"
AUDIT_VIEW_PREFIX = "audit/"
API_TABLE = "audit"
CONFIG_TABLE = "audit-config"


class AuditError(Exception):
    """A refused table change; the text is the reference's error."""


@dataclass
class AuditEntry:
    """One row of the audit table (a MountEntry in Vault)."""

    path: str
    type: str
    description: str = ""
    options: dict[str, str] = field(default_factory=dict)
    local: bool = False
    uuid: str = ""
    accessor: str = ""
    table: str = API_TABLE

    def to_api(self) -> dict[str, Any]:
        """The entry as ``GET sys/audit`` shows it."""
        return {
            "path": self.path,
            "type": self.type,
            "description": self.description,
            "options": dict(self.options),
            "local": self.local,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AuditEntry:
        known = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**known)


@dataclass
class DeclaredDevice:
    """An ``audit "<type>" "<path>" { ... }`` block of the server configuration."""

    type: str
    path: str
    description: str = ""
    options: dict[str, str] = field(default_factory=dict)
    local: bool = False


def sanitize_path(path: str) -> str:
    """Vault's sanitizePath: no leading slash, one trailing slash."""
    path = path.lstrip("/")
    return path if path.endswith("/") else path + "/"


class AuditBroker:
    """Enabled devices of one unsealed core, and the requests they record."""

    def __init__(self, core: Host) -> None:
        self.core = core
        self.lock = threading.RLock()
        self.entries: list[AuditEntry] = []
        # Replaced, never mutated, so that logging reads a consistent snapshot without a lock.
        self.devices: dict[str, Device] = {}

    # -- settings ---------------------------------------------------------------------------
    def _setting(self, name: str) -> Any:
        return self.core.config.extra.get(name)

    @property
    def allow_api_creation(self) -> bool:
        """Off unless the configuration turns it on, as OpenBao 2.x (Vault enables through the API)."""
        return bool(self._setting("unsafe_allow_api_audit_creation"))

    @property
    def allow_prefixing(self) -> bool:
        return bool(self._setting("allow_audit_log_prefixing"))

    # -- lifecycle --------------------------------------------------------------------------
    def setup(self) -> None:
        """Load the table at unseal and start its devices; fail if none of them can start."""
        barrier = self.core.barrier
        entries: list[AuditEntry] = []
        for key in (AUDIT_TABLE, LOCAL_AUDIT_TABLE):
            doc = barrier.get_json(key)
            if doc:
                entries.extend(AuditEntry.from_json(d) for d in doc.get("entries") or [])
        devices: dict[str, Device] = {}
        for entry in entries:
            try:
                devices[entry.path] = self._new_device(entry)
            except DeviceError as exc:
                log.error("failed to set up audit device %s: %s", entry.path, exc)
        with self.lock:
            self.entries = entries
            self.devices = devices
        if entries and not devices:
            raise RuntimeError("failed to setup audit table")
        declared = self._setting("audit_devices") or []
        if declared:
            self.apply_declared(declared)

    def teardown(self) -> None:
        with self.lock:
            devices, self.devices = self.devices, {}
            self.entries = []
        for device in devices.values():
            device.close()

    def storage_views(self) -> list[tuple[str, str, bool]]:
        with self.lock:
            return [(AUDIT_VIEW_PREFIX + e.uuid + "/", e.type, e.local) for e in self.entries]

    def _view(self, entry: AuditEntry) -> StorageView:
        return StorageView(self.core.barrier, AUDIT_VIEW_PREFIX + entry.uuid + "/")

    def _new_device(self, entry: AuditEntry) -> Device:
        return create_device(entry.type, dict(entry.options), LazySalt(self._view(entry)))

    def _persist(self, entries: list[AuditEntry]) -> None:
        shared = [asdict(e) for e in entries if not e.local]
        local = [asdict(e) for e in entries if e.local]
        self.core.barrier.transaction(
            [
                TxnOp(AUDIT_TABLE, orjson.dumps({"type": API_TABLE, "entries": shared})),
                TxnOp(LOCAL_AUDIT_TABLE, orjson.dumps({"type": API_TABLE, "entries": local})),
            ]
        )

    # -- table changes ----------------------------------------------------------------------
    def enable(self, entry: AuditEntry, *, skip_test: bool = False) -> None:
        """enableAudit: check the path, build and probe the device, persist, register."""
        if not entry.path.endswith("/"):
            entry.path += "/"
        if entry.path == "/":
            raise AuditError("backend path must be specified")
        with self.lock:
            for existing in self.entries:
                if existing.path.startswith(entry.path) or entry.path.startswith(existing.path):
                    raise AuditError("path already in use")
            entry.uuid = entry.uuid or str(uuid.uuid4())
            entry.accessor = entry.accessor or f"audit_{entry.type}_{secrets.token_hex(4)}"
            try:
                device = self._new_device(entry)
            except DeviceError as exc:
                raise AuditError(str(exc)) from None
            if entry.options.get("skip_test") != "true" and not skip_test:
                try:
                    device.log_test_message()
                except DeviceError as exc:
                    device.close()
                    log.error(
                        "new audit backend failed test: path=%s type=%s: %s", entry.path, entry.type, exc
                    )
                    raise AuditError(f"audit backend failed test message: {exc}") from None
            entries = [*self.entries, entry]
            try:
                self._persist(entries)
            except Exception:
                device.close()
                raise AuditError("failed to update audit table") from None
            self.entries = entries
            self.devices = {**self.devices, entry.path: device}
        log.info("enabled audit backend: path=%s type=%s", entry.path, entry.type)

    def find(self, path: str) -> AuditEntry | None:
        path = sanitize_path(path)
        with self.lock:
            return next((e for e in self.entries if e.path == path), None)

    def disable(self, path: str) -> bool:
        """disableAudit: remove the entry, its device and its salt; False if nothing was there."""
        path = sanitize_path(path)
        with self.lock:
            entry = next((e for e in self.entries if e.path == path), None)
            if entry is None:
                return False
            entries = [e for e in self.entries if e is not entry]
            try:
                self._persist(entries)
            except Exception:
                raise AuditError("failed to update audit table") from None
            self.entries = entries
            devices = dict(self.devices)
            device = devices.pop(path, None)
            self.devices = devices
        if device is not None:
            device.close()
        self._view(entry).delete_prefix("")
        log.info("disabled audit backend: path=%s", path)
        return True

    def apply_declared(self, declared: list[DeclaredDevice]) -> None:
        """handleAuditLogSetup: create configured devices, check them, drop removed ones."""
        seen: set[str] = set()
        for index, dev in enumerate(declared):
            path = sanitize_path(dev.path) if dev.path.strip("/") else ""
            if not path:
                raise RuntimeError(f"audit config {index} is missing a path")
            if path in seen:
                raise RuntimeError(f"two audit devices with same path ({path}) exist in config")
            if "prefix" in dev.options and not self.allow_prefixing:
                raise RuntimeError("audit log prefixing is not allowed")
            seen.add(path)
            existing = self.find(path)
            if existing is None:
                entry = AuditEntry(
                    path=path,
                    type=dev.type,
                    description=dev.description,
                    options=dict(dev.options),
                    local=dev.local,
                    table=CONFIG_TABLE,
                )
                try:
                    self.enable(entry)
                except AuditError as exc:
                    raise RuntimeError(f"failed to create new audit device {path}: {exc}") from None
                continue
            if existing.table != CONFIG_TABLE:
                raise RuntimeError(
                    f"audit device in configuration (path: {path}) was already created by API; remove the "
                    "API audit device before attempting to create a duplicate configuration-based version"
                )
            if (existing.type, existing.description, existing.local, existing.options) != (
                dev.type,
                dev.description,
                dev.local,
                dev.options,
            ):
                raise RuntimeError(
                    f"failed to validate audit device config {path}: modifications to audit devices are not allowed"
                )
        for entry in list(self.entries):
            if entry.table == CONFIG_TABLE and entry.path not in seen:
                log.info("disabling removed audit device: path=%s", entry.path)
                self.disable(entry.path)

    # -- queries ----------------------------------------------------------------------------
    def table(self) -> list[AuditEntry]:
        with self.lock:
            return list(self.entries)

    def get_hash(self, path: str, value: str) -> str:
        device = self.devices.get(sanitize_path(path))
        if device is None:
            raise AuditError(f'unknown audit backend "{sanitize_path(path)}"')
        return device.get_hash(value)

    @property
    def active(self) -> bool:
        return bool(self.devices)

    def trail(self, req: Request) -> Trail | None:
        """The audit record of one request, or None when no device is enabled (no cost then)."""
        if not self.devices:
            return None
        return Trail(self.core, self, req)

    # -- logging ----------------------------------------------------------------------------
    def log_privileged(self, entry: Any, token_id: str, path: str, operation: str) -> bool:
        """sys/seal and sys/step-down (raw handlers): Vault records the request alone, with the
        caller's token facts, before its ACL check. True when recorded (or nothing to record to)."""
        if not self.devices:
            return True
        auth = AuthInfo(
            client_token=token_id,
            accessor=entry.accessor or "",
            display_name=entry.display_name,
            policies=list(entry.policies),
            token_policies=list(entry.policies),
            metadata=dict(entry.meta) if entry.meta else None,
            entity_id=entry.entity_id,
            token_type=entry.type,
        )
        request = RequestInfo(
            id=str(uuid.uuid4()),
            operation=operation,
            client_token=token_id,
            client_token_accessor=entry.accessor or "",
            path=path,
            remaining_uses=max(int(entry.num_uses or 0), 0),
        )
        return self.log_request(LogInput(request=request, auth=auth))

    def log_request(self, inp: LogInput) -> bool:
        """Offer the request to every device; True when at least one recorded it."""
        return self._fan_out(inp, "request")

    def log_response(self, inp: LogInput) -> bool:
        return self._fan_out(inp, "response")

    def _fan_out(self, inp: LogInput, kind: str) -> bool:
        devices = self.devices
        if not devices:
            return True
        start = time.perf_counter()
        logged = False
        failures = 0
        for path, device in devices.items():
            try:
                if kind == "request":
                    device.log_request(inp)
                else:
                    device.log_response(inp)
                logged = True
            except Exception as exc:
                failures += 1
                log.error("backend failed to log %s: backend=%s error=%s", kind, path, exc)
        timer, failed = _AUDIT_METRICS[kind]
        timer.since(start)
        failed.inc(amount=float(failures))  # Vault adds 0 too: the series exists from the first line
        if not logged:
            log.error("failed to audit %s: path=%s: no audit backend succeeded", kind, inp.request.path)
        return logged

    def reload(self) -> list[str]:
        """SIGHUP: every device reopens its file or connection; returns the errors."""
        errors: list[str] = []
        for path, device in self.devices.items():
            try:
                device.reload()
                log.info("reloaded audit backend: path=%s", path)
            except DeviceError as exc:
                errors.append(f"error encountered reloading audit device at path {path!r}: {exc}")
                log.error("error reloading audit device %s: %s", path, exc)
        return errors


def parse_declared(raw: Any) -> list[DeclaredDevice]:
    """``audit "file" "path" { ... }`` blocks of a parsed HCL config (pyhcl's nested dicts)."""
    out: list[DeclaredDevice] = []
    blocks = raw if isinstance(raw, list) else [raw]
    for block in blocks:
        if not isinstance(block, dict):
            raise ValueError("error parsing 'audit': expected a block")
        for dtype, inner in block.items():
            for body_or_paths in inner if isinstance(inner, list) else [inner]:
                if not isinstance(body_or_paths, dict):
                    raise ValueError("error parsing 'audit': expected a block")
                if "path" in body_or_paths or "options" in body_or_paths or "type" in body_or_paths:
                    out.append(_declared(dtype, str(body_or_paths.get("path", "")), body_or_paths))
                    continue
                for path, body in body_or_paths.items():
                    for b in body if isinstance(body, list) else [body]:
                        out.append(_declared(dtype, path, b or {}))
    return out


def _declared(dtype: str, path: str, body: dict[str, Any]) -> DeclaredDevice:
    options = body.get("options") or {}
    if isinstance(options, list):
        merged: dict[str, Any] = {}
        for item in options:
            merged.update(item)
        options = merged
    local = body.get("local", False)
    return DeclaredDevice(
        type=str(body.get("type") or dtype),
        path=str(body.get("path") or path),
        description=str(body.get("description", "")),
        options={str(k): _option_text(v) for k, v in options.items()},
        local=local if isinstance(local, bool) else str(local).lower() in ("1", "true", "t"),
    )


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

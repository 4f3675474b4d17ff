"""The server's HCL configuration file (the subset of Vault's that Tessera implements)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..core.lockout import parse_user_lockouts
from ..gocompat.durations import DurationError, parse_duration_second
from ..hcl import HCLError
from ..hcl import decode as decode_hcl
from ..telemetry.config import TelemetryConfig, TelemetryError, parse_telemetry


class ConfigError(ValueError):
    pass


@dataclass
class ListenerConfig:
    address: str = "127.0.0.1:8200"
    tls_disable: bool = False
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    tls_require_and_verify_client_cert: bool = False
    # Vault asks every TLS client for a certificate unless this is true; Tessera asks only when it is
    # explicitly false (None: not set), since the listener that asks is Python's (server/tls_front.py).
    tls_disable_client_certs: bool | None = None
    tls_min_version: str = "tls12"
    max_request_size: int = 33554432
    # OpenBao's safe defaults: the unauthenticated key ceremonies are off unless a listener allows them.
    disable_unauthed_rekey_endpoints: bool = True
    disable_unauthed_generate_root_endpoints: bool = True
    # Vault's limits on slow and idle clients, in seconds (0: none); see server/intake.py.
    http_read_header_timeout: int = 10
    http_read_timeout: int = 30
    http_write_timeout: int = 0
    http_idle_timeout: int = 300
    max_request_duration: int = 0  # 0: the server's default (90 s, as Vault's)
    # Open connections served at once (0: as many as the open-file limit allows, less a reserve).
    max_connections: int = 0
    # telemetry { unauthenticated_metrics_access = true }: sys/metrics without a token.
    unauthenticated_metrics_access: bool = False
    # Where an HA node's cluster listener binds ("": the address's port + 1, as Vault's).
    cluster_address: str = ""

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"invalid listener address {self.address!r}")
        return host.strip("[]"), int(port)


@dataclass
class ServerConfig:
    storage_type: str = "inmem"
    storage_options: dict[str, str] = field(default_factory=dict)
    listeners: list[ListenerConfig] = field(default_factory=list)
    api_addr: str = ""
    cluster_name: str = ""
    default_lease_ttl: int = 768 * 3600
    max_lease_ttl: int = 768 * 3600
    log_level: str = "info"
    ui: bool = False
    # sys/raw (decrypted storage access) is served only when the operator asks for it.
    raw_storage_endpoint: bool = False
    # Records the replication log keeps (Tessera's own setting; 0: replication/log.py's default).
    replication_log_retention: int = 0
    # Processes serving the listeners (cluster/pool.py): the active one plus workers.
    workers: int = 1
    # user_lockout "all" | "<auth type>" blocks (core/lockout.py), by type.
    user_lockouts: dict[str, Any] = field(default_factory=dict)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    raw: dict[str, Any] = field(default_factory=dict)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "t", "yes")


def _blocks(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """HCL ``storage "sqlite" {...}`` decodes as {"sqlite": {...}}; repeated blocks as lists."""
    out: list[tuple[str, dict[str, Any]]] = []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError("expected a block")
        for name, body in item.items():
            bodies = body if isinstance(body, list) else [body]
            for b in bodies:
                out.append((name, b or {}))
    return out


def parse_config(text: str) -> ServerConfig:
    try:
        # Repeated blocks (two listeners) stay separate, which pyhcl would merge.
        raw = json.loads(text) if text.lstrip().startswith("{") else decode_hcl(text)
    except (HCLError, ValueError) as exc:
        raise ConfigError(f"error parsing config: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError("error parsing config: the document must be an object")
    cfg = ServerConfig(raw=raw)
    storage = raw.get("storage") or raw.get("backend")
    if storage is not None:
        blocks = _blocks(storage)
        if len(blocks) != 1:
            raise ConfigError("exactly one storage block is allowed")
        cfg.storage_type, opts = blocks[0]
        cfg.storage_options = {k: str(v) for k, v in opts.items()}
    for kind, body in _blocks(raw.get("listener", [])):
        if kind != "tcp":
            raise ConfigError(f"unsupported listener type {kind!r}")
        listener = ListenerConfig(
            address=str(body.get("address", "127.0.0.1:8200")),
            tls_disable=_bool(body.get("tls_disable", False)),
            tls_cert_file=str(body.get("tls_cert_file", "")),
            tls_key_file=str(body.get("tls_key_file", "")),
            tls_client_ca_file=str(body.get("tls_client_ca_file", "")),
            tls_require_and_verify_client_cert=_bool(body.get("tls_require_and_verify_client_cert", False)),
            tls_disable_client_certs=(
                _bool(body["tls_disable_client_certs"]) if "tls_disable_client_certs" in body else None
            ),
            tls_min_version=str(body.get("tls_min_version", "tls12")),
            cluster_address=str(body.get("cluster_address", "")),
            disable_unauthed_rekey_endpoints=_bool(body.get("disable_unauthed_rekey_endpoints", True)),
            disable_unauthed_generate_root_endpoints=_bool(
                body.get("disable_unauthed_generate_root_endpoints", True)
            ),
        )
        listener_telemetry = body.get("telemetry") or {}
        if isinstance(listener_telemetry, list):  # a repeated block: the last one wins
            listener_telemetry = listener_telemetry[-1] if listener_telemetry else {}
        if isinstance(listener_telemetry, dict):
            listener.unauthenticated_metrics_access = _bool(
                listener_telemetry.get("unauthenticated_metrics_access", False)
            )
        if "max_request_size" in body:
            listener.max_request_size = int(body["max_request_size"])
        _parse_limits(listener, body)
        if not listener.tls_disable and not (listener.tls_cert_file and listener.tls_key_file):
            raise ConfigError(
                "listener: tls_cert_file and tls_key_file are required unless tls_disable = true"
            )
        if listener.tls_disable_client_certs is True and listener.tls_require_and_verify_client_cert:
            raise ConfigError(
                "listener: 'tls_disable_client_certs' and 'tls_require_and_verify_client_cert' are mutually exclusive"
            )
        if listener.tls_min_version not in ("tls12", "tls13"):
            raise ConfigError(f"listener: unsupported tls_min_version {listener.tls_min_version!r}")
        cfg.listeners.append(listener)
    cfg.api_addr = str(raw.get("api_addr", ""))
    cfg.cluster_name = str(raw.get("cluster_name", ""))
    cfg.log_level = str(raw.get("log_level", "info"))
    cfg.ui = _bool(raw.get("ui", False))
    cfg.raw_storage_endpoint = _bool(raw.get("raw_storage_endpoint", False))
    retention = str(raw.get("replication_log_retention", "0"))
    if not retention.isdigit():
        raise ConfigError(f"replication_log_retention: {retention!r} is not a whole number of records")
    cfg.replication_log_retention = int(retention)
    try:
        cfg.telemetry = parse_telemetry(raw.get("telemetry"))
    except TelemetryError as exc:
        raise ConfigError(str(exc)) from None
    cfg.workers = workers_setting(raw.get("workers", 1), cfg.storage_type)
    try:
        cfg.user_lockouts = parse_user_lockouts(_blocks(raw.get("user_lockout", [])))
    except ValueError as exc:
        raise ConfigError(f"error parsing 'user_lockout': {exc}") from None
    try:
        if "default_lease_ttl" in raw:
            cfg.default_lease_ttl = parse_duration_second(raw["default_lease_ttl"])
        if "max_lease_ttl" in raw:
            cfg.max_lease_ttl = parse_duration_second(raw["max_lease_ttl"])
    except DurationError as exc:
        raise ConfigError(str(exc)) from None
    if cfg.default_lease_ttl > cfg.max_lease_ttl:
        raise ConfigError("default_lease_ttl cannot be greater than max_lease_ttl")
    return cfg


LISTENER_DURATIONS = (
    "http_read_header_timeout",
    "http_read_timeout",
    "http_write_timeout",
    "http_idle_timeout",
    "max_request_duration",
)


def _parse_limits(listener: ListenerConfig, body: dict[str, Any]) -> None:
    """The listener's timeouts (Go durations or seconds) and connection cap, as Vault reads them."""
    for name in LISTENER_DURATIONS:
        if name not in body:
            continue
        try:
            seconds = parse_duration_second(body[name])
        except DurationError as exc:
            raise ConfigError(f"listener: error parsing {name}: {exc}") from None
        if seconds < 0:
            raise ConfigError(f"listener: {name} cannot be negative")
        setattr(listener, name, seconds)
    if "max_connections" in body:
        try:
            listener.max_connections = int(str(body["max_connections"]))
        except ValueError:
            raise ConfigError(
                f"listener: max_connections: expected a whole number, got {body['max_connections']!r}"
            ) from None
        if listener.max_connections < 0:
            raise ConfigError("listener: max_connections cannot be negative")


MAX_WORKERS = 64


def workers_setting(value: Any, storage_type: str) -> int:
    """``workers``: processes in all; more than one needs storage they can share (SQLite's file,
    or a PostgreSQL database, whose change feed the workers follow)."""
    try:
        count = int(str(value))
    except ValueError:
        raise ConfigError(f"workers: expected a whole number, got {value!r}") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigError(f"workers: must be between 1 and {MAX_WORKERS}, got {count}")
    if count > 1 and storage_type not in ("sqlite", "file", "postgresql", "postgres"):
        raise ConfigError(
            f'workers = {count} needs storage "sqlite" or "postgresql" (worker processes share its data)'
        )
    return count


def load_config(path: str) -> ServerConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_config(fh.read())
    except OSError as exc:
        raise ConfigError(f"error loading configuration from {path}: {exc.strerror}") from None

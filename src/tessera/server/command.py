"""``tessera server``: start a server from a config file, or a throwaway dev server."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from granian.constants import SSLProtocols

from .. import __version__
from ..audit.broker import AuditBroker, parse_declared
from ..cluster.pool import WorkerPool, shared_state_path
from ..cmdutil import bind_error, flag_value
from ..core.core import Core, CoreConfig
from ..core.telemetry import Telemetry
from ..runtime.scheduling import use_batch_scheduling
from ..storage.base import Physical
from ..storage.opening import open_physical
from ..storage.pg_options import PostgreSQLOptions
from ..system.ceremonies import refused_key_endpoints
from ..telemetry.config import TelemetryConfig
from ..ui.assets import UIAssets
from ..version import VAULT_VERSION
from . import logs
from .app import App
from .cluster_listener import build_cluster_server, cluster_listener_configs
from .config import ConfigError, ListenerConfig, ServerConfig, load_config, workers_setting
from .dev import setup_dev
from .fdlimit import raise_open_file_limit
from .listen import make_server
from .listeners import Listeners, TLSFiles
from .recovery_app import RecoveryApp
from .tls_front import TLSFrontServer

log = logging.getLogger("tessera.server")

USAGE = """Usage: tessera server [options]

  This command starts a Tessera server that responds to API requests. By
  default, Tessera will start in a "sealed" state. The server must be
  initialized and unsealed (tessera operator init / unseal).

  Start a server with a configuration file:

      $ tessera server -config=/etc/tessera/config.hcl

  Run in "dev" mode:

      $ tessera server -dev -dev-root-token-id="root"

Command Options:

  -config=<string>               Path to a configuration file.
  -dev                           Enable development mode (in-memory, unsealed).
  -dev-root-token-id=<string>    Initial root token in dev mode.
  -dev-listen-address=<string>   Address to bind to in dev mode (127.0.0.1:8200).
  -log-level=<string>            Log verbosity: trace, debug, info, warn, error.
  -recovery                      Recovery mode: no mounts or tokens; sys/raw behind a recovery token.
"""


@dataclass
class ServerFlags:
    config: list[str]
    dev: bool = False
    dev_root_token_id: str = ""
    dev_listen_address: str = "127.0.0.1:8200"
    log_level: str = ""
    recovery: bool = False


class UsageError(Exception):
    pass


def parse_flags(argv: list[str]) -> ServerFlags:
    flags = ServerFlags(config=[])
    env_token = os.environ.get("VAULT_DEV_ROOT_TOKEN_ID", "")
    env_addr = os.environ.get("VAULT_DEV_LISTEN_ADDRESS", "")
    flags.dev_root_token_id = env_token
    if env_addr:
        flags.dev_listen_address = env_addr
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            raise UsageError(f"unexpected argument {arg!r}")
        name, eq, value = arg.lstrip("-").partition("=")
        bool_flags = {"dev", "recovery"}
        if name in bool_flags:
            setattr(flags, name, value.lower() not in ("false", "0", "f") if eq else True)
        elif name in ("config", "dev-root-token-id", "dev-listen-address", "log-level"):
            value, i = flag_value(argv, i, name, value if eq else None, UsageError)
            if name == "config":
                flags.config.append(value)
            elif name == "dev-root-token-id":
                flags.dev_root_token_id = value
            elif name == "dev-listen-address":
                flags.dev_listen_address = value
            else:
                flags.log_level = value
        elif name in ("h", "help"):
            raise UsageError("")
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
        i += 1
    return flags


def setup_logging(level: str, raw: dict[str, Any] | None = None) -> None:
    """The log as configured; worker processes pass no ``raw`` (the active process owns the file)."""
    settings = logs.log_settings({k: v for k, v in (raw or {}).items() if k != "log_file"}, level)
    if raw and raw.get("log_file"):
        settings.file = str(raw["log_file"])
    logs.setup(settings)


def run(argv: list[str]) -> int:
    try:
        flags = parse_flags(argv)
    except UsageError as exc:
        if str(exc):
            print(str(exc), file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 1
    if flags.dev and not flags.recovery:  # as OpenBao: -recovery wins and needs a config file
        cfg = ServerConfig(
            storage_type="inmem",
            ui=True,  # as Vault's dev mode
            listeners=[
                ListenerConfig(
                    address=flags.dev_listen_address, tls_disable=True, unauthenticated_metrics_access=True
                )
            ],
            # As Vault's dev mode: Prometheus on, host names out of metric names.
            telemetry=TelemetryConfig(prometheus_retention_time=24 * 3600, disable_hostname=True),
        )
        for path in flags.config:
            try:
                extra = load_config(path)
            except ConfigError as exc:
                print(f"Error loading configuration from {path}: {exc}", file=sys.stderr)
                return 1
            cfg.storage_type, cfg.storage_options = extra.storage_type, extra.storage_options
            if "telemetry" in extra.raw:
                cfg.telemetry = extra.telemetry
            cfg.raw.update({k: v for k, v in extra.raw.items() if k in AUDIT_CONFIG_KEYS})
    else:
        if not flags.config:
            print(
                "No configuration files found. Please provide configurations with the\n"
                "-config flag. If you are supplying the path to a directory, please\n"
                "ensure the directory contains files with the .hcl or .json extension.",
                file=sys.stderr,
            )
            return 1
        try:
            cfg = load_config(flags.config[0])
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if not cfg.listeners:
            print("Error initializing listener: no listener configured", file=sys.stderr)
            return 1
        if os.environ.get("TESSERA_WORKERS"):
            try:
                cfg.workers = workers_setting(os.environ["TESSERA_WORKERS"], cfg.storage_type)
            except ConfigError as exc:
                print(f"TESSERA_WORKERS: {exc}", file=sys.stderr)
                return 1
    try:
        logs.setup(logs.log_settings(cfg.raw, flags.log_level))
    except (logs.LogConfigError, OSError) as exc:
        print(f"Error setting up the server log: {exc}", file=sys.stderr)
        return 1
    raise_open_file_limit()  # before the listeners and worker processes: they inherit it
    try:
        return asyncio.run(serve(cfg, flags))
    except KeyboardInterrupt:
        return 0
    except ListenerError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (ConfigError, OSError, ValueError) as exc:
        print(f"Error initializing core: {exc}", file=sys.stderr)
        return 1


def _api_addr(cfg: ServerConfig) -> str:
    if cfg.api_addr:
        return cfg.api_addr
    listener = cfg.listeners[0]
    scheme = "http" if listener.tls_disable else "https"
    return f"{scheme}://{listener.address}"


def _cluster_addr(cfg: ServerConfig) -> str:
    """As Vault: ``cluster_addr``, or else the API address's host at the port after it, over https."""
    configured = str(cfg.raw.get("cluster_addr", ""))
    if configured:
        return configured
    rest = _api_addr(cfg).split("://", 1)[-1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        return ""
    return f"https://{host}:{int(port) + 1}"


def core_config(cfg: ServerConfig, *, dev: bool, recovery: bool) -> CoreConfig:
    return CoreConfig(
        default_lease_ttl=cfg.default_lease_ttl,
        max_lease_ttl=cfg.max_lease_ttl,
        cluster_name=cfg.cluster_name,
        api_addr=_api_addr(cfg),
        storage_type=cfg.storage_type,
        dev=dev and not recovery,
        extra={
            **_audit_settings(cfg),
            "raw_storage_endpoint": cfg.raw_storage_endpoint,
            "cluster_addr": _cluster_addr(cfg),  # as Vault: the API port + 1 unless configured
            "replication_log_retention": cfg.replication_log_retention,
            "user_lockouts": cfg.user_lockouts,
            "recovery_mode": recovery,
            "telemetry": Telemetry(cfg.telemetry),
            "workers": cfg.workers if not dev and not recovery else 1,  # sys/seal-status, tessera status
        },
    )


def build_listeners(
    cfg: ServerConfig, core: Core, *, recovery: bool = False, prepare: Any = None
) -> Listeners:
    """One embedded server per listener (threaded or ASGI: see listen.py), rebuilt on SIGHUP."""
    ui = None
    if cfg.ui:
        ui = UIAssets.from_package()

    def build(listener: ListenerConfig, files: TLSFiles | None = None) -> Any:
        return build_server(listener, core, ui=ui, recovery=recovery, prepare=prepare, files=files)

    listeners = Listeners()
    for listener in cfg.listeners:
        listeners.add(build(listener), listener, build)
    return listeners


def build_server(
    listener: ListenerConfig,
    core: Core,
    *,
    ui: Any = None,
    recovery: bool = False,
    prepare: Any = None,
    files: TLSFiles | None = None,
) -> Any:
    """The server of one listener; ``files`` stand in for its certificate files (a reload's snapshot)."""
    host, port = listener.host_port
    app_class: type[App] = App
    if recovery:
        app_class = RecoveryApp
    app = app_class(core, max_request_size=listener.max_request_size)
    app.ui = ui
    app.refused_raw = refused_key_endpoints(listener)
    app.unauthenticated_metrics_access = listener.unauthenticated_metrics_access
    if prepare is not None:
        prepare(app)
    if not listener.tls_disable and listener.tls_disable_client_certs is False and not recovery:
        # Client certificates reach the cert auth method only through this listener (tls_front.py),
        # which a listener asks for explicitly: granian's TLS is faster, speaks HTTP/2 and guards
        # against slow and idle clients.
        return TLSFrontServer(app, host, port, listener)
    kwargs: dict[str, object] = {}
    if not listener.tls_disable:
        kwargs["ssl_cert"] = files.cert if files else Path(listener.tls_cert_file)
        kwargs["ssl_key"] = files.key if files else Path(listener.tls_key_file)
        kwargs["ssl_protocol_min"] = (
            SSLProtocols.tls13 if listener.tls_min_version == "tls13" else SSLProtocols.tls12
        )
        if listener.tls_client_ca_file:
            kwargs["ssl_ca"] = files.ca if files and files.ca else Path(listener.tls_client_ca_file)
            kwargs["ssl_client_verify"] = listener.tls_require_and_verify_client_cert
    return make_server(app, host, port, limits=listener, **kwargs)


async def serve(cfg: ServerConfig, flags: ServerFlags) -> int:
    for listener in cfg.listeners:
        _check_bindable(*listener.host_port)
    if cfg.workers > 1 and not flags.dev and not flags.recovery:
        use_batch_scheduling()  # before any thread starts: they inherit it (see cluster/pool.py)
    physical = open_physical(cfg.storage_type, cfg.storage_options)
    core = Core(physical, core_config(cfg, dev=flags.dev, recovery=flags.recovery))
    core.config.extra["telemetry"].apply()
    dev_output = ""
    if flags.dev and not flags.recovery:
        dev_output = await asyncio.get_running_loop().run_in_executor(
            None, setup_dev, core, flags.dev_root_token_id, _api_addr(cfg)
        )
    elif core.initialized():
        log.info("storage is initialized; the server starts sealed")
    ha = _ha_role(cfg, core, physical, flags)
    listeners = build_listeners(cfg, core, recovery=flags.recovery, prepare=ha and ha.prepare)
    if ha is not None:  # HA: standbys forward to the active node's cluster listener
        for listener in cluster_listener_configs(cfg.listeners):
            _check_bindable(*listener.host_port)
            listeners.add(build_cluster_server(listener, core, ha))
    pool = None
    if cfg.workers > 1 and not flags.dev and not flags.recovery:
        shared = shared_state_path(cfg.storage_type, cfg.storage_options)
        pool = WorkerPool(core, flags.config[0], cfg.workers, shared, flags.log_level or cfg.log_level)
        internal = App(core)
        internal.forward_secret = pool.secret
        if ha is not None:  # the workers' requests, as this node's own: served here or forwarded
            ha.prepare_workers(internal, physical)
        host, _, port = pool.internal.rpartition(":")
        listeners.add(make_server(internal, host, int(port)))
    print(_banner(cfg, flags), flush=True)
    if dev_output:
        print(dev_output, flush=True)
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, listeners)
    loop.add_signal_handler(signal.SIGHUP, _on_sighup, core, flags, listeners, pool)
    if pool is not None:
        pool.start()
    # Everything loaded so far (modules, the core, its mounts) lives as long as the process: the
    # garbage collector's full passes need not walk it again (~40k objects, ~25 ms a pass).
    gc.collect()
    gc.freeze()
    try:
        await listeners.serve()
    finally:
        print("==> Tessera shutdown triggered", flush=True)
        if pool is not None:
            pool.stop()
        if ha is not None:
            ha.close()
        core.shutdown()
    return 0


# HA needs PostgreSQL's driver (~180 ms to import, see storage/opening.py): only a server
# configured with ``storage "postgresql" { ha_enabled = "true" }`` loads it, by this name.
HA_MODULE = "tessera.cluster.ha"


def _ha_role(cfg: ServerConfig, core: Core, physical: Physical, flags: ServerFlags) -> Any:
    """``storage "postgresql" { ha_enabled = "true" }``: this server is a node of an HA cluster
    (the role its listeners consult: cluster/ha/role.py)."""
    if not _ha_enabled(cfg, flags):
        return None
    if os.environ.get("TESSERA_HTTP_MODE", "threaded").lower() == "asgi":
        # The ASGI entry point serves every request here: a standby would answer what it cannot.
        raise ValueError(
            'storage "postgresql" with ha_enabled needs the threaded listener, not TESSERA_HTTP_MODE=asgi'
        )
    ha: Any = importlib.import_module(HA_MODULE)
    performance = not _config_bool(cfg.raw.get("disable_performance_standby", False))
    return ha.attach_ha(core, physical, _api_addr(cfg), _cluster_addr(cfg), performance)


def _ha_enabled(cfg: ServerConfig, flags: ServerFlags) -> bool:
    if cfg.storage_type not in ("postgresql", "postgres") or flags.dev or flags.recovery:
        return False
    return PostgreSQLOptions.parse(cfg.storage_options).ha_enabled


def stop_on_signals(loop: asyncio.AbstractEventLoop, listeners: Listeners) -> None:
    """SIGTERM and SIGINT stop every listener (``listeners.serve()`` then returns)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, listeners.stop)


def _check_bindable(host: str, port: int) -> None:
    """Refuse a taken address up front: granian binds with SO_REUSEPORT, which would share the port."""
    exc = bind_error(host, port)
    if exc is not None:
        raise ListenerError(
            f"Error initializing listener of type tcp: listen tcp {host}:{port}: bind: {exc.strerror.lower()}"
        )


class ListenerError(Exception):
    pass


AUDIT_CONFIG_KEYS = ("audit", "unsafe_allow_api_audit_creation", "allow_audit_log_prefixing")


def _audit_settings(cfg: ServerConfig) -> dict[str, object]:
    """What the audit broker reads from the configuration (OpenBao's audit settings)."""
    raw = cfg.raw
    return {
        # OpenBao's safe default (dev mode too): `unsafe_allow_api_audit_creation = true` restores Vault's.
        "unsafe_allow_api_audit_creation": _config_bool(raw.get("unsafe_allow_api_audit_creation", False)),
        "allow_audit_log_prefixing": _config_bool(raw.get("allow_audit_log_prefixing", False)),
        "audit_devices": parse_declared(raw["audit"]) if "audit" in raw else [],
    }


def _config_bool(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "t", "yes")


def _on_sighup(core: Core, flags: ServerFlags, listeners: Listeners, pool: WorkerPool | None = None) -> None:
    """SIGHUP, as Vault's: the log level from the configuration file (unless -log-level set it),
    the audit devices, and the TLS listeners' certificates (worker processes reload theirs)."""
    log.info("SIGHUP received: reloading the log level, the audit devices and TLS certificates")
    if pool is not None:
        pool.signal(signal.SIGHUP)
    reload_tls_soon(listeners)
    if flags.config and not flags.log_level:
        try:
            level = logs.log_settings(load_config(flags.config[0]).raw).level
        except (ConfigError, logs.LogConfigError) as exc:
            log.error("reloading the configuration failed, the log level stays: %s", exc)
        else:
            logs.set_level(level)
            log.info("log level is now %s", level)
    _reload_audit(core)


def reload_tls_soon(listeners: Listeners) -> None:
    """The certificate swap runs on the loop (it waits for the new servers to listen)."""

    async def reload() -> None:
        errors = await listeners.reload_tls()
        if errors:
            log.error("Error(s) were encountered during reload: %s", multierror(errors))

    task = asyncio.get_running_loop().create_task(reload())
    _RELOADS.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_RELOADS.discard)


_RELOADS: set[asyncio.Task[None]] = set()


def multierror(errors: list[str]) -> str:
    """Errors listed as Vault's (hashicorp/go-multierror) lists them."""
    head = "1 error occurred:" if len(errors) == 1 else f"{len(errors)} errors occurred:"
    return head + "".join(f"\n\t* {error}" for error in errors)


def _reload_audit(core: Core) -> None:
    """SIGHUP: audit devices reopen their files (log rotation) or reconnect."""
    broker = core.audit
    if not isinstance(broker, AuditBroker):
        return
    for error in broker.reload():
        log.error(error)


def _banner(cfg: ServerConfig, flags: ServerFlags) -> str:
    """Vault's start-up banner: what an operator checks first (addresses, storage, version)."""
    rows = [
        ("Api Address", _api_addr(cfg)),
        # Only HA nodes listen for cluster traffic (server/cluster_listener.py).
        (
            "Cluster Address",
            _cluster_addr(cfg) if _ha_enabled(cfg, flags) else str(cfg.raw.get("cluster_addr", "")) or "none",
        ),
    ]
    for number, ln in enumerate(cfg.listeners, 1):
        tls = "disabled" if ln.tls_disable else "enabled"
        rows.append(
            (
                f"Listener {number}",
                f'tcp (addr: "{ln.address}", max_request_size: "{ln.max_request_size}", tls: "{tls}")',
            )
        )
    rows += [
        ("Log Level", flags.log_level or cfg.log_level),
        ("Recovery Mode", "true" if flags.recovery else "false"),
        ("Storage", cfg.storage_type),
        ("Version", f"Tessera v{__version__}, answering as Vault v{VAULT_VERSION}"),
    ]
    if cfg.workers > 1:
        rows.append(("Workers", str(cfg.workers)))
    width = max(len(name) for name, _ in rows) + 12
    lines = ["==> Tessera server configuration:", ""]
    lines += [f"{name.rjust(width)}: {value}" for name, value in rows]
    lines += ["", "==> Tessera server started! Log data will stream in below:", ""]
    return "\n".join(lines)

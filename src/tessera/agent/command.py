"""``tessera agent -config=agent.hcl``: start the agent (Vault Agent's command, messages and exit codes).

Startup errors print Vault's texts and exit 1. Once running, the agent survives server outages (the
auth handler backs off and re-authenticates), stops cleanly on SIGTERM/SIGINT (renewals stop,
nothing is revoked, the pid file is removed) and exits 0; with ``exit_after_auth`` it exits 0 as
soon as every sink has the token and every template has rendered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from granian.constants import Interfaces, SSLProtocols
from granian.server.embed import Server

from .. import __version__
from ..cli.env import read_env
from ..clientutil import TLSSettings
from ..cmdutil import bind_error, flag_value
from . import hclog
from .auth import AuthFatalError, AuthHandler, new_method
from .cache import LeaseCache
from .client import Client
from .config import AgentConfig, ConfigError, load_file, merge, validate
from .hclog import kv
from .proxy import ProxyApp
from .sink import FileSink, SinkServer, new_sink
from .template import Template, TemplateFatalError, TemplateServer, load_templates
from .tmplfuncs import TemplateError
from .tokens import TokenBus

log = logging.getLogger("agent")

USAGE = """Usage: tessera agent [options]

  This command starts a Tessera Agent that can perform automatic authentication
  in certain environments.

  Start an agent with a configuration file:

      $ tessera agent -config=/etc/tessera/agent.hcl

HTTP Options:

  -address=<string>          Address of the server (VAULT_ADDR).
  -ca-cert=<string>          CA certificate to verify the server (VAULT_CACERT).
  -ca-path=<string>          Directory of CA certificates (VAULT_CAPATH).
  -client-cert=<string>      Client certificate for TLS authentication (VAULT_CLIENT_CERT).
  -client-key=<string>       Private key of -client-cert (VAULT_CLIENT_KEY).
  -tls-server-name=<string>  Name to use as the SNI host (VAULT_TLS_SERVER_NAME).
  -tls-skip-verify           Do not verify the server's certificate (VAULT_SKIP_VERIFY).

Command Options:

  -config=<string>           Path to a configuration file or directory (repeatable).
  -exit-after-auth           Exit once every sink and template has the token.
  -log-level=<string>        Log verbosity: trace, debug, info, warn, error.
"""

_STRING_FLAGS = {
    "config",
    "log-level",
    "address",
    "ca-cert",
    "ca-path",
    "client-cert",
    "client-key",
    "tls-server-name",
}
_BOOL_FLAGS = {"exit-after-auth", "tls-skip-verify"}


class UsageError(Exception):
    pass


@dataclass
class Flags:
    config: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    bools: dict[str, bool] = field(default_factory=dict)


def parse_flags(argv: list[str]) -> Flags:
    """Go's flag package: ``-x=v``, ``-x v``, ``--x``; booleans take ``=true/false``."""
    flags = Flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if name in ("h", "help"):
            raise UsageError("")
        if name in _BOOL_FLAGS:
            if eq and value.lower() not in ("1", "t", "true", "0", "f", "false"):
                raise UsageError(f'invalid boolean value "{value}" for -{name}: parse error')
            flags.bools[name] = value.lower() in ("1", "t", "true") if eq else True
        elif name in _STRING_FLAGS:
            value, i = flag_value(argv, i, name, value if eq else None, UsageError)
            if name == "config":
                flags.config.append(value)
            else:
                flags.values[name] = value
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
        i += 1
    if i < len(argv):
        raise UsageError(f"Too many arguments (expected 0, got {len(argv) - i})")
    return flags


def _setting(flags: Flags, name: str, config_value: str, env: str, default: str = "") -> str:
    """setStringFlag: an explicit flag wins, then the config file, then the environment."""
    if name in flags.values:
        return flags.values[name]
    return config_value or read_env(env) or default


def build_client(cfg: AgentConfig, flags: Flags) -> Client:
    vc = cfg.vault
    skip = flags.bools.get("tls-skip-verify")
    if skip is None:
        skip = bool(vc and vc.tls_skip_verify) or read_env("VAULT_SKIP_VERIFY").lower() in ("1", "t", "true")
    tls = TLSSettings(
        ca_cert=_setting(flags, "ca-cert", vc.ca_cert if vc else "", "VAULT_CACERT"),
        ca_path=_setting(flags, "ca-path", vc.ca_path if vc else "", "VAULT_CAPATH"),
        client_cert=_setting(flags, "client-cert", vc.client_cert if vc else "", "VAULT_CLIENT_CERT"),
        client_key=_setting(flags, "client-key", vc.client_key if vc else "", "VAULT_CLIENT_KEY"),
        tls_server_name=_setting(
            flags, "tls-server-name", vc.tls_server_name if vc else "", "VAULT_TLS_SERVER_NAME"
        ),
        skip_verify=skip,
    )
    address = _setting(flags, "address", vc.address if vc else "", "VAULT_ADDR", "https://127.0.0.1:8200")
    return Client(address, tls)


def _banner(cfg: AgentConfig, level: str) -> str:
    lines = [
        "==> Tessera Agent started! Log data will stream in below:",
        "",
        "==> Tessera Agent configuration:",
        "",
    ]
    for i, listener in enumerate(cfg.listeners, 1):
        scheme = "http" if listener.tls_disable else "https"
        lines.append(f"           Api Address {i}: {scheme}://{listener.address}")
    lines += [f"               Log Level: {level}", f"                 Version: Tessera v{__version__}", ""]
    return "\n".join(lines)


@dataclass
class Agent:
    """Everything built from the configuration, before anything runs."""

    cfg: AgentConfig
    client: Client
    exit_after_auth: bool
    handler: AuthHandler | None = None
    sinks: list[FileSink] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    bus: TokenBus = field(default_factory=TokenBus)


def build(cfg: AgentConfig, flags: Flags) -> Agent:
    """Create the method, sinks and templates; raise ConfigError with Vault's startup texts."""
    try:
        client = build_client(cfg, flags)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"Error creating API client: {exc}") from None
    agent = Agent(cfg, client, bool(flags.bools.get("exit-after-auth")) or cfg.exit_after_auth)
    if cfg.auto_auth is not None:
        method_cfg = cfg.auto_auth.method
        try:
            method = new_method(method_cfg, client)
        except ConfigError as exc:
            raise ConfigError(f"Error creating {method_cfg.type} auth method: {exc}") from None
        for sink_cfg in cfg.auto_auth.sinks:
            try:
                agent.sinks.append(new_sink(sink_cfg))
            except ConfigError as exc:
                raise ConfigError(f"error creating {sink_cfg.type} sink: {exc}") from None
        try:
            agent.handler = AuthHandler(
                client,
                method,
                agent.bus,
                min_backoff=method_cfg.min_backoff,
                max_backoff=method_cfg.max_backoff,
                exit_on_err=method_cfg.exit_on_err,
                wrap_ttl=method_cfg.wrap_ttl,
            )
        except ConfigError as exc:
            raise ConfigError(f"Error starting auth handler: {exc}") from None
    try:
        agent.templates = load_templates(cfg.templates)
    except (OSError, ValueError, TemplateError) as exc:
        raise ConfigError(f"error creating template server: {exc}") from None
    return agent


async def serve(agent: Agent) -> int:
    """Run until a signal (0), a fatal error (1), or, with exit_after_auth, the first delivery (0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP, lambda: log.info("SIGHUP received: configuration reload is not supported")
    )
    cfg = agent.cfg
    cache = None
    if cfg.cache is not None:
        cache = LeaseCache(agent.client, lambda req: app.forward(req))
        if agent.handler is not None:
            agent.bus.on_token(cache.register_auto_auth_token)
    app = ProxyApp(agent.client, agent.bus, cfg.api_proxy, cache)
    servers: list[Any] = []
    for listener in cfg.listeners:
        host, port = listener.host_port
        kwargs: dict[str, Any] = {}
        if not listener.tls_disable:
            kwargs.update(
                ssl_cert=Path(listener.tls_cert_file),
                ssl_key=Path(listener.tls_key_file),
                ssl_protocol_min=SSLProtocols.tls12,
            )
        servers.append(
            Server(app, address=host, port=port, interface=Interfaces.ASGI, log_enabled=False, **kwargs)
        )
    work: dict[str, asyncio.Task[Any]] = {}
    if agent.handler is not None:
        sink_server = SinkServer(
            agent.client, agent.bus.subscribe(), agent.sinks, exit_after_auth=agent.exit_after_auth
        )
        template_server = TemplateServer(
            agent.client,
            agent.bus.subscribe(),
            agent.templates,
            cfg.template_config,
            once=agent.exit_after_auth,
            num_retries=cfg.vault.num_retries if cfg.vault else 12,
        )
        work["sink"] = asyncio.ensure_future(sink_server.run())
        work["template"] = asyncio.ensure_future(template_server.run())
        work["auth"] = asyncio.ensure_future(agent.handler.run())
    for i, server in enumerate(servers):
        work[f"listener{i}"] = asyncio.ensure_future(server.serve())
    listeners = {t for name, t in work.items() if name.startswith("listener")}
    print(_banner(cfg, logging.getLevelName(log.getEffectiveLevel()).lower()), flush=True)
    stopper = asyncio.ensure_future(stop.wait())
    code = 0
    try:
        pending = set(work.values())
        while True:
            done, _ = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                break
            failed = [t for t in done if t.exception() is not None]
            if failed:
                exc = failed[0].exception()
                if isinstance(exc, (AuthFatalError, TemplateFatalError)):
                    log.error(str(exc))
                elif failed[0] in listeners:
                    log.error(kv("listener failed", error=exc))
                else:
                    log.error("agent component failed", exc_info=exc)
                code = 1
                break
            pending -= done
            if agent.exit_after_auth and all(work[n].done() for n in ("sink", "template") if n in work):
                break
            if not pending:
                break
    finally:
        print("==> Tessera Agent shutdown triggered", flush=True)
        for server in servers:
            server.stop()
        if cache is not None:
            cache.stop()
        for name in ("auth", "template", "sink"):
            task = work.get(name)
            if task is not None and not task.done():
                task.cancel()
        stopper.cancel()
        await asyncio.gather(*work.values(), return_exceptions=True)
        await agent.client.aclose()
        log.info("sinks finished, exiting")
    return code


def _check_bind(host: str, port: int) -> None:
    """Fail before starting when the address is taken (granian would only report it from Rust)."""
    exc = bind_error(host, port)
    if exc is not None:
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(f"listen tcp {host}:{port}: bind: {reason}")


def run(argv: list[str]) -> int:
    """Entry point of ``tessera agent``; returns the exit code."""
    try:
        flags = parse_flags(argv)
    except UsageError as exc:
        if not str(exc):
            print(USAGE)
            return 0
        print(str(exc), file=sys.stderr)
        return 1
    if not flags.config:
        print("Must specify exactly at least one config path using -config", file=sys.stderr)
        return 1
    cfg = AgentConfig()
    for path in flags.config:
        try:
            cfg = merge(cfg, load_file(path))
        except ConfigError as exc:
            print(f"error loading configuration from {path}: {exc}", file=sys.stderr)
            return 1
    try:
        validate(cfg)
    except ConfigError as exc:
        print(f"error validating configuration: {exc}", file=sys.stderr)
        return 1
    level = flags.values.get("log-level") or cfg.log_level or read_env("VAULT_LOG_LEVEL") or "info"
    if not hclog.valid_level(level):
        print(f"unknown log level: {level}", file=sys.stderr)
        return 1
    hclog.setup(level)
    try:
        agent = build(cfg, flags)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for listener in cfg.listeners:
        try:
            _check_bind(*listener.host_port)
        except OSError as exc:
            print(f"Error starting listener: {exc}", file=sys.stderr)
            return 1
    if cfg.pid_file:
        try:
            fd = os.open(cfg.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
        except OSError as exc:
            print(f"Error storing PID: {exc}", file=sys.stderr)
            return 1
    try:
        return asyncio.run(serve(agent))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"Error starting listener: {exc}", file=sys.stderr)
        return 1
    finally:
        if cfg.pid_file:
            with contextlib.suppress(OSError):
                os.remove(cfg.pid_file)

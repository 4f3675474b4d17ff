"""Vault Agent's configuration file (HCL or JSON), decoded and validated like Vault's agent.

HCL is read with Tessera's own HCL v1 reader (``tessera.hcl``, a port of hashicorp/hcl's
scanner and parser), not pyhcl, because pyhcl gets three things wrong that agent files rely on:
it merges repeated top-level blocks into each other (two ``template {}`` blocks come out as one
dict holding both ``contents`` and ``source``), it reads ``mode = 0640`` as 640 where Go reads
octal 416, and it leaves ``\\n``/``\\t``/``\\u00e9`` escapes in strings undecoded (template
``contents`` use them). The reader also gives Go's syntax error texts (``At 4:2: …``).

Validation errors use Vault's exact texts, since they are what users paste into searches.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..gocompat.durations import DurationError, parse_duration_second
from ..hcl import HCLError
from ..hcl import decode as decode_hcl


class ConfigError(Exception):
    """A configuration file that cannot be loaded or does not validate."""


@dataclass
class VaultConfig:
    address: str = ""
    ca_cert: str = ""
    ca_path: str = ""
    client_cert: str = ""
    client_key: str = ""
    tls_server_name: str = ""
    tls_skip_verify: bool = False
    num_retries: int = 12


@dataclass
class MethodConfig:
    type: str
    mount_path: str
    wrap_ttl: int = 0
    min_backoff: float = 0.0
    max_backoff: float = 0.0
    namespace: str = ""
    exit_on_err: bool = False
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class SinkConfig:
    type: str
    wrap_ttl: int = 0
    dh_type: str = ""
    dh_path: str = ""
    derive_key: bool = False
    aad: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class AutoAuthConfig:
    method: MethodConfig
    sinks: list[SinkConfig] = field(default_factory=list)


@dataclass
class ProxyConfig:
    """``api_proxy`` (or the legacy ``cache.use_auto_auth_token``): true, false or "force"."""

    use_auto_auth_token: bool = False
    force_auto_auth_token: bool = False


@dataclass
class CacheConfig:
    use_auto_auth_token_set: bool = False
    use_auto_auth_token: bool = False
    force_auto_auth_token: bool = False


@dataclass
class ListenerConfig:
    type: str = "tcp"
    address: str = "127.0.0.1:8200"
    tls_disable: bool = False
    tls_cert_file: str = ""
    tls_key_file: str = ""

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class TemplateConfig:
    destination: str = ""
    source: str = ""
    contents: str | None = None
    perms: int | None = None
    create_dest_dirs: bool = True
    error_on_missing_key: bool = False
    left_delimiter: str = "{{"
    right_delimiter: str = "}}"
    backup: bool = False
    command: list[str] = field(default_factory=list)
    command_timeout: float = 30.0


@dataclass
class TemplateGlobals:
    exit_on_retry_failure: bool = False
    static_secret_render_interval: int = 300


@dataclass
class AgentConfig:
    vault: VaultConfig | None = None
    auto_auth: AutoAuthConfig | None = None
    cache: CacheConfig | None = None
    api_proxy: ProxyConfig | None = None
    listeners: list[ListenerConfig] = field(default_factory=list)
    templates: list[TemplateConfig] = field(default_factory=list)
    template_config: TemplateGlobals = field(default_factory=TemplateGlobals)
    exit_after_auth: bool = False
    pid_file: str = ""
    log_level: str = ""


# -- low-level decoding -----------------------------------------------------------------------------


def parse_text(text: str) -> dict[str, Any]:
    """The document as nested dicts (repeated blocks as lists, labeled blocks as ``{label: body}``)."""
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(str(exc)) from None
        return raw if isinstance(raw, dict) else {}
    try:
        return decode_hcl(text)
    except HCLError as exc:
        raise ConfigError(str(exc)) from None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _labeled(value: Any, attrs: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Blocks that may carry a label (``method "approle" {}``) or a ``type`` attribute instead."""
    out: list[tuple[str, dict[str, Any]]] = []
    for item in _list(value):
        if not isinstance(item, dict):
            raise ConfigError("expected a block")
        if len(item) == 1:
            ((key, body),) = item.items()
            if key not in attrs and (isinstance(body, dict) or (isinstance(body, list) and body)):
                for sub in _list(body):
                    out.append((str(key), sub if isinstance(sub, dict) else {}))
                continue
        out.append(("", item))
    return out


def parse_bool(value: Any) -> bool:
    """parseutil.ParseBool: bools, Go's strconv.ParseBool strings, numbers (non-zero is true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise ConfigError(f'strconv.ParseBool: parsing "{value}": invalid syntax')
    raise ConfigError(f"cannot parse {value!r} as bool")


def _duration(value: Any) -> int:
    try:
        return parse_duration_second(value)
    except DurationError as exc:
        raise ConfigError(str(exc)) from None


def _str(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if isinstance(value, list):  # a repeated attribute: Go's decoder keeps the last one
        value = value[-1] if value else default
    return "" if value is None else str(value)


def _one(raw: dict[str, Any], name: str, message: str) -> dict[str, Any] | None:
    items = _list(raw.get(name))
    if not items:
        return None
    if len(items) > 1:
        raise ConfigError(message.format(name=name))
    return items[0] if isinstance(items[0], dict) else {}


# -- sections ---------------------------------------------------------------------------------------

_METHOD_ATTRS = {
    "type",
    "mount_path",
    "wrap_ttl",
    "min_backoff",
    "max_backoff",
    "namespace",
    "exit_on_err",
    "config",
}
_SINK_ATTRS = {"type", "wrap_ttl", "dh_type", "dh_path", "derive_key", "aad", "aad_env_var", "config"}


def _config_map(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _list(value):
        if isinstance(item, dict):
            out.update(item)
    return out


def _parse_auto_auth(body: dict[str, Any]) -> AutoAuthConfig:
    methods = _labeled(body.get("method"), _METHOD_ATTRS)
    if len(methods) != 1:
        raise ConfigError("error parsing 'method': one and only one \"method\" block is required")
    label, mbody = methods[0]
    mtype = (_str(mbody, "type") or label).lower()
    if not mtype:
        raise ConfigError("error parsing 'method': method type must be specified")
    mount = _str(mbody, "mount_path") or f"auth/{mtype}"
    method = MethodConfig(type=mtype, mount_path=mount.rstrip("/"), config=_config_map(mbody.get("config")))
    method.namespace = _str(mbody, "namespace")
    if "exit_on_err" in mbody:
        method.exit_on_err = parse_bool(mbody["exit_on_err"])
    if "wrap_ttl" in mbody:
        method.wrap_ttl = _duration(mbody["wrap_ttl"])
    auto = AutoAuthConfig(method=method)
    for slabel, sbody in _labeled(body.get("sink"), _SINK_ATTRS):
        stype = (_str(sbody, "type") or slabel).lower()
        if not stype:
            raise ConfigError("error parsing 'sink' stanzas: sink type must be specified")
        sink = SinkConfig(type=stype, config=_config_map(sbody.get("config")))
        prefix = f"error parsing 'sink' stanzas: 1 error occurred:\n\t* sink.{stype}: "
        if "wrap_ttl" in sbody:
            sink.wrap_ttl = _duration(sbody["wrap_ttl"])
        sink.dh_type, sink.dh_path = _str(sbody, "dh_type"), _str(sbody, "dh_path")
        sink.aad = _str(sbody, "aad")
        if "derive_key" in sbody:
            sink.derive_key = parse_bool(sbody["derive_key"])
        if sink.dh_type not in ("", "curve25519"):
            raise ConfigError(prefix + "invalid value for 'dh_type'\n\n")
        if _str(sbody, "aad_env_var"):
            sink.aad = os.environ.get(_str(sbody, "aad_env_var"), "")
        if not sink.dh_path and not sink.dh_type:
            if sink.aad:
                raise ConfigError(prefix + "specifying AAD data without 'dh_type' does not make sense\n\n")
            if sink.derive_key:
                raise ConfigError(
                    prefix + "specifying 'derive_key' data without 'dh_type' does not make sense\n\n"
                )
        elif not (sink.dh_path and sink.dh_type):
            raise ConfigError(prefix + "'dh_type' and 'dh_path' must be specified together\n\n")
        auto.sinks.append(sink)
    if method.wrap_ttl > 0:
        if len(auto.sinks) != 1:
            raise ConfigError(
                "error parsing auto_auth: wrapping enabled on auth method and 0 or many sinks defined"
            )
        if auto.sinks[0].wrap_ttl > 0:
            raise ConfigError("error parsing auto_auth: wrapping enabled both on auth method and sink")
    if "max_backoff" in mbody:
        method.max_backoff = float(_duration(mbody["max_backoff"]))
    if "min_backoff" in mbody:
        method.min_backoff = float(_duration(mbody["min_backoff"]))
    return auto


def _use_auto_auth_token(value: Any) -> tuple[bool, bool]:
    """(use, force) from true/false/"force"."""
    try:
        return parse_bool(value), False
    except ConfigError:
        if isinstance(value, str) and value.lower() == "force":
            return True, True
        if isinstance(value, str):
            raise ConfigError(
                f"value of 'use_auto_auth_token' can be either true/false/force, \"{value}\" is an invalid option"
            ) from None
        raise


def _parse_template(body: dict[str, Any]) -> TemplateConfig:
    known = {
        "destination", "source", "contents", "perms", "create_dest_dirs", "error_on_missing_key",
        "left_delimiter", "right_delimiter", "backup", "command", "command_timeout", "exec", "wait",
    }  # fmt: skip
    for key in body:
        if key not in known:
            raise ConfigError(
                f"error parsing 'template': 1 error(s) decoding:\n\n* '' has invalid keys: {key}"
            )
    tc = TemplateConfig(destination=_str(body, "destination"), source=_str(body, "source"))
    if "contents" in body:
        tc.contents = _str(body, "contents")
    if tc.contents is not None and tc.source:
        raise ConfigError("error parsing 'template': contents and source cannot both be specified")
    if tc.contents is None and not tc.source:
        raise ConfigError("error parsing 'template': must specify source or contents")
    if not tc.destination:
        raise ConfigError("error parsing 'template': must specify destination")
    if "perms" in body:
        perms = body["perms"]
        tc.perms = int(perms, 8) if isinstance(perms, str) else int(perms)
    for name in ("create_dest_dirs", "error_on_missing_key", "backup"):
        if name in body:
            setattr(tc, name, parse_bool(body[name]))
    tc.left_delimiter = _str(body, "left_delimiter") or "{{"
    tc.right_delimiter = _str(body, "right_delimiter") or "}}"
    command: Any = body.get("command")
    timeout: Any = body.get("command_timeout")
    for exec_block in _list(body.get("exec")):
        if isinstance(exec_block, dict):
            command = exec_block.get("command", command)
            timeout = exec_block.get("timeout", timeout)
    if isinstance(command, str) and command:
        tc.command = shlex.split(command)
    elif isinstance(command, list):
        tc.command = [str(c) for c in command]
    if timeout is not None:
        tc.command_timeout = float(_duration(timeout))
    return tc


def _parse_listener(label: str, body: dict[str, Any]) -> ListenerConfig:
    ltype = (_str(body, "type") or label or "tcp").lower()
    if ltype != "tcp":
        raise ConfigError(f"error parsing 'listener': unsupported listener type \"{ltype}\"")
    lc = ListenerConfig(type=ltype, address=_str(body, "address", "127.0.0.1:8200"))
    if "tls_disable" in body:
        lc.tls_disable = parse_bool(body["tls_disable"])
    lc.tls_cert_file, lc.tls_key_file = _str(body, "tls_cert_file"), _str(body, "tls_key_file")
    if not lc.tls_disable and not (lc.tls_cert_file and lc.tls_key_file):
        raise ConfigError(
            "error parsing 'listener': tls_cert_file and tls_key_file are required unless tls_disable = true"
        )
    return lc


def parse_config(text: str) -> AgentConfig:
    """Decode one file's text (no cross-section validation: see ``validate``)."""
    raw = parse_text(text)
    cfg = AgentConfig()
    cfg.pid_file = _str(raw, "pid_file")
    cfg.log_level = _str(raw, "log_level")
    if "exit_after_auth" in raw:
        cfg.exit_after_auth = parse_bool(raw["exit_after_auth"])
    auto_auth = _one(raw, "auto_auth", "error parsing 'auto_auth': at most one \"{name}\" block is allowed")
    if auto_auth is not None:
        try:
            cfg.auto_auth = _parse_auto_auth(auto_auth)
        except ConfigError as exc:
            raise ConfigError(f"error parsing 'auto_auth': {exc}") from None
    cache = _one(raw, "cache", "error parsing 'cache':one and only one \"{name}\" block is required")
    if cache is not None:
        cfg.cache = CacheConfig()
        if "use_auto_auth_token" in cache:
            try:
                use, force = _use_auto_auth_token(cache["use_auto_auth_token"])
            except ConfigError as exc:
                raise ConfigError(f"error parsing 'cache':{exc}") from None
            cfg.cache.use_auto_auth_token_set = True
            cfg.cache.use_auto_auth_token, cfg.cache.force_auto_auth_token = use, force
    proxy = _one(raw, "api_proxy", "error parsing 'api_proxy':one and only one \"{name}\" block is required")
    if proxy is not None:
        cfg.api_proxy = ProxyConfig()
        if "use_auto_auth_token" in proxy:
            try:
                use, force = _use_auto_auth_token(proxy["use_auto_auth_token"])
            except ConfigError as exc:
                raise ConfigError(f"error parsing 'api_proxy':{exc}") from None
            cfg.api_proxy.use_auto_auth_token, cfg.api_proxy.force_auto_auth_token = use, force
    if cfg.cache is not None and cfg.cache.use_auto_auth_token and cfg.api_proxy is None:
        cfg.api_proxy = ProxyConfig(cfg.cache.use_auto_auth_token, cfg.cache.force_auto_auth_token)
    tglobal = _one(
        raw, "template_config", "error parsing 'template_config': at most one \"{name}\" block is allowed"
    )
    if tglobal is not None:
        if "exit_on_retry_failure" in tglobal:
            cfg.template_config.exit_on_retry_failure = parse_bool(tglobal["exit_on_retry_failure"])
        if "static_secret_render_interval" in tglobal:
            cfg.template_config.static_secret_render_interval = _duration(
                tglobal["static_secret_render_interval"]
            )
    cfg.templates = [_parse_template(t) for t in _list(raw.get("template")) if isinstance(t, dict)]
    for label, body in _labeled(raw.get("listener"), {"type", "address", "tls_disable"}):
        cfg.listeners.append(_parse_listener(label, body))
    vault = _one(raw, "vault", "error parsing 'vault':one and only one \"{name}\" block is required")
    if vault is not None:
        vc = VaultConfig(
            address=_str(vault, "address"),
            ca_cert=_str(vault, "ca_cert"),
            ca_path=_str(vault, "ca_path"),
            client_cert=_str(vault, "client_cert"),
            client_key=_str(vault, "client_key"),
            tls_server_name=_str(vault, "tls_server_name"),
        )
        if "tls_skip_verify" in vault:
            try:
                vc.tls_skip_verify = parse_bool(vault["tls_skip_verify"])
            except ConfigError as exc:
                raise ConfigError(f"error parsing 'vault':{exc}") from None
        retry = _config_map(vault.get("retry"))
        num = int(retry.get("num_retries", 0) or 0)
        vc.num_retries = 12 if num == 0 else (0 if num == -1 else num)
        cfg.vault = vc
    return cfg


def merge(a: AgentConfig, b: AgentConfig) -> AgentConfig:
    """Config.Merge: later files replace sections; templates and listeners accumulate."""
    out = AgentConfig(
        vault=b.vault or a.vault,
        auto_auth=b.auto_auth or a.auto_auth,
        cache=b.cache or a.cache,
        api_proxy=b.api_proxy or a.api_proxy,
        listeners=a.listeners + b.listeners,
        templates=a.templates + b.templates,
        template_config=b.template_config if b.template_config != TemplateGlobals() else a.template_config,
        exit_after_auth=a.exit_after_auth or b.exit_after_auth,
        pid_file=b.pid_file or a.pid_file,
        log_level=b.log_level or a.log_level,
    )
    return out


def validate(cfg: AgentConfig) -> None:
    """Config.ValidateConfig, with Vault's texts (the caller prefixes ``error validating configuration``)."""
    if cfg.cache is not None:
        if not cfg.listeners and not cfg.templates:
            raise ConfigError("enabling the cache requires at least 1 template or 1 listener to be defined")
        if cfg.cache.use_auto_auth_token:
            if cfg.auto_auth is None:
                raise ConfigError("cache.use_auto_auth_token is true but auto_auth not configured")
            if cfg.auto_auth.method.wrap_ttl > 0:
                raise ConfigError("cache.use_auto_auth_token is true and auto_auth uses wrapping")
    if cfg.api_proxy is not None:
        if not cfg.listeners:
            raise ConfigError("configuring the api_proxy requires at least 1 listener to be defined")
        if cfg.api_proxy.use_auto_auth_token:
            if cfg.auto_auth is None:
                raise ConfigError("api_proxy.use_auto_auth_token is true but auto_auth not configured")
            if cfg.auto_auth.method.wrap_ttl > 0:
                raise ConfigError("api_proxy.use_auto_auth_token is true and auto_auth uses wrapping")
    if cfg.auto_auth is not None:
        proxy_token = cfg.api_proxy is not None and cfg.api_proxy.use_auto_auth_token
        if not cfg.auto_auth.sinks and not proxy_token and not cfg.templates:
            raise ConfigError(
                "auto_auth requires at least one sink or at least one template or api_proxy.use_auto_auth_token=true"
            )
    if cfg.auto_auth is None and cfg.cache is None and not cfg.listeners:
        raise ConfigError("no auto_auth, cache, or listener block found in config")


def load_file(path: str) -> AgentConfig:
    """LoadConfigFile: errors carry Go's wording (``stat …: no such file or directory``)."""
    try:
        if os.path.isdir(path):
            return load_dir(path)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"stat {path}: no such file or directory") from None
    except OSError as exc:
        raise ConfigError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    return parse_config(text)


def load_dir(path: str) -> AgentConfig:
    """Every ``*.hcl``/``*.json`` of a directory (editor temp files skipped), merged in name order."""
    result = AgentConfig()
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        temporary = (
            name.endswith("~") or name.startswith(".#") or (name.startswith("#") and name.endswith("#"))
        )
        if os.path.isdir(full) or temporary or not name.endswith((".hcl", ".json")):
            continue
        try:
            result = merge(result, load_file(full))
        except ConfigError as exc:
            raise ConfigError(f'error loading "{full}": {exc}') from None
    return result

"""``secrets enable|tune`` and ``auth enable|tune``: the mount-config flags and the bodies built from them.

Enabling and tuning share one flag set (``-default-lease-ttl``, ``-audit-non-hmac-*``, ``-options``...)
and send only the flags that were given, as the Go CLI does with ``f.Visit``; listing, disabling and
moving mounts are in ``mounts``.
"""

from __future__ import annotations

from ...gocompat.durations import format_go_duration
from ..api import APIError
from ..args import ensure_trailing_slash, sanitize_path
from ..base import Command
from ..flags import Flag, FlagGroup, FlagRow, FlagSet
from ..gojson import Struct


def _ttl_to_api(seconds: int) -> str:
    """ttlToAPI: 0 means unset (""), negative means "system"."""
    if seconds == 0:
        return ""
    if seconds < 0:
        return "system"
    return format_go_duration(seconds)


#: Flag tables of the four commands; ``{what}`` is "secrets engine" or "auth method".
_Row = tuple[str, str, str]
_TUNE_DESCRIPTION: tuple[_Row, ...] = (
    (
        "description",
        "string",
        "Human-friendly description of this {what}. This overrides the current stored value, if any.",
    ),
)
_ENABLE_DESCRIPTION: tuple[_Row, ...] = (
    ("description", "string", "Human-friendly description for the purpose of this {what}."),
    (
        "path",
        "string",
        'Place where the {what} will be accessible. This must be unique cross all {what}s. This defaults to the "type" of the {what}.',
    ),
)
_MOUNT_SETTINGS: tuple[_Row, ...] = (
    (
        "default-lease-ttl",
        "duration",
        "The default lease TTL for this {what}. If unspecified, this defaults to the Vault server's globally configured default lease TTL.",
    ),
    (
        "max-lease-ttl",
        "duration",
        "The maximum lease TTL for this {what}. If unspecified, this defaults to the Vault server's globally configured maximum lease TTL.",
    ),
    (
        "audit-non-hmac-request-keys",
        "slice",
        "Key that will not be HMAC'd by audit devices in the request data object. To specify multiple values, specify this flag multiple times.",
    ),
    (
        "audit-non-hmac-response-keys",
        "slice",
        "Key that will not be HMAC'd by audit devices in the response data object. To specify multiple values, specify this flag multiple times.",
    ),
    (
        "listing-visibility",
        "string",
        "Determines the visibility of the mount in the UI-specific listing endpoint.",
    ),
    (
        "passthrough-request-headers",
        "slice",
        "Request header value that will be sent to the plugin. To specify multiple values, specify this flag multiple times.",
    ),
    (
        "allowed-response-headers",
        "slice",
        "Response header value that plugins will be allowed to set. To specify multiple values, specify this flag multiple times.",
    ),
    (
        "options",
        "map",
        "Key-value pair provided as key=value for the mount options. This can be specified multiple times.",
    ),
    ("version", "int", "Select the version of the engine to run. Not supported by all engines."),
    ("plugin-version", "string", "Select the semantic version of the plugin to enable."),
)
_AUTH_TOKEN_TYPE: _Row = ("token-type", "string", "Sets a forced token type for the mount.")
_ENABLE_ONLY: tuple[FlagRow, ...] = (
    ("plugin-name", "string", "Name of the plugin to use."),
    (
        "local",
        "bool",
        "Mark the mount as a local-only mount. Local mounts are not replicated nor (if a secondary) removed by replication.",
    ),
    ("seal-wrap", "bool", "Enable seal wrapping of critical values in the secrets engine."),
    ("external-entropy-access", "bool", "Enable the mount to access Vault's external entropy source."),
)
_SECRETS_ENABLE_ONLY: FlagRow = (
    "force-no-cache",
    "bool",
    "Force the secrets engine to disable caching. If unspecified, this defaults to the Vault server's globally configured cache settings. This does not affect caching of the underlying encrypted data storage.",
)


def _mount_flags(cmd: Command, fs: FlagSet, *, auth: bool, tune: bool) -> None:
    """The four commands' flags in the Go CLI's order (help text and unknown-flag errors follow it)."""
    g = cmd.command_group()
    what = "auth method" if auth else "secrets engine"
    head = [*(_TUNE_DESCRIPTION if tune else _ENABLE_DESCRIPTION), *_MOUNT_SETTINGS]
    if auth:
        head.append(_AUTH_TOKEN_TYPE)
    fs.add_rows(g, [(name, kind, usage.format(what=what)) for name, kind, usage in head])
    if auth and tune:
        _lockout_flags(fs, g)
    if not tune:
        fs.add_rows(g, _ENABLE_ONLY if auth else (*_ENABLE_ONLY, _SECRETS_ENABLE_ONLY))


_LOCKOUT_FLAGS = (
    ("user-lockout-threshold", "uint", "threshold for user lockout", "user lockout threshold"),
    ("user-lockout-duration", "duration", "user lockout duration", "user lockout duration"),
    (
        "user-lockout-counter-reset-duration",
        "duration",
        "user lockout counter reset duration",
        "user lockout counter reset duration",
    ),
)


def _lockout_flags(fs: FlagSet, g: FlagGroup) -> None:
    """``auth tune``'s user lockout flags (core/lockout.py), with the Vault CLI's help texts."""
    for name, kind, what, config in _LOCKOUT_FLAGS:
        usage = (
            f"The {what} for this auth method. If unspecified, this defaults to the Vault "
            f"server's globally configured {config}, or a previously configured value for the auth method."
        )
        fs.add(g, Flag(name, kind, usage, 0))
    fs.add(
        g,
        Flag(
            "user-lockout-disable",
            "bool",
            "Disable user lockout for this auth method. If unspecified, this defaults to the Vault "
            "server's globally configured user lockout disable, or a previously configured value for "
            "the auth method.",
            False,
        ),
    )


def _lockout_config(cmd: Command) -> Struct | None:
    """user_lockout_config from the lockout flags given (None when none was)."""
    fs = cmd.fs
    out = Struct()
    if "user-lockout-threshold" not in fs.by_name:
        return None
    if fs.was_set("user-lockout-threshold"):
        out["lockout_threshold"] = str(cmd.flag("user-lockout-threshold"))
    if fs.was_set("user-lockout-duration"):
        out["lockout_duration"] = _ttl_to_api(cmd.flag("user-lockout-duration"))
    if fs.was_set("user-lockout-counter-reset-duration"):
        out["lockout_counter_reset_duration"] = _ttl_to_api(cmd.flag("user-lockout-counter-reset-duration"))
    if fs.was_set("user-lockout-disable"):
        out["lockout_disable"] = bool(cmd.flag("user-lockout-disable"))
    return out or None


def _options(cmd: Command) -> dict[str, str] | None:
    """``-options``, with ``-version`` folded in as the Go CLI does."""
    options = cmd.flag("options")
    if cmd.flag("version") > 0:
        options = {**(options or {}), "version": str(cmd.flag("version"))}
    return options


def _visited_config(cmd: Command, config: Struct, *, auth: bool) -> None:
    """Copy the flags that were given explicitly into the config (as the CLI's f.Visit does)."""
    fs = cmd.fs
    for flag, key in (
        ("audit-non-hmac-request-keys", "audit_non_hmac_request_keys"),
        ("audit-non-hmac-response-keys", "audit_non_hmac_response_keys"),
        ("listing-visibility", "listing_visibility"),
        ("passthrough-request-headers", "passthrough_request_headers"),
        ("allowed-response-headers", "allowed_response_headers"),
        ("token-type", "token_type"),
        ("plugin-version", "plugin_version"),
    ):
        if flag in fs.by_name and fs.was_set(flag) and (fs[flag] or flag == "listing-visibility"):
            config[key] = fs[flag]


def _enable(cmd: Command, args: list[str], *, auth: bool) -> int:
    """POST sys/mounts/<path> or sys/auth/<path>; the path defaults to the type."""
    args = cmd.parse(args)
    cmd.nargs(args, 1)
    client = cmd.client()
    kind = args[0].strip()
    if kind == "plugin":
        kind = cmd.flag("plugin-name")
    path = ensure_trailing_slash(cmd.flag("path") or kind)
    config = Struct(
        options=None,
        default_lease_ttl=format_go_duration(cmd.flag("default-lease-ttl")),
        max_lease_ttl=format_go_duration(cmd.flag("max-lease-ttl")),
        force_no_cache=bool(cmd.flag("force-no-cache")) if not auth else False,
    )
    _visited_config(cmd, config, auth=auth)
    body = Struct(
        type=kind,
        description=cmd.flag("description"),
        config=config,
        local=cmd.flag("local"),
        seal_wrap=cmd.flag("seal-wrap"),
        external_entropy_access=cmd.flag("external-entropy-access"),
        options=_options(cmd),
    )
    base = "sys/auth" if auth else "sys/mounts"
    try:
        client.request("POST", f"{base}/{path}", body=body)
    except APIError as exc:
        return cmd.fail(f"Error enabling {kind} auth" if auth else "Error enabling", exc)
    thing = f"{kind} auth method" if auth else f"{kind} secrets engine"
    if cmd.flag("plugin-version"):
        thing += " version " + cmd.flag("plugin-version")
    if auth:
        cmd.ui.output(f"Success! Enabled {thing} at: {path}")
    else:
        cmd.ui.output(f"Success! Enabled the {thing} at: {path}")
    return 0


def _tune(cmd: Command, args: list[str], *, auth: bool) -> int:
    """POST sys/mounts/[auth/]<path>/tune with only the settings given (empty ones are left alone)."""
    args = cmd.parse(args)
    cmd.nargs(args, 1)
    client = cmd.client()
    config = Struct(
        options=_options(cmd),
        default_lease_ttl=_ttl_to_api(cmd.flag("default-lease-ttl")),
    )
    if cmd.fs.was_set("description"):
        config["description"] = cmd.flag("description")
    config["max_lease_ttl"] = _ttl_to_api(cmd.flag("max-lease-ttl"))
    config["force_no_cache"] = False
    _visited_config(cmd, config, auth=auth)
    lockout = _lockout_config(cmd)
    if lockout is not None:
        config["user_lockout_config"] = lockout
    path = ensure_trailing_slash(sanitize_path(args[0]))
    api_path = f"sys/mounts/auth/{path}tune" if auth else f"sys/mounts/{path}tune"
    try:
        client.request("POST", api_path, body=config)
    except APIError as exc:
        what = "auth method" if auth else "secrets engine"
        return cmd.fail(f"Error tuning {what} {path}", exc)
    if auth:
        cmd.ui.output(f"Success! Tuned the auth method at: {path}")
    else:
        cmd.ui.output(f"Success! Tuned the secrets engine at: {path}")
    return 0


class SecretsEnableCommand(Command):
    name = "secrets enable"
    synopsis = "Enable a secrets engine"
    usage = """
Usage: tessera secrets enable [options] TYPE

  Enables a secrets engine. By default, secrets engines are enabled at the path
  corresponding to their TYPE, but users can customize the path using the
  -path option.

  Once enabled, Vault will route all requests which begin with the path to the
  secrets engine.

  Enable the KV secrets engine at kv/:

      $ tessera secrets enable -path=kv kv

  Enable the KV version 2 secrets engine at secret/:

      $ tessera secrets enable -path=secret -version=2 kv

  For a full list of secrets engines and examples, please see the documentation.
"""

    def add_flags(self, fs: FlagSet) -> None:
        _mount_flags(self, fs, auth=False, tune=False)

    def run(self, args: list[str]) -> int:
        return _enable(self, args, auth=False)


class AuthEnableCommand(Command):
    name = "auth enable"
    synopsis = "Enables a new auth method"
    usage = """
Usage: tessera auth enable [options] TYPE

  Enables a new auth method. An auth method is responsible for authenticating
  users or machines and assigning them policies with which they can access
  Vault.

  Enable the userpass auth method at userpass/:

      $ tessera auth enable userpass

  Enable the AppRole auth method at approle/:

      $ tessera auth enable approle

  For a full list of auth methods and examples, please see the documentation.
"""

    def add_flags(self, fs: FlagSet) -> None:
        _mount_flags(self, fs, auth=True, tune=False)

    def run(self, args: list[str]) -> int:
        return _enable(self, args, auth=True)


class SecretsTuneCommand(Command):
    name = "secrets tune"
    synopsis = "Tune a secrets engine configuration"
    usage = """
Usage: tessera secrets tune [options] PATH

  Tunes the configuration options for the secrets engine at the given PATH.
  The argument corresponds to the PATH where the secrets engine is enabled,
  not the TYPE!

  Tune the default lease for the PKI secrets engine:

      $ tessera secrets tune -default-lease-ttl=72h pki/

  For a full list of examples and paths, please see the documentation.
"""

    def add_flags(self, fs: FlagSet) -> None:
        _mount_flags(self, fs, auth=False, tune=True)

    def run(self, args: list[str]) -> int:
        return _tune(self, args, auth=False)


class AuthTuneCommand(Command):
    name = "auth tune"
    synopsis = "Tunes an auth method configuration"
    usage = """
Usage: tessera auth tune [options] PATH

  Tunes the configuration options for the auth method at the given PATH. The
  argument corresponds to the PATH where the auth method is enabled, not the
  TYPE!

  Tune the default lease for the github auth method:

      $ tessera auth tune -default-lease-ttl=72h github/

  For a full list of examples and paths, please see the documentation.
"""

    def add_flags(self, fs: FlagSet) -> None:
        _mount_flags(self, fs, auth=True, tune=True)

    def run(self, args: list[str]) -> int:
        return _tune(self, args, auth=True)

"""``secrets list|disable|move`` and ``auth list|disable``: reading the mount tables and removing mounts.

``mount_struct`` re-encodes a mount entry as the Go client's ``MountOutput`` so that ``-format=json``
shows exactly the keys ``bao`` shows; enabling and tuning are in ``mount_config``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from ..api import APIError
from ..args import ensure_trailing_slash, sanitize_path
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, FlagSet
from ..gojson import Struct, fmt_v
from ..output import output_data, table_output


def mount_struct(m: dict[str, Any]) -> Struct:
    """api.MountOutput: a mount entry as the Go client decodes and re-encodes it."""
    c = m.get("config") if isinstance(m.get("config"), dict) else {}
    config = Struct(
        default_lease_ttl=c.get("default_lease_ttl", 0),
        max_lease_ttl=c.get("max_lease_ttl", 0),
        force_no_cache=bool(c.get("force_no_cache")),
    )
    for key in (
        "audit_non_hmac_request_keys",
        "audit_non_hmac_response_keys",
        "listing_visibility",
        "passthrough_request_headers",
        "allowed_response_headers",
        "token_type",
        "allowed_managed_keys",
        "user_lockout_config",
    ):
        if c.get(key):
            config[key] = c[key]
    opts = m.get("options")
    return Struct(
        uuid=m.get("uuid", ""),
        type=m.get("type", ""),
        description=m.get("description", ""),
        accessor=m.get("accessor", ""),
        config=config,
        options={str(k): fmt_v(v) for k, v in opts.items()} if isinstance(opts, dict) else None,
        local=bool(m.get("local")),
        seal_wrap=bool(m.get("seal_wrap")),
        external_entropy_access=bool(m.get("external_entropy_access")),
        plugin_version=m.get("plugin_version", ""),
        running_plugin_version=m.get("running_plugin_version", ""),
        running_sha256=m.get("running_sha256", ""),
        deprecation_status=m.get("deprecation_status", ""),
    )


def _calc_ttl(kind: str, ttl: Any) -> str:
    """calcTTL: system and cubbyhole mounts have no TTLs of their own; 0 means the system default."""
    if kind in ("system", "cubbyhole"):
        return ""
    return str(ttl) if ttl else "system"


def _list(cmd: Command, args: list[str], *, auth: bool) -> int:
    """Both list commands: one table layout each for plain, auth and ``-detailed`` output."""
    args = cmd.parse(args)
    if args:
        raise UsageError(f"Too many arguments (expected 0, got {len(args)})")
    try:
        body = cmd.client().request("GET", "sys/auth" if auth else "sys/mounts").json() or {}
    except APIError as exc:
        return cmd.fail(
            "Error listing enabled authentications" if auth else "Error listing secrets engines", exc
        )
    data = body.get("data")
    if not isinstance(data, dict):
        return cmd.fail(
            "Error listing enabled authentications" if auth else "Error listing secrets engines",
            APIError("data from server response is empty"),
        )
    mounts = {k: mount_struct(v) for k, v in data.items() if isinstance(v, dict)}
    if cmd.ui.format != "table":
        return output_data(cmd.ui, mounts)
    paths = sorted(mounts)
    if cmd.flag("detailed"):
        middle = "Token Type" if auth else "Force No Cache"
        rows = [
            f"Path | Plugin | Accessor | Default TTL | Max TTL | {middle} | Replication | Seal Wrap | External Entropy Access | Options | Description | UUID | Version | Running Version | Running SHA256 | Deprecation Status"
        ]
        for p in paths:
            m = mounts[p]
            c = m["config"]
            mid = c.get("token_type", "") if auth else ("true" if c["force_no_cache"] else "false")
            rows.append(
                " | ".join(
                    [
                        p,
                        m["type"],
                        m["accessor"],
                        _calc_ttl(m["type"], c["default_lease_ttl"]),
                        _calc_ttl(m["type"], c["max_lease_ttl"]),
                        mid,
                        "local" if m["local"] else "replicated",
                        "true" if m["seal_wrap"] else "false",
                        "true" if m["external_entropy_access"] else "false",
                        fmt_v(m["options"] or {}),
                        m["description"],
                        m["uuid"],
                        m["plugin_version"],
                        m["running_plugin_version"],
                        m["running_sha256"],
                        m["deprecation_status"],
                    ]
                )
            )
    elif auth:
        rows = ["Path | Type | Accessor | Description | Version"]
        rows += [
            f"{p} | {mounts[p]['type']} | {mounts[p]['accessor']} | {mounts[p]['description']} | {mounts[p]['plugin_version']}"
            for p in paths
        ]
    else:
        rows = ["Path | Type | Accessor | Description"]
        rows += [
            f"{p} | {mounts[p]['type']} | {mounts[p]['accessor']} | {mounts[p]['description']}" for p in paths
        ]
    cmd.ui.output(table_output(rows))
    return 0


_DETAILED = "Print detailed information such as configuration and replication status about each {}."


class SecretsListCommand(Command):
    name = "secrets list"
    synopsis = "List enabled secrets engines"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera secrets list [options]

  Lists the enabled secret engines on the Vault server. This command also
  outputs information about the enabled path including configured TTLs and
  human-friendly descriptions. A TTL of "system" indicates that the system
  default is in use.

  List all enabled secrets engines:

      $ tessera secrets list

  List all enabled secrets engines with detailed output:

      $ tessera secrets list -detailed
"""

    def add_flags(self, fs: FlagSet) -> None:
        fs.add(self.command_group(), Flag("detailed", "bool", _DETAILED.format("secrets engine"), False))

    def run(self, args: list[str]) -> int:
        return _list(self, args, auth=False)


class AuthListCommand(Command):
    name = "auth list"
    synopsis = "Lists enabled auth methods"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera auth list [options]

  Lists the enabled auth methods on the Vault server. This command also outputs
  information about the method including configuration and human-friendly
  descriptions. A TTL of "system" indicates that the system default is in use.

  List all enabled auth methods:

      $ tessera auth list

  List all enabled auth methods with detailed output:

      $ tessera auth list -detailed
"""

    def add_flags(self, fs: FlagSet) -> None:
        fs.add(self.command_group(), Flag("detailed", "bool", _DETAILED.format("auth method"), False))

    def run(self, args: list[str]) -> int:
        return _list(self, args, auth=True)


class _DisableCommand(Command):
    """``secrets disable`` and ``auth disable``: one DELETE on the mount table."""

    table: ClassVar[str] = "mounts"
    what: ClassVar[str] = "secrets engine"

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        client = self.client()
        path = ensure_trailing_slash(sanitize_path(args[0]))
        try:
            client.request("DELETE", f"sys/{self.table}/{path}")
        except APIError as exc:
            return self.fail(f"Error disabling {self.what} at {path}", exc)
        self.ui.output(f"Success! Disabled the {self.what} (if it existed) at: {path}")
        return 0


class SecretsDisableCommand(_DisableCommand):
    name = "secrets disable"
    synopsis = "Disable a secret engine"
    usage = """
Usage: tessera secrets disable [options] PATH

  Disables a secrets engine at the given PATH. The argument corresponds to
  the enabled PATH of the engine, not the TYPE! All secrets created by this
  engine are revoked and its Vault data is removed.

  Disable the secrets engine enabled at aws/:

      $ tessera secrets disable aws/
"""


class AuthDisableCommand(_DisableCommand):
    name = "auth disable"
    synopsis = "Disables an auth method"
    table = "auth"
    what = "auth method"
    usage = """
Usage: tessera auth disable [options] PATH

  Disables an existing auth method at the given PATH. The argument corresponds
  to the PATH of the mount, not the TYPE!. Once the auth method is disabled its
  path can no longer be used to authenticate.

  All access tokens generated via the disabled auth method are immediately
  revoked. This command will block until all tokens are revoked.

  Disable the auth method at userpass/:

      $ tessera auth disable userpass/
"""


class SecretsMoveCommand(Command):
    name = "secrets move"
    synopsis = "Move a secrets engine to a new path"
    usage = """
Usage: tessera secrets move [options] SOURCE DESTINATION

  Moves an existing secrets engine to a new path. Any leases from the old
  secrets engine are revoked, but all configuration associated with the engine
  is preserved. It initiates the migration and intermittently polls its status,
  exiting if a final state is reached.

  Move the existing secrets engine at secret/ to generic/:

      $ tessera secrets move secret/ generic/
"""

    poll_seconds = 10.0

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 2)
        src, dst = ensure_trailing_slash(args[0]), ensure_trailing_slash(args[1])
        client = self.client()
        try:
            body = client.request("POST", "sys/remount", body={"from": src, "to": dst}).json() or {}
        except APIError as exc:
            return self.fail(f"Error moving secrets engine {src} to {dst}", exc)
        mid = str((body.get("data") or {}).get("migration_id", ""))
        self.ui.output(f"Started moving secrets engine {src} to {dst}, with migration ID {mid}")
        while True:
            try:
                status = client.request("GET", f"sys/remount/status/{mid}").json() or {}
            except APIError as exc:
                return self.fail(f"Error checking migration status of secrets engine {src} to {dst}", exc)
            info = (status.get("data") or {}).get("migration_info") or {}
            state = info.get("status")
            if state == "success":
                self.ui.output(
                    f"Success! Finished moving secrets engine {src} to {dst}, with migration ID {mid}"
                )
                return 0
            if state == "failure":
                self.ui.error(
                    f"Failure! Error encountered moving secrets engine {src} to {dst}, with migration ID {mid}"
                )
                return 0
            self.ui.output(
                f"Waiting for terminal status in migration of secrets engine {src} to {dst}, with migration ID {mid}"
            )
            time.sleep(self.poll_seconds)

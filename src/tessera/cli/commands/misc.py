"""``status``, ``version``, ``print token`` and ``path-help``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ... import __version__
from ...version import VAULT_VERSION
from ..api import APIError, ResponseError
from ..args import sanitize_path
from ..base import FLAGS_FIELD, FLAGS_FORMAT, FLAGS_HTTP, Command
from ..gojson import Struct, dumps_compact
from ..output import UI, output_data, print_raw_field, table_output


def seal_status_output(status: dict[str, Any], leader: dict[str, Any]) -> Struct:
    """SealStatusOutput: the seal status and the leader fields, in the Go struct's order."""
    out = Struct(
        type=status.get("type", ""),
        initialized=bool(status.get("initialized")),
        sealed=bool(status.get("sealed")),
        t=status.get("t", 0),
        n=status.get("n", 0),
        progress=status.get("progress", 0),
        nonce=status.get("nonce", ""),
        # A Tessera server answers as a Vault version (tessera/version.py); its own is shown here.
        version=status.get("tessera_version") or status.get("version", ""),
        commit_date=status.get("commit_date", ""),
        migration=bool(status.get("migration")),
    )
    for key in ("cluster_name", "cluster_id"):
        if status.get(key):
            out[key] = status[key]
    out["recovery_seal"] = bool(status.get("recovery_seal"))
    for key in ("recovery_seal_type", "storage_type", "warnings"):
        if status.get(key):
            out[key] = status[key]
    if status.get("tessera_workers"):  # Tessera's own: ``workers = N`` processes on this node
        out["workers"] = status["tessera_workers"]
    out["build_date"] = status.get("build_date", "")
    out["ha_enabled"] = bool(leader.get("ha_enabled"))
    for key in ("is_self", "active_time", "leader_address", "leader_cluster_address"):
        if leader.get(key) and leader.get(key) != "0001-01-01T00:00:00Z":
            out[key] = leader[key]
    for key in ("performance_standby", "last_wal", "raft_committed_index", "raft_applied_index"):
        if leader.get(key):
            out[key] = leader[key]
    return out


def seal_status_rows(s: Struct, full: bool = True) -> list[str]:
    """The Key | Value rows of the seal status table."""
    prefix = ""
    out = ["Key | Value", f"Seal Type | {s['type']}"]
    if s["recovery_seal"]:
        prefix = "Recovery "
        out.append(f"Recovery Seal Type | {s.get('recovery_seal_type', '')}")
    out.append(f"Initialized | {_b(s['initialized'])}")
    out.append(f"Sealed | {_b(s['sealed'])}")
    out.append(f"Total {prefix}Shares | {s['n']}")
    out.append(f"Threshold | {s['t']}")
    if s["sealed"]:
        out.append(f"Unseal Progress | {s['progress']}/{s['t']}")
        out.append(f"Unseal Nonce | {s['nonce']}")
    if not full:
        return out
    if s["migration"]:
        out.append("Seal Migration in Progress | true")
    if s["version"]:
        out.append(f"Version | {s['version']}")
    if s["commit_date"]:
        out.append(f"Commit Date | {s['commit_date']}")
    elif s["build_date"]:
        out.append(f"Build Date | {s['build_date']}")
    if s.get("storage_type"):
        out.append(f"Storage Type | {s['storage_type']}")
    if s.get("workers"):
        out.append(f"Workers | {s['workers']}")
    if s.get("cluster_name") and s.get("cluster_id"):
        out.append(f"Cluster Name | {s['cluster_name']}")
        out.append(f"Cluster ID | {s['cluster_id']}")
    out.append(f"HA Enabled | {_b(s['ha_enabled'])}")
    if s["ha_enabled"] and not s["sealed"]:
        out.append(f"HA Cluster | {s.get('leader_cluster_address', '')}")
        out.append(f"HA Mode | {'active' if s.get('is_self') else 'standby'}")
        if s.get("is_self") and s.get("active_time"):
            out.append(f"Active Since | {s['active_time']}")
        if not s.get("is_self") and s.get("leader_address"):
            out.append(f"Active Node Address | {s['leader_address']}")
        if s.get("performance_standby"):
            out.append("Performance Standby Node | true")
            out.append(
                f"Performance Standby Last Remote WAL | {s.get('performance_standby_last_remote_wal', 0)}"
            )
    if s.get("raft_committed_index"):
        out.append(f"Raft Committed Index | {s['raft_committed_index']}")
    if s.get("raft_applied_index"):
        out.append(f"Raft Applied Index | {s['raft_applied_index']}")
    if s.get("last_wal"):
        out.append(f"Last WAL | {s['last_wal']}")
    return out


def _b(v: Any) -> str:
    return "true" if v else "false"


def build_seal_status(cmd: Command, status: dict[str, Any]) -> Struct:
    """Read ``sys/leader`` too (a sealed server answers 503: HA is then reported as enabled)."""
    try:
        leader = cmd.client().request("GET", "sys/leader").json() or {}
    except ResponseError as exc:
        if "Vault is sealed" not in str(exc):
            raise APIError(f"Error checking leader status: {exc}") from None
        leader = {"ha_enabled": True}
    except APIError as exc:
        raise APIError(f"Error checking leader status: {exc}") from None
    return seal_status_output(status, leader)


def output_seal_status(cmd: Command, status: dict[str, Any]) -> int:
    """OutputSealStatus."""
    try:
        out = build_seal_status(cmd, status)
    except APIError as exc:
        cmd.ui.error(str(exc))
        return 1
    return output_data(cmd.ui, out, table=lambda: cmd.ui.output(table_output(seal_status_rows(out))))


class StatusCommand(Command):
    name = "status"
    synopsis = "Print seal and HA status"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera status [options]

  Prints the current state of Vault including whether it is sealed and if HA
  mode is enabled. This command prints regardless of whether the Vault is
  sealed.

  The exit code reflects the seal status:

      - 0 - unsealed
      - 1 - error
      - 2 - sealed

      $ tessera status

  For a full list of examples, please see the documentation.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if args:
            self.ui.error(f"Too many arguments (expected 0, got {len(args)})")
            return 1
        client = self.client()
        client.namespace = ""
        try:
            status = client.request("GET", "sys/seal-status").json() or {}
        except APIError as exc:
            self.ui.error(f"Error checking seal status: {exc}")
            return 1
        field = self.flag("field")
        if field:
            try:
                out = build_seal_status(self, status)
            except APIError as exc:
                self.ui.error(str(exc))
                return 1
            data = dict(out)
            data["ha_mode"] = "active" if out.get("is_self") else "standby"
            print_raw_field(self.ui, data, field, "seal status")
            return 2 if out["sealed"] else 0
        code = output_seal_status(self, status)
        return 2 if status.get("sealed") else code


class VersionCommand(Command):
    name = "version"
    synopsis = "Prints the Tessera CLI version"
    flag_bits = 0
    usage = """
Usage: tessera version

  Prints the version of this Tessera CLI. This does not print the target
  server version.

  Print the version:

      $ tessera version

  There are no arguments or flags to this command. Any additional arguments or
  flags are ignored.
"""

    def run(self, args: list[str]) -> int:
        if Path(sys.argv[0]).name == "vault":
            # Installed as `vault` (a symlink), for tools that read `vault -version` to learn which
            # Vault API they face: the second word is the Vault version Tessera answers as.
            self.ui.output(f"Vault v{VAULT_VERSION} (Tessera v{__version__})")
            return 0
        self.ui.output(f"Tessera v{__version__}")
        return 0


class PrintTokenCommand(Command):
    name = "print token"
    synopsis = "Prints the Vault token currently in use"
    flag_bits = 0
    usage = """
Usage: tessera print token

  Prints the value of the Vault token that will be used for commands, after
  taking into account the configured token-helper and the environment.

      $ tessera print token
"""

    def run(self, args: list[str]) -> int:
        self.ui.output(self.client().token)
        return 0


class PathHelpCommand(Command):
    name = "path-help"
    synopsis = "Retrieve API help for paths"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera path-help [options] PATH

  Retrieves API help for paths. All endpoints in Vault provide built-in help
  in markdown format. This includes system paths, secret engines, and auth
  methods.

  Get help for the thing mounted at database/:

      $ tessera path-help database/

  For a full list of examples and paths, please see the online documentation.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        path = sanitize_path(args[0])
        try:
            resp = self.client().request("GET", path, params=[("help", "1")])
            help_doc = resp.json() or {}
        except APIError as exc:
            if "Vault is sealed" in str(exc):
                self.ui.error(
                    'Error: Vault is sealed.\nThe "path-help" command requires the Vault to be unsealed so that the mount\npoints of the secret engines are known.'
                )
            else:
                self.ui.error(f"Error retrieving help: {exc}")
            return 2
        if self.flag("format") == "json":
            self.ui.output(dumps_compact(help_doc.get("openapi")))
        else:
            self.ui.output(str(help_doc.get("help", "")))
        return 0


__all__ = ["UI", "PathHelpCommand", "PrintTokenCommand", "StatusCommand", "VersionCommand"]

"""``audit enable|disable|list``: manage audit devices, printed as the reference CLI prints them."""

from __future__ import annotations

import sys
from typing import Any

from ..api import APIError
from ..args import ensure_trailing_slash, parse_args_data_string, sanitize_path
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command
from ..flags import Flag, FlagSet
from ..gojson import Struct
from ..output import output_data, table_output


class AuditEnableCommand(Command):
    name = "audit enable"
    synopsis = "Enables an audit device"
    usage = """
Usage: tessera audit enable [options] TYPE [CONFIG K=V...]

  Enables an audit device at a given path.

  This command enables an audit device of TYPE. Additional options for
  configuring the audit device can be specified after the type in the same
  format as the "tessera write" command in key/value pairs.

  For example, to configure the file audit device to write audit logs at the
  path "/var/log/audit.log":

      $ tessera audit enable file file_path=/var/log/audit.log
"""

    def add_flags(self, fs: FlagSet) -> None:
        group = self.command_group()
        fs.add_rows(
            group,
            (
                ("description", "string", "Human-friendly description for the purpose of this audit device."),
                ("path", "string", 'Place where the audit device will be accessible. Defaults to "TYPE".'),
                ("local", "bool", "Mark the audit device as a local-only device."),
            ),
        )

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            self.ui.error(
                "Error enabling audit device: audit type missing. Valid types include 'file', 'socket' and 'syslog'."
            )
            return 1
        kind = args[0].strip()
        try:
            options = parse_args_data_string(args[1:], sys.stdin)
        except ValueError as exc:
            self.ui.error(f"Failed to parse K=V data: {exc}")
            return 1
        path = ensure_trailing_slash(sanitize_path(self.flag("path") or kind))
        body = Struct(
            type=kind, description=self.flag("description"), options=options, local=self.flag("local")
        )
        try:
            self.client().request("PUT", f"sys/audit/{path}", body=body)
        except APIError as exc:
            return self.fail("Error enabling audit device", exc)
        self.ui.output(f"Success! Enabled the {kind} audit device at: {path}")
        return 0


class AuditDisableCommand(Command):
    name = "audit disable"
    synopsis = "Disables an audit device"
    usage = """
Usage: tessera audit disable [options] PATH

  Disables an audit device. Once an audit device is disabled, no future audit
  logs are dispatched to it. The data associated with the audit device is not
  affected.

  The argument corresponds to the PATH of audit device, not the TYPE!

  Disable the audit device enabled at "file/":

      $ tessera audit disable file/
"""

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        path = ensure_trailing_slash(sanitize_path(args[0]))
        try:
            self.client().request("DELETE", f"sys/audit/{path}")
        except APIError as exc:
            return self.fail("Error disabling audit device", exc)
        self.ui.output(f"Success! Disabled audit device (if it was enabled) at: {path}")
        return 0


class AuditListCommand(Command):
    name = "audit list"
    synopsis = "Lists enabled audit devices"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera audit list [options]

  Lists the enabled audit devices in the server. The output lists the enabled
  audit devices and the options for those devices.

  List all audit devices:

      $ tessera audit list

  List detailed output about the audit devices:

      $ tessera audit list -detailed
"""

    def add_flags(self, fs: FlagSet) -> None:
        fs.add(
            self.command_group(),
            Flag(
                "detailed",
                "bool",
                "Print detailed information such as options and replication status about each audit device.",
                False,
            ),
        )

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 0)
        try:
            body = self.client().request("GET", "sys/audit").json() or {}
        except APIError as exc:
            return self.fail("Error listing audits", exc)
        data: dict[str, Any] = body.get("data") or {}
        devices = {
            path: Struct(
                type=d.get("type", ""),
                description=d.get("description", ""),
                options=d.get("options") or {},
                local=bool(d.get("local")),
                path=d.get("path", path),
            )
            for path, d in data.items()
            if isinstance(d, dict)
        }
        if self.ui.format != "table":
            return output_data(self.ui, devices)
        if not devices:
            self.ui.output("No audit devices are enabled.")
            return 2
        if self.flag("detailed"):
            rows = ["Path | Type | Description | Replication | Options"]
            for path in sorted(devices):
                d = devices[path]
                opts = " ".join(f"{k}={v}" for k, v in sorted(d["options"].items()))
                rows.append(
                    f"{path} | {d['type']} | {d['description'] or 'n/a'} | "
                    f"{'local' if d['local'] else 'replicated'} | {opts}"
                )
        else:
            rows = ["Path | Type | Description"]
            rows += [
                f"{p} | {devices[p]['type']} | {devices[p]['description'] or 'n/a'}" for p in sorted(devices)
            ]
        self.ui.output(table_output(rows))
        return 0

"""``read``, ``write``, ``list``, ``delete`` and ``patch``: raw access to any API path."""

from __future__ import annotations

import io
import sys

from ..api import APIError, ResponseError
from ..args import ArgsError, parse_args_data, parse_args_data_string_lists, sanitize_path
from ..base import FLAGS_DETAILED, FLAGS_FIELD, FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, FlagSet
from ..output import Secret, output_data, output_list, output_secret, print_raw_field


def _stdin(cmd: Command):  # type: ignore[no-untyped-def]
    return io.StringIO("") if cmd.flag("non-interactive") else sys.stdin


def write_output(cmd: Command, path: str, secret: Secret | None) -> int:
    """handleWriteSecretOutput after a successful write."""
    if secret is None:
        if cmd.ui.format == "table":
            cmd.ui.info(f"Success! Data written to: {path}")
        return 0
    if "field" in cmd.fs.by_name and cmd.flag("field"):
        return print_raw_field(cmd.ui, secret, cmd.flag("field"))
    return output_secret(cmd.ui, secret)


class ReadCommand(Command):
    name = "read"
    synopsis = "Read data and retrieves secrets"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera read [options] PATH

  Reads data from Vault at the given path. This can be used to read secrets,
  generate dynamic credentials, get configuration details, and more.

  Read a secret from the static secrets engine:

      $ tessera read secret/my-secret

  For a full list of examples and paths, please see the documentation that
  corresponds to the secrets engine in use.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse(args, allow_raw=True)
        if not args:
            raise UsageError(f"Not enough arguments (expected 1, got {len(args)})")
        path = sanitize_path(args[0])
        try:
            params = parse_args_data_string_lists(args[1:], _stdin(self))
        except ArgsError as exc:
            raise UsageError(f"Failed to parse K=V data: {exc}") from None
        if self.ui.format == "raw":
            try:
                resp = self.client().request("GET", path, params=params)
            except ResponseError as exc:
                if exc.status != 404:
                    return self.fail(f"Error reading: {path}", exc)
                self.ui.error(f"No value found at {path}")
                return 2
            except APIError as exc:
                return self.fail(f"Error reading: {path}", exc)
            if not resp.body:
                self.ui.error(f"No value found at {path}")
                return 2
            return output_data(self.ui, resp.body)
        try:
            secret = self.logical("GET", path, params=params)
        except APIError as exc:
            return self.fail(f"Error reading {path}", exc)
        if secret is None:
            self.ui.error(f"No value found at {path}")
            return 2
        if self.flag("field"):
            return print_raw_field(self.ui, secret, self.flag("field"))
        return output_secret(self.ui, secret)


class WriteCommand(Command):
    name = "write"
    synopsis = "Write data, configuration, and secrets"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    method = "PUT"
    content_type = ""
    usage = """
Usage: tessera write [options] PATH [DATA K=V...]

  Writes data to Vault at the given path. The data can be credentials, secrets,
  configuration, or arbitrary data. The specific behavior of this command is
  determined at the thing mounted at the path.

  Data is specified as "key=value" pairs. If the value begins with an "@", then
  it is loaded from a file. If the value is "-", Vault will read the value from
  stdin.

  Persist data in the generic secrets engine:

      $ tessera write secret/my-secret foo=bar

  Create a new encryption key in the transit secrets engine:

      $ tessera write -force transit/keys/my-key

  Upload an AWS IAM policy from a file on disk:

      $ tessera write aws/roles/ops policy=@policy.json

  Configure access to Consul by providing an access token:

      $ echo $MY_TOKEN | tessera write consul/config/access token=-

  For a full list of examples and paths, please see the documentation that
  corresponds to the secret engines in use.
"""

    def add_flags(self, fs: FlagSet) -> None:
        fs.add(
            self.command_group(),
            Flag(
                "force",
                "bool",
                "Allow the operation to continue with no key=value pairs. This allows writing to keys that do not need or expect data.",
                False,
                aliases=("f",),
            ),
        )

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            raise UsageError(f"Not enough arguments (expected 1, got {len(args)})")
        if len(args) == 1 and not self.flag("force"):
            raise UsageError("Must supply data or use -force")
        path = sanitize_path(args[0])
        try:
            data = parse_args_data(args[1:], _stdin(self))
        except ArgsError as exc:
            raise UsageError(f"Failed to parse K=V data: {exc}") from None
        kwargs = {"content_type": self.content_type} if self.content_type else {}
        try:
            secret = self.logical(self.method, path, body=data if data else None, has_body=True, **kwargs)
        except APIError as exc:
            return self.fail(f"Error writing data to {path}", exc)
        return write_output(self, path, secret)


class PatchCommand(WriteCommand):
    name = "patch"
    synopsis = "Patch data, configuration, and secrets"
    method = "PATCH"
    content_type = "application/merge-patch+json"
    usage = """
Usage: tessera patch [options] PATH [DATA K=V...]

  Patches data in Vault at the given path. The data can be credentials, secrets,
  configuration, or arbitrary data. The specific behavior of this command is
  determined at the thing mounted at the path.

  Data is specified as "key=value" pairs. If the value begins with an "@", then
  it is loaded from a file. If the value is "-", Vault will read the value from
  stdin.

  Update a role:

      $ tessera patch pki/roles/example allow_localhost=false

  For a full list of examples and paths, please see the documentation that
  corresponds to the secret engines in use.
"""


class ListCommand(Command):
    name = "list"
    synopsis = "List data or secrets"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT | FLAGS_DETAILED
    usage = """
Usage: tessera list [options] PATH

  Lists data from Vault at the given path. This can be used to list keys in a,
  given secret engine.

  List values under the "my-app" folder of the generic secret engine:

      $ tessera list secret/my-app/

  For a full list of examples and paths, please see the documentation that
  corresponds to the secret engine in use. Not all engines support listing.
"""

    command_flags = (
        (
            "after",
            "string",
            "Last seen key on applicable endpoints; the next keyalphabetically will be the first returned.",
        ),
        ("limit", "int", "Limits the number of list responses on applicable endpoints.", -1),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        path = sanitize_path(args[0])
        params = [("list", "true")]
        if self.flag("after") or self.flag("limit") > 0:
            params += [("after", self.flag("after")), ("limit", str(self.flag("limit")))]
        try:
            secret = self.logical("GET", path, params=params)
        except APIError as exc:
            return self.fail(f"Error listing {path}", exc)
        return list_output(self, path, secret)


def list_output(cmd: Command, path: str, secret: Secret | None, kv: bool = False) -> int:
    """The tail of ``list`` and ``kv list``: keys table, or the JSON/YAML keys array."""
    if secret is not None and secret.wrap_info is not None and secret.wrap_info["ttl"] != 0:
        return output_secret(cmd.ui, secret)
    keys = (secret.data or {}).get("keys") if secret is not None else None
    ok = isinstance(keys, list)
    if cmd.ui.format != "table" and (secret is None or secret.data is None or not ok):
        output_data(cmd.ui, {})
        return 2
    if secret is None or (kv and secret.data is None):
        cmd.ui.error(f"No value found at {path}")
        return 2
    if secret.data is None:
        return output_secret(cmd.ui, secret)
    if not ok:
        cmd.ui.error(f"No entries found at {path}")
        return 2
    return output_list(cmd.ui, secret)


class DeleteCommand(Command):
    name = "delete"
    synopsis = "Delete secrets and configuration"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera delete [options] PATH

  Deletes secrets and configuration from Vault at the given path. The behavior
  of "delete" is delegated to the backend corresponding to the given path.

  Remove data in the status secret backend:

      $ tessera delete secret/my-secret

  Uninstall an encryption key in the transit backend:

      $ tessera delete transit/keys/my-key

  Delete an IAM role:

      $ tessera delete aws/roles/ops

  For a full list of examples and paths, please see the documentation that
  corresponds to the secret backend in use.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            raise UsageError(f"Not enough arguments (expected at least 1, got {len(args)})")
        path = sanitize_path(args[0])
        try:
            params = parse_args_data_string_lists(args[1:], _stdin(self))
        except ArgsError as exc:
            raise UsageError(f"Failed to parse string list data: {exc}") from None
        try:
            secret = self.logical("DELETE", path, params=params)
        except APIError as exc:
            return self.fail(f"Error deleting {path}", exc)
        if secret is None:
            if self.ui.format == "table":
                self.ui.info(f"Success! Data deleted (if it existed) at: {path}")
            return 0
        if self.flag("field"):
            return print_raw_field(self.ui, secret, self.flag("field"))
        return output_secret(self.ui, secret)

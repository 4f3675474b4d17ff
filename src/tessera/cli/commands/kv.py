"""``kv put|get|delete|undelete|destroy|list`` and the KV helpers shared with ``kv_more``.

Every kv command first asks ``GET sys/internal/ui/mounts/<path>`` which KV version the mount runs
(404 means v1) and rewrites ``secret/foo`` to ``secret/data/foo`` (or ``metadata``, ``delete``…)
for v2, exactly as the Vault CLI does.
"""

from __future__ import annotations

import io
import sys
from typing import Any, ClassVar

from ..api import APIError, ResponseError
from ..args import ArgsError, join_path, parse_args_data, sanitize_path
from ..base import FLAGS_FIELD, FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, FlagRow, FlagSet
from ..gojson import Struct
from ..output import Secret, output_data, output_list, output_secret, print_raw_field, print_warnings
from .generic import list_output

MOUNT_USAGE = (
    "Specifies the path where the KV backend is mounted. If specified, the next argument will be "
    "interpreted as the secret path. If this flag is not specified, the next argument will be "
    "interpreted as the combined mount path and secret path, with /data/ automatically appended "
    "between KV v2 secrets."
)


class KVError(Exception):
    """The preflight failed; the message is printed as is (exit code 2)."""


def preflight(cmd: Command, path: str) -> tuple[str, int]:
    """kvPreflightVersionRequest: (mount path, KV version)."""
    client = cmd.client()
    saved = (client.wrap_ttl, client.output_curl)
    client.wrap_ttl, client.output_curl = "", False
    try:
        body = client.request("GET", "sys/internal/ui/mounts/" + path, wrap=False).json()
    except ResponseError as exc:
        if exc.status == 404:
            return "", 1
        if saved[1] and exc.status == 403:
            raise KVError(
                "This output flag requires the success of a preflight request \n"
                "to determine the version of a KV secrets engine. Please \n"
                f"re-run this command with a token with read access to {path}. \n"
                "Note that if the path you are trying to reach is a KV v2 path, your token's policy must \n"
                "allow read access to that path in the format 'mount-path/data/foo', not just 'mount-path/foo'."
            ) from None
        raise KVError(str(exc)) from None
    except APIError as exc:
        raise KVError(str(exc)) from None
    finally:
        client.wrap_ttl, client.output_curl = saved
    secret = Secret.parse(body)
    if secret is None:
        raise KVError("nil response from pre-flight request")
    data = secret.data or {}
    mount = str(data.get("path") or "")
    options = data.get("options")
    version = options.get("version") if isinstance(options, dict) else None
    return mount, 2 if version == "2" else 1


def add_prefix(path: str, mount: str, prefix: str) -> str:
    """addPrefixToKVPath: insert ``data``/``metadata``/… after the mount."""
    if path == mount or path == mount.rstrip("/"):
        return join_path(mount, prefix)
    suffix = path.removeprefix(mount)
    while suffix == path:
        parts = mount.split("/", 1)
        if len(parts) <= 1 or parts[1] == "":
            break
        mount = parts[1].removesuffix("/")
        suffix = suffix.removeprefix(mount)
    return join_path(mount, prefix, suffix)


def resolve(cmd: Command, arg: str, *, strip_leading_only: bool = False) -> tuple[str, str, bool]:
    """(partial path, mount path, is v2) for the argument and the -mount flag."""
    mount_flag = cmd.flag("mount")
    partial = arg.lstrip("/") if strip_leading_only else sanitize_path(arg)
    if mount_flag:
        mount, version = preflight(cmd, sanitize_path(mount_flag))
        if version == 2:
            partial = join_path(mount, partial)
        return partial, mount, version == 2
    mount, version = preflight(cmd, partial)
    return partial, mount, version == 2


def v1_path(cmd: Command, partial: str, mount: str) -> str:
    return join_path(mount, partial) if cmd.flag("mount") else partial


def header_for_map(title: str, data: dict[str, Any]) -> str:
    """getHeaderForMap: a ``=== Title ===`` banner as wide as the table below it."""
    longest = max((len(k) for k in data), default=0)
    return pad_equal_signs(title, longest + 4 + 5)


def pad_equal_signs(title: str, total: int) -> str:
    n = total - (len(title) + 2)
    if n <= 0:
        n = 4
    if n % 2:
        n += 1
    return f"{'=' * (n // 2)} {title} {'=' * (n // 2)}"


def output_path(cmd: Command, path: str, title: str) -> None:
    cmd.ui.info(pad_equal_signs(title, len(path)))
    cmd.ui.info(path)
    cmd.ui.info("")


def stdin_for(cmd: Command):  # type: ignore[no-untyped-def]
    return io.StringIO("") if cmd.flag("non-interactive") else sys.stdin


def versions_list(values: list[str]) -> list[str]:
    """kvParseVersionsFlags: ``-versions=1,2 -versions=3`` -> ["1", "2", "3"]."""
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


class KVCommand(Command):
    """A kv command: the preflight error is printed bare with exit code 2."""

    #: the command's flags before -mount, in the Go CLI's "Common Options" group
    common_flags: ClassVar[tuple[FlagRow, ...]] = ()

    def add_flags(self, fs: FlagSet) -> None:
        fs.add_rows(
            self.command_group("Common Options"), (*self.common_rows(), ("mount", "string", MOUNT_USAGE))
        )

    def common_rows(self) -> tuple[FlagRow, ...]:
        return self.common_flags

    def write(self, method: str, full: str, **kwargs: Any) -> Secret | int:
        """Write to ``full``: the answer to show, or the exit code when there is none (or it failed)."""
        try:
            secret = self.logical(method, full, **kwargs)
        except APIError as exc:
            return self.fail(f"Error writing data to {full}", exc)
        if secret is None:
            if self.ui.format == "table":
                self.ui.info(f"Success! Data written to: {full}")
            return 0
        return secret

    def show_written(self, full: str, secret: Secret) -> int:
        """A write's answer: the -field, the wrapped answer, or the path and the version's metadata."""
        if self.flag("field"):
            return print_raw_field(self.ui, secret, self.flag("field"))
        if secret.wrap_info is not None and secret.wrap_info["ttl"] != 0:
            return output_secret(self.ui, secret)
        if self.ui.format == "table":
            output_path(self, full, "Secret Path")
            metadata = secret.data or {}
            self.ui.info(header_for_map("Metadata", metadata))
            return output_data(self.ui, metadata)
        return output_secret(self.ui, secret)

    def main(self, argv: list[str]) -> int:
        try:
            return super().main(argv)
        except KVError as exc:
            self.ui.error(str(exc))
            return 2


class KVPutCommand(KVCommand):
    name = "kv put"
    synopsis = "Sets or updates data in the KV store"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    common_flags = (
        Flag(
            "cas",
            "int",
            "Specifies to use a Check-And-Set operation. If not set the write will be allowed. If set to 0 a write will only be allowed if the key doesn't exist. If the index is non-zero the write will only be allowed if the key's current version matches the version specified in the cas parameter.",
            -1,
        ),
    )
    usage = """
Usage: tessera kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type.

      $ tessera kv put -mount=secret foo bar=baz

  The deprecated path-like syntax can also be used, but this should be avoided
  for KV v2, as the fact that it is not actually the full API path to
  the secret (secret/data/foo) can cause confusion:

      $ tessera kv put secret/foo bar=baz

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol. For example:

      $ tessera kv put -mount=secret foo @data.json

  Or it can be read from stdin using the "-" symbol:

      $ echo "abcd1234" | tessera kv put -mount=secret foo bar=-

  To perform a Check-And-Set operation, specify the -cas flag with the
  appropriate version number corresponding to the key you want to perform
  the CAS operation on:

      $ tessera kv put -mount=secret -cas=1 foo bar=baz

  Additional flags and more advanced use cases are detailed below.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            raise UsageError(f"Not enough arguments (expected >1, got {len(args)})")
        if len(args) == 1:
            raise UsageError("Must supply data")
        self.client()
        try:
            data: Any = parse_args_data(args[1:], stdin_for(self))
        except ArgsError as exc:
            raise UsageError(f"Failed to parse K=V data: {exc}") from None
        partial, mount, v2 = resolve(self, args[0])
        if v2:
            full = add_prefix(partial, mount, "data")
            options: dict[str, Any] = {}
            if self.flag("cas") > -1:
                options["cas"] = self.flag("cas")
            data = {"data": data, "options": options}
        else:
            full = v1_path(self, partial, mount)
        secret = self.write("PUT", full, body=data, has_body=True)
        if isinstance(secret, int):
            return secret
        return self.show_written(full, secret)


class KVGetCommand(KVCommand):
    name = "kv get"
    synopsis = "Retrieves data from the KV store"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera kv get [options] KEY

  Retrieves the value from Vault's key-value store at the given key name. If no
  key exists with that name, an error is returned. If a key exists with that
  name but has no data, nothing is returned.

      $ tessera kv get -mount=secret foo

  The deprecated path-like syntax can also be used, but this should be avoided
  for KV v2, as the fact that it is not actually the full API path to
  the secret (secret/data/foo) can cause confusion:

      $ tessera kv get secret/foo

  To view the given key name at a specific version in time, specify the "-version"
  flag:

      $ tessera kv get -mount=secret -version=1 foo

  Additional flags and more advanced use cases are detailed below.
"""

    common_flags = (
        Flag("version", "int", "If passed, the value at the version number will be returned.", 0),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        self.client()
        partial, mount, v2 = resolve(self, args[0], strip_leading_only=True)
        params: list[tuple[str, str]] = []
        if v2:
            full = add_prefix(partial, mount, "data")
            if self.flag("version") > 0:
                params = [("version", str(self.flag("version")))]
        else:
            full = v1_path(self, partial, mount)
        try:
            secret = self.logical("GET", full, params=params)
        except APIError as exc:
            return self.fail(f"Error reading {full}", exc)
        if secret is None:
            self.ui.error(f"No value found at {full}")
            return 2
        field = self.flag("field")
        if field:
            if not v2:
                return print_raw_field(self.ui, secret, field)
            data = (secret.data or {}).get("data")
            if data is None:
                self.ui.error(f"No data found at {full}")
                return 2
            if field == "data":
                if isinstance(data, dict) and "data" in data:
                    return print_raw_field(self.ui, data, field)
                return print_raw_field(self.ui, secret, field)
            return print_raw_field(self.ui, data, field)
        if secret.wrap_info is not None or self.flag("format") != "table":
            return output_secret(self.ui, secret)
        print_warnings(self.ui, secret)
        if v2:
            output_path(self, full, "Secret Path")
        metadata = (secret.data or {}).get("metadata")
        if isinstance(metadata, dict):
            self.ui.info(header_for_map("Metadata", metadata))
            output_data(self.ui, metadata)
            self.ui.info("")
        data = secret.data
        if v2 and data is not None:
            data = data.get("data") if isinstance(data.get("data"), dict) else None
        if data is not None:
            self.ui.info(header_for_map("Data", data))
            output_data(self.ui, data)
        return 0


class KVDeleteCommand(KVCommand):
    name = "kv delete"
    synopsis = "Deletes versions in the KV store"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera kv delete [options] PATH

  Deletes the data for the provided version and path in the key-value store. The
  versioned data will not be fully removed, but marked as deleted and will no
  longer be returned in normal get requests.

  To delete the latest version of the key "foo":

      $ tessera kv delete -mount=secret foo

  To delete version 3 of key foo:

      $ tessera kv delete -mount=secret -versions=3 foo

  Additional flags and more advanced use cases are detailed below.
"""

    common_flags = (Flag("versions", "slice", "Specifies the version numbers to delete.", None),)

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        self.client()
        partial, mount, v2 = resolve(self, args[0])
        try:
            if v2:
                full = add_prefix(partial, mount, "data")
                if self.flag("versions"):
                    target = add_prefix(partial, mount, "delete")
                    secret = self.logical(
                        "PUT", target, body={"versions": versions_list(self.flag("versions"))}
                    )
                else:
                    secret = self.logical("DELETE", full)
            else:
                full = v1_path(self, partial, mount)
                secret = self.logical("DELETE", full)
        except APIError as exc:
            return self.fail(f"Error deleting {full}", exc)
        if secret is None:
            if self.ui.format == "table":
                self.ui.info(f"Success! Data deleted (if it existed) at: {full}")
            return 0
        if self.flag("field"):
            return print_raw_field(self.ui, secret, self.flag("field"))
        return output_secret(self.ui, secret)


class _VersionsCommand(KVCommand):
    """kv undelete / kv destroy: POST the version list to ``<mount>/<action>/<path>``."""

    action = ""
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT

    def common_rows(self) -> tuple[FlagRow, ...]:
        return (Flag("versions", "slice", f"Specifies the version numbers to {self.action}.", None),)

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        if not self.flag("versions"):
            raise UsageError(
                f'No versions provided, use the "-versions" flag to specify the version to {self.action}.'
            )
        self.client()
        if self.action == "undelete" and self.flag("mount"):
            partial, mount = sanitize_path(args[0]), sanitize_path(self.flag("mount"))
            _, version = preflight(self, mount)
            v2 = version == 2
        else:
            partial, mount, v2 = resolve(self, args[0])
        if not v2:
            self.ui.error(f"{self.action.capitalize()} not supported on KV Version 1")
            return 1
        target = add_prefix(partial, mount, self.action)
        try:
            secret = self.logical("PUT", target, body={"versions": versions_list(self.flag("versions"))})
        except APIError as exc:
            return self.fail(f"Error writing data to {target}", exc)
        if secret is None:
            if self.ui.format == "table":
                self.ui.info(f"Success! Data written to: {target}")
            return 0
        return output_secret(self.ui, secret)


class KVUndeleteCommand(_VersionsCommand):
    name = "kv undelete"
    synopsis = "Undeletes versions in the KV store"
    action = "undelete"
    usage = """
Usage: tessera kv undelete [options] KEY

  Undeletes the data for the provided version and path in the key-value store.
  This restores the data, allowing it to be returned on get requests.

  To undelete version 3 of key "foo":

      $ tessera kv undelete -mount=secret -versions=3 foo

  Additional flags and more advanced use cases are detailed below.
"""


class KVDestroyCommand(_VersionsCommand):
    name = "kv destroy"
    synopsis = "Permanently removes one or more versions in the KV store"
    action = "destroy"
    usage = """
Usage: tessera kv destroy [options] KEY

  Permanently removes the specified versions' data from the key-value store. If
  no key exists at the path, no action is taken.

  To destroy version 3 of key foo:

      $ tessera kv destroy -mount=secret -versions=3 foo

  Additional flags and more advanced use cases are detailed below.
"""


class KVListCommand(KVCommand):
    name = "kv list"
    synopsis = "List data or secrets"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera kv list [options] PATH

  Lists data from Vault's key-value store at the given path.

  List values under the key "my-app":

      $ tessera kv list -mount=secret my-app/

  Additional flags and more advanced use cases are detailed below.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            if not self.flag("mount"):
                raise UsageError(f"Not enough arguments (expected 1, got {len(args)})")
            args = [""]
        if len(args) > 1:
            raise UsageError(f"Too many arguments (expected 1, got {len(args)})")
        self.client()
        partial, mount, v2 = resolve(self, args[0])
        full = add_prefix(partial, mount, "metadata") if v2 else v1_path(self, partial, mount)
        try:
            secret = self.logical("GET", full, params=[("list", "true")])
        except APIError as exc:
            return self.fail(f"Error listing {full}", exc)
        return list_output(self, full, secret, kv=True)


__all__ = [
    "KVCommand",
    "Struct",
    "add_prefix",
    "header_for_map",
    "output_list",
    "output_path",
    "preflight",
    "resolve",
    "versions_list",
]

"""``kv patch``, ``kv rollback`` and ``kv metadata get|put|patch|delete`` (KV v2 only)."""

from __future__ import annotations

from typing import Any

from ...gocompat.durations import format_go_duration
from ..api import APIError, ResponseError
from ..args import ArgsError, parse_args_data
from ..base import FLAGS_FIELD, FLAGS_FORMAT, FLAGS_HTTP, UsageError
from ..flags import Flag, FlagRow
from ..gojson import Number
from ..output import Secret, output_data, output_secret, print_raw_field, secret_table
from .kv import KVCommand, add_prefix, header_for_map, output_path, resolve, stdin_for

MERGE_PATCH = "application/merge-patch+json"


class KVPatchCommand(KVCommand):
    name = "kv patch"
    synopsis = "Sets or updates data in the KV store without overwriting"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera kv patch [options] KEY [DATA]

  *NOTE*: This is only supported for KV v2 engine mounts.

  Writes the data to the corresponding path in the key-value store. The data can
  be of any type.

      $ tessera kv patch -mount=secret foo bar=baz

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol. For example:

      $ tessera kv patch -mount=secret foo @data.json

  To perform a Check-And-Set operation, specify the -cas flag with the
  appropriate version number corresponding to the key you want to perform
  the CAS operation on:

      $ tessera kv patch -mount=secret -cas=1 foo bar=baz

  Additional flags and more advanced use cases are detailed below.
"""

    common_flags = (
        Flag(
            "cas",
            "int",
            "Specifies to use a Check-And-Set operation. If set to 0 or not set, the patch will be allowed. If the index is non-zero the patch will only be allowed if the key's current version matches the version specified in the cas parameter.",
            0,
        ),
        Flag(
            "method",
            "string",
            'Specifies which method of patching to use. If set to "patch", then an HTTP PATCH request will be issued. If set to "rw", then a read will be performed, then a local update, followed by a remote update.',
            "",
        ),
        Flag(
            "remove-data",
            "slice",
            "Key to remove from data. To specify multiple values, specify this flag multiple times.",
            [],
        ),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            raise UsageError(f"Not enough arguments (expected >1, got {len(args)})")
        if not self.flag("remove-data") and len(args) == 1:
            raise UsageError("Must supply data")
        self.client()
        try:
            new_data = parse_args_data(args[1:], stdin_for(self))
        except ArgsError as exc:
            raise UsageError(f"Failed to parse K=V data: {exc}") from None
        partial, mount, v2 = resolve(self, args[0])
        if not v2:
            self.ui.error("K/V engine mount must be version 2 for patch support")
            return 2
        full = add_prefix(partial, mount, "data")
        for key in self.flag("remove-data"):
            new_data[key] = None
        method = self.flag("method")
        if method == "rw":
            secret, code = self._read_then_write(full, new_data)
        elif method in ("patch", ""):
            secret, code = self._merge_patch(full, new_data, fallback=method == "")
        else:
            self.ui.error(f"Unsupported method provided to -method flag: {method}")
            return 2
        if code != 0 or secret is None:
            return code
        return self.show_written(full, secret)

    def _finish(self, path: str, secret: Secret | None) -> tuple[Secret | None, int]:
        if secret is None:
            if self.ui.format == "table":
                self.ui.info(f"Success! Data written to: {path}")
            return None, 0
        if self.flag("field"):
            return None, print_raw_field(self.ui, secret, self.flag("field"))
        return secret, 0

    def _read_then_write(self, path: str, new_data: dict[str, Any]) -> tuple[Secret | None, int]:
        client = self.client()
        saved, client.output_curl = client.output_curl, False
        try:
            secret = self.logical("GET", path)
        except APIError as exc:
            self.ui.error(f"Error doing pre-read at {path}: {exc}")
            return None, 2
        finally:
            client.output_curl = saved
        if secret is None or secret.data is None:
            self.ui.error(f"No value found at {path}")
            return None, 2
        meta, data = secret.data.get("metadata"), secret.data.get("data")
        if not isinstance(meta, dict):
            self.ui.error(f"No metadata found at {path}; patch only works on existing data")
            return None, 2
        if not isinstance(data, dict):
            self.ui.error(f"No data found at {path}; patch only works on existing data")
            return None, 2
        data.update(new_data)
        try:
            out = self.logical("PUT", path, body={"data": data, "options": {"cas": meta.get("version")}})
        except APIError as exc:
            self.ui.error(f"Error writing data to {path}: {exc}")
            return None, 2
        return self._finish(path, out)

    def _merge_patch(self, path: str, new_data: dict[str, Any], fallback: bool) -> tuple[Secret | None, int]:
        options: dict[str, Any] = {}
        if self.flag("cas") > 0:
            options["cas"] = self.flag("cas")
        try:
            secret = self.logical(
                "PATCH", path, body={"data": new_data, "options": options}, content_type=MERGE_PATCH
            )
        except ResponseError as exc:
            if exc.status == 405 and fallback:
                return self._read_then_write(path, new_data)
            if exc.status == 403 and fallback:
                self.ui.warn(
                    f'Data was written to {path} but we recommend that you add the "patch" capability to '
                    "your ACL policy in order to use HTTP PATCH in the future."
                )
                return self._read_then_write(path, new_data)
            self.ui.error(f"Error writing data to {path}: {exc}")
            return None, 2
        except APIError as exc:
            self.ui.error(f"Error writing data to {path}: {exc}")
            return None, 2
        return self._finish(path, secret)


class KVRollbackCommand(KVCommand):
    name = "kv rollback"
    synopsis = "Rolls back to a previous version of data"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera kv rollback [options] KEY

  *NOTE*: This is only supported for KV v2 engine mounts.

  Restores a given previous version to the current version at the given path.
  The value is written as a new version; for instance, if the current version
  is 5 and the rollback version is 2, the data from version 2 will become
  version 6.

      $ tessera kv rollback -mount=secret -version=2 foo

  Additional flags and more advanced use cases are detailed below.
"""

    common_flags = (
        Flag("version", "int", "Specifies the version number that should be made current again.", 0),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if len(args) != 1:
            raise UsageError(f"Invalid number of arguments (expected 1, got {len(args)})")
        if not self.fs.was_set("version"):
            raise UsageError("Version flag must be specified")
        version = self.flag("version")
        if version <= 0:
            raise UsageError(f"Invalid value {version} for the version flag")
        self.client()
        partial, mount, v2 = resolve(self, args[0])
        if not v2:
            self.ui.error("K/V engine mount must be version 2 for rollback support")
            return 2
        full = add_prefix(partial, mount, "data")
        current = self._read(full, [])
        if isinstance(current, int):
            return current
        cas = current[0].get("version")
        target = self._read(full, [("version", str(version))])
        if isinstance(target, int):
            return target
        meta, data = target
        if meta.get("deletion_time"):
            self.ui.error("Cannot roll back to a version that has been deleted")
            return 2
        if meta.get("destroyed"):
            self.ui.error("Cannot roll back to a version that has been destroyed")
            return 2
        if data is None:
            self.ui.error(f"No data found at {full}; rollback only works on existing data")
            return 2
        try:
            secret = self.logical("PUT", full, body={"data": data, "options": {"cas": cas}})
        except APIError as exc:
            self.ui.error(f"Error writing data to {full}: {exc}")
            return 2
        if secret is None:
            if self.ui.format == "table":
                self.ui.info(f"Success! Data written to: {full}")
            return 0
        return output_secret(self.ui, secret)

    def _read(self, path: str, params: list[tuple[str, str]]) -> tuple[dict[str, Any], Any] | int:
        try:
            secret = self.logical("GET", path, params=params)
        except APIError as exc:
            self.ui.error(f"Error doing pre-read at {path}: {exc}")
            return 2
        if secret is None or secret.data is None:
            self.ui.error(f"No value found at {path}")
            return 2
        meta = secret.data.get("metadata")
        if not isinstance(meta, dict):
            self.ui.error(f"No metadata found at {path}; rollback only works on existing data")
            return 2
        data = secret.data.get("data")
        return meta, data if isinstance(data, dict) else None


class _MetaCommand(KVCommand):
    def meta_target(self, args: list[str]) -> str:
        """Parse the one KEY argument and return its metadata path (KV version 2 only)."""
        args = self.parse_args(args, 1)
        self.client()
        partial, mount, v2 = resolve(self, args[0])
        if not v2:
            raise UsageError("Metadata not supported on KV Version 1")
        return add_prefix(partial, mount, "metadata")


class KVMetadataGetCommand(_MetaCommand):
    name = "kv metadata get"
    synopsis = "Retrieves key metadata from the KV store"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera kv metadata get [options] KEY

  Retrieves the metadata from Vault's key-value store at the given key name. If
  no key exists with that name, an error is returned.

      $ tessera kv metadata get -mount=secret foo

  Additional flags and more advanced use cases are detailed below.
"""

    def run(self, args: list[str]) -> int:
        full = self.meta_target(args)
        try:
            secret = self.logical("GET", full)
        except APIError as exc:
            return self.fail(f"Error reading {full}", exc)
        if secret is None:
            self.ui.error(f"No value found at {full}")
            return 2
        if secret.wrap_info is not None or self.flag("format") != "table":
            return output_secret(self.ui, secret)
        data = secret.data or {}
        versions = data.get("versions")
        if not isinstance(versions, dict):
            self.ui.error(f"No value found at {full}")
            output_secret(self.ui, secret)
            return 2
        del data["versions"]
        output_path(self, full, "Metadata Path")
        self.ui.info(header_for_map("Metadata", data))
        secret_table(self.ui, secret)
        try:
            numbers = sorted(int(k) for k in versions)
        except ValueError:
            self.ui.error("Error parsing version")
            return 2
        for v in numbers:
            entry = versions[str(v)]
            self.ui.info("\n" + header_for_map(f"Version {v}", entry))
            output_data(self.ui, entry)
        return 0


_META_FLAGS: tuple[FlagRow, ...] = (
    Flag(
        "max-versions",
        "int",
        "The number of versions to keep. If not set, the backend's configured max version is used.",
        -1,
    ),
    Flag(
        "cas-required",
        "boolptr",
        "If true the key will require the cas parameter to be set on all write requests. If false, the backend's configuration will be used.",
        None,
    ),
    Flag(
        "delete-version-after",
        "duration",
        'Specifies the length of time before a version is deleted. If not set, the backend\'s configured delete-version-after is used. Cannot be greater than the backend\'s delete-version-after. The delete-version-after is specified as a numeric string with a suffix like "30s" or "3h25m19s".',
        -1,
    ),
    Flag(
        "custom-metadata",
        "map",
        "Specifies arbitrary version-agnostic key=value metadata meant to describe a secret.This can be specified multiple times to add multiple pieces of metadata.",
        {},
    ),
)
_REMOVE_CUSTOM_METADATA = Flag(
    "remove-custom-metadata",
    "slice",
    "Key to remove from custom metadata. To specify multiple values, specify this flag multiple times.",
    [],
)


class KVMetadataPutCommand(_MetaCommand):
    name = "kv metadata put"
    synopsis = "Sets or updates key settings in the KV store"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    method = "PUT"
    usage = """
Usage: tessera kv metadata put [options] KEY

  This command can be used to create a blank key in the key-value store or to
  update key configuration for a specified key.

  Create a key in the key-value store with no data:

      $ tessera kv metadata put -mount=secret foo

  Set a max versions setting on the key:

      $ tessera kv metadata put -mount=secret -max-versions=5 foo

  Require Check-and-Set for this key:

      $ tessera kv metadata put -mount=secret -cas-required foo

  Additional flags and more advanced use cases are detailed below.
"""

    def common_rows(self) -> tuple[FlagRow, ...]:
        return (*_META_FLAGS, _REMOVE_CUSTOM_METADATA) if self.method == "PATCH" else _META_FLAGS

    def run(self, args: list[str]) -> int:
        full = self.meta_target(args)
        data: dict[str, Any] = {}
        if self.flag("max-versions") >= 0:
            data["max_versions"] = self.flag("max-versions")
        if self.fs.was_set("cas-required"):
            data["cas_required"] = bool(self.flag("cas-required"))
        if self.flag("delete-version-after") >= 0:
            data["delete_version_after"] = format_go_duration(self.flag("delete-version-after"))
        kwargs: dict[str, Any] = {}
        if self.method == "PATCH":
            custom: dict[str, Any] = dict(self.flag("custom-metadata") or {})
            for key in self.flag("remove-custom-metadata"):
                custom[key] = None
            data["custom_metadata"] = custom
            kwargs["content_type"] = MERGE_PATCH
        elif self.flag("custom-metadata"):
            data["custom_metadata"] = self.flag("custom-metadata")
        secret = self.write(self.method, full, body=data, **kwargs)
        return secret if isinstance(secret, int) else output_secret(self.ui, secret)


class KVMetadataPatchCommand(KVMetadataPutCommand):
    name = "kv metadata patch"
    synopsis = "Patches key settings in the KV store"
    method = "PATCH"
    usage = """
Usage: tessera kv metadata patch [options] KEY

  This command can be used to create a blank key in the key-value store or to
  update key configuration for a specified key.

  Set a max versions setting on the key:

      $ tessera kv metadata patch -mount=secret -max-versions=5 foo

  Additional flags and more advanced use cases are detailed below.
"""


class KVMetadataDeleteCommand(_MetaCommand):
    name = "kv metadata delete"
    synopsis = "Deletes all versions and metadata for a key in the KV store"
    flag_bits = FLAGS_HTTP
    usage = """
Usage: tessera kv metadata delete [options] PATH

  Deletes all versions and metadata for the provided key.

      $ tessera kv metadata delete -mount=secret foo

  Additional flags and more advanced use cases are detailed below.
"""

    def run(self, args: list[str]) -> int:
        full = self.meta_target(args)
        try:
            self.logical("DELETE", full)
        except APIError as exc:
            return self.fail(f"Error deleting {full}", exc)
        self.ui.info(f"Success! Data deleted (if it existed) at: {full}")
        return 0


__all__ = ["Number"]

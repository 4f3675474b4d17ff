"""sys/mounts*, sys/auth*, sys/remount: enabling, reading, tuning, moving and disabling mounts.

Error texts and checks follow OpenBao's logical_system.go and mount.go in the same order, because
clients (the CLI, hvac, Terraform) surface the first failure verbatim.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..gocompat.durations import DurationError, parse_duration_second
from ..routing.mounts import MountConfig, MountEntry
from .mount_tune import (
    BUILTIN_VERSION,
    LISTING_VISIBILITY,
    TOKEN_TYPES,
    apply_tune,
    canonical_version,
    tune_view,
)

if TYPE_CHECKING:
    from ..core.core import Core

log = logging.getLogger("tessera.system.mounts")

# Paths no secrets engine may be mounted under, moved from or unmounted (mount.go protectedMounts).
PROTECTED_MOUNTS = ("audit/", "auth/", "sys/", "cubbyhole/", "identity/")
# Mounts whose tuning is limited to the audit key lists (mount.go untunableMounts).
UNTUNABLE_MOUNTS = ("cubbyhole/", "sys/", "audit/", "identity/")
UNTUNABLE_ALLOWED = ("path", "audit_non_hmac_request_keys", "audit_non_hmac_response_keys")
# Types that exist once, created at initialisation (mount.go singletonMounts).
SINGLETON_TYPES = frozenset(
    {"cubbyhole", "ns_cubbyhole", "system", "ns_system", "token", "ns_token", "identity", "ns_identity"}
)
LIST_CONFIG_KEYS = (
    "audit_non_hmac_request_keys",
    "audit_non_hmac_response_keys",
    "passthrough_request_headers",
    "allowed_response_headers",
)
REMOUNT_WARNING = (
    "Mount move has been queued. Progress will be reported in Tessera's server log, "
    "tagged with the returned migration_id"
)


def _migrations(core: Core) -> dict[str, dict[str, str]]:
    """Mount moves by migration ID, kept on the Core (in memory, as in Vault): outlives sys
    backend rebuilds."""
    return core.mount_migrations


def sanitize_path(path: str) -> str:
    """sanitizePath: a trailing slash added, one leading slash removed."""
    if not path.endswith("/"):
        path += "/"
    return path.removeprefix("/")


def _type_error() -> ErrorResponse:
    return ErrorResponse("unable to convert given mount config information")


def _config_string(raw: dict[str, Any], key: str) -> str:
    """A string config value; JSON numbers count as strings (Vault decodes with UseNumber)."""
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _type_error()
    return value if isinstance(value, str) else str(value)


def _config_list(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")] if value else []
    if not isinstance(value, list) or any(isinstance(v, (bool, dict, list)) or v is None for v in value):
        raise _type_error()
    return [v if isinstance(v, str) else str(v) for v in value]


def _parse_ttl(text: str, what: str) -> int:
    if text in ("", "system"):
        return 0
    try:
        return parse_duration_second(text)
    except DurationError as exc:
        raise ErrorResponse(f"unable to parse {what} TTL of {text}: {exc}") from None


def parse_mount_config(core: Core, raw: Any, *, auth: bool) -> tuple[MountConfig, dict[str, str]]:
    """The ``config`` map of an enable request as a MountConfig (+ plugin_name/plugin_version).

    An auth method's refusal names its "auth config"; user lockout is tuned, not set when enabling
    (the reference cannot decode a non-empty ``user_lockout_config`` there and refuses it)."""
    try:
        if isinstance(raw, dict) and raw.get("user_lockout_config"):
            raise _type_error()
        return _parse_mount_config(core, raw, auth=auth)
    except ErrorResponse as exc:
        if auth and exc.message == _type_error().message:
            raise ErrorResponse("unable to convert given auth config information") from None
        raise


def _parse_mount_config(core: Core, raw: Any, *, auth: bool) -> tuple[MountConfig, dict[str, str]]:
    raw = raw or {}
    config = MountConfig()
    default_text = _config_string(raw, "default_lease_ttl")
    max_text = _config_string(raw, "max_lease_ttl")
    force_no_cache = raw.get("force_no_cache")
    if force_no_cache is not None and not isinstance(force_no_cache, bool):
        raise _type_error()
    lists = {key: _config_list(raw, key) for key in LIST_CONFIG_KEYS}
    visibility = _config_string(raw, "listing_visibility")
    token_type = _config_string(raw, "token_type")
    extra = {k: _config_string(raw, k) for k in ("plugin_name", "plugin_version")}
    config.default_lease_ttl = _parse_ttl(default_text, "default")
    config.max_lease_ttl = _parse_ttl(max_text, "max")
    if config.max_lease_ttl and config.default_lease_ttl > config.max_lease_ttl:
        raise ErrorResponse("given default lease TTL greater than given max lease TTL")
    system_max = core.config.max_lease_ttl
    if config.default_lease_ttl > system_max and not config.max_lease_ttl:
        raise ErrorResponse(f"given default lease TTL greater than system max lease TTL of {system_max}")
    if auth:
        if token_type not in TOKEN_TYPES:
            raise ErrorResponse("invalid value for 'token_type'")
        config.token_type = TOKEN_TYPES[token_type]
    config.force_no_cache = bool(force_no_cache)
    config.listing_visibility = visibility
    for key, value in lists.items():
        setattr(config, key, value)
    return config, extra


def _new_entry(
    table: str, path: str, mtype: str, data: FieldData, config: MountConfig, options: dict[str, str] | None
) -> MountEntry:
    return MountEntry.new(
        table,
        path,
        mtype,
        description=data.get("description"),
        config=config,
        options=options,
        local=data.get("local"),
        seal_wrap=data.get("seal_wrap"),
        external_entropy_access=data.get("external_entropy_access"),
    )


def _options(data: FieldData) -> dict[str, str] | None:
    """Absent options read as ``{}``, an explicit JSON null as null (what Vault stores and shows)."""
    if not data.has("options"):
        return {}
    return data.get("options")  # type: ignore[no-any-return]


def _check_plugin_version(version: str, mtype: str, kind: str) -> None:
    """validateVersion: only the builtin version may be asked for (and is not stored)."""
    if version and canonical_version(version) != BUILTIN_VERSION:
        raise ErrorResponse(f"cannot select non-builtin version of {kind} plugin {mtype}")


class MountHandlers:
    """The handlers of sys/mounts, sys/auth and sys/remount, over one Core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def tables(self, auth: bool) -> list[MountEntry]:
        return self.core.auth_mounts if auth else self.core.mounts

    def check_conflicts(self, entry: MountEntry) -> None:
        for existing in self.tables(entry.table == "auth"):
            if existing.path.startswith(entry.path) or entry.path.startswith(existing.path):
                raise ErrorResponse(f"path is already in use at {existing.path}")
        match = self.core.router.conflicts(entry.route_prefix)
        if match:
            raise ErrorResponse(f"existing mount at {match}")

    # -- listing and reading ----------------------------------------------------------------
    def list_mounts(self, req: Request, data: FieldData) -> Response:
        return Response(data={e.path: e.to_api() for e in self.core.mounts})

    def list_auth(self, req: Request, data: FieldData) -> Response:
        return Response(data={e.path: e.to_api() for e in self.core.auth_mounts})

    def read_mount(self, req: Request, data: FieldData) -> Response:
        path = sanitize_path(data.get("path"))
        route = self.core.router.match(path)
        if route is None:
            raise ErrorResponse(f"No secret engine mount at {path}")
        return Response(data=route.entry.to_api())

    def read_auth(self, req: Request, data: FieldData) -> Response:
        path = sanitize_path(data.get("path"))
        entry = self.core.find_mount("auth", path)
        if entry is None:
            raise ErrorResponse(f"No auth engine at {path}")
        return Response(data=entry.to_api())

    # -- enabling ---------------------------------------------------------------------------
    def _requested(
        self, data: FieldData, *, auth: bool
    ) -> tuple[str, str, dict[str, str] | None, MountConfig, dict[str, str]]:
        """An enable request's path, type (a plugin's own name), options, config and plugin fields."""
        path = sanitize_path(data.get("path"))
        mtype = data.get("type")
        options = _options(data)
        config, extra = parse_mount_config(self.core, data.get("config"), auth=auth)
        if not mtype:
            raise ErrorResponse("backend type must be specified as a string")
        if mtype == "plugin":
            mtype = extra["plugin_name"] or data.get("plugin_name")
            if not mtype:
                raise ErrorResponse("plugin_name must be provided for plugin backend")
        return path, mtype, options, config, extra

    def enable_mount(self, req: Request, data: FieldData) -> Response | None:
        path, mtype, options, config, extra = self._requested(data, auth=False)
        if mtype in ("kv-v1", "kv-v2"):
            options = dict(options or {})
            options["version"] = mtype[-1]
            mtype = "kv"
        elif mtype != "kv" and options and options.get("version"):
            raise ErrorResponse(f'secrets engine "{mtype}" does not allow setting a version')
        _check_plugin_version(extra["plugin_version"], mtype, "secrets")
        if config.listing_visibility not in LISTING_VISIBILITY:
            raise ErrorResponse(f"invalid listing_visibility {config.listing_visibility}")
        entry = _new_entry("secret", path, mtype, data, config, options)
        with self.core.state_lock:
            if any(path.startswith(p) for p in PROTECTED_MOUNTS):
                raise ErrorResponse(f'cannot mount "{path}"')
            if mtype in SINGLETON_TYPES:
                raise ErrorResponse(f'mount type of "{mtype}" is not mountable')
            self.check_conflicts(entry)
            if not self.core.backend_exists("secret", mtype):
                raise ErrorResponse(f"plugin not found in the catalog: {mtype}")
            self.core.mount(entry)
        return None

    def enable_auth(self, req: Request, data: FieldData) -> Response | None:
        path, mtype, options, config, extra = self._requested(data, auth=True)
        _check_plugin_version(extra["plugin_version"], mtype, "auth")
        if options and options.get("version"):
            raise ErrorResponse(f'auth method "{mtype}" does not allow setting a version')
        if config.listing_visibility not in LISTING_VISIBILITY:
            raise ErrorResponse(f"invalid listing_visibility {config.listing_visibility}")
        if mtype in ("token", "ns_token"):
            raise ErrorResponse("token credential backend cannot be instantiated")
        if path == "/":
            raise ErrorResponse("backend path must be specified")
        entry = _new_entry("auth", path, mtype, data, config, options)
        with self.core.state_lock:
            self.check_conflicts(entry)
            if not self.core.backend_exists("auth", mtype):
                raise ErrorResponse(f"plugin not found in the catalog: {mtype}")
            self.core.mount(entry)
        return None

    # -- disabling --------------------------------------------------------------------------
    def disable_mount(self, req: Request, data: FieldData) -> Response | None:
        path = sanitize_path(data.get("path"))
        with self.core.state_lock:
            route = self.core.router.match(path)
            # Success when nothing is mounted there, so the endpoint does not reveal mounts.
            if route is None or route.entry.route_prefix != path:
                return None
            if any(path.startswith(p) for p in PROTECTED_MOUNTS):
                raise ErrorResponse(f'cannot unmount "{path}"')
            self.core.unmount(route.entry)
        return None

    def disable_auth(self, req: Request, data: FieldData) -> Response | None:
        path = sanitize_path(data.get("path"))
        with self.core.state_lock:
            route = self.core.router.match("auth/" + path)
            if route is None or route.entry.route_prefix != "auth/" + path:
                return None
            if path == "token/":
                raise ErrorResponse("token credential backend cannot be disabled")
            self.core.unmount(route.entry)
        return None

    # -- tuning -----------------------------------------------------------------------------
    def tune_read_common(self, path: str) -> Response:
        path = sanitize_path(path)
        route = self.core.router.match(path)
        if route is None:
            raise ErrorResponse(f'cannot fetch sysview for path "{path}"')
        return Response(data=tune_view(self.core, route.entry))

    def tune_write_common(self, path: str, data: FieldData, is_auth: bool) -> Response | None:
        path = sanitize_path(path)
        untunable = path.startswith(UNTUNABLE_MOUNTS)
        if untunable:
            for name in data.raw:
                if name in data.schema and name not in UNTUNABLE_ALLOWED:
                    raise ErrorResponse(f"cannot tune parameter {name} of {path}")
        with self.core.state_lock:
            route = self.core.router.match(path)
            if route is None:
                raise ErrorResponse(f'tune of path "{path}" failed: no mount entry found')
            return apply_tune(self.core, route, data, is_auth=is_auth, untunable=untunable)

    def mount_tune_read(self, req: Request, data: FieldData) -> Response:
        return self.tune_read_common(data.get("path"))

    def auth_tune_read(self, req: Request, data: FieldData) -> Response:
        return self.tune_read_common("auth/" + data.get("path"))

    def mount_tune_write(self, req: Request, data: FieldData) -> Response | None:
        path = data.get("path")
        return self.tune_write_common(path, data, path.startswith("auth/"))

    def auth_tune_write(self, req: Request, data: FieldData) -> Response | None:
        return self.tune_write_common("auth/" + data.get("path"), data, True)

    # -- moving -----------------------------------------------------------------------------
    def remount(self, req: Request, data: FieldData) -> Response:
        src, dst = data.get("from"), data.get("to")
        if not src or not dst:
            raise ErrorResponse("both 'from' and 'to' path must be specified as a string")
        if src != src.strip(" "):
            raise ErrorResponse("'from' path cannot contain trailing whitespace")
        if dst != dst.strip(" "):
            raise ErrorResponse("'to' path cannot contain trailing whitespace")
        src_path, dst_path = sanitize_path(src), sanitize_path(dst)
        if dst_path == "/":
            raise ErrorResponse(f'invalid destination mount path "{dst}"')
        if src_path.startswith("auth/"):
            if not dst_path.startswith("auth/"):
                raise ErrorResponse(f'cannot remount auth mount to non-auth mount "{dst_path}"')
            if src_path.startswith("auth/token"):
                raise ErrorResponse(f'cannot remount "{src_path}"')
            if dst_path.startswith("auth/token"):
                raise ErrorResponse(f'cannot remount to destination "{dst_path}"')
        else:
            for p in PROTECTED_MOUNTS:
                if src_path.startswith(p):
                    raise ErrorResponse(f'cannot remount "{src_path}"')
                if dst_path.startswith(p):
                    raise ErrorResponse(f"cannot remount to destination {dst_path}")
        route = self.core.router.match(src_path)
        if route is None:
            raise ErrorResponse(f'no matching mount at "{src_path}"')
        match = self.core.router.conflicts(dst_path)
        if match:
            raise ErrorResponse(f'path already in use at "{match}"')
        migration_id = str(uuid.uuid4())
        migrations = _migrations(self.core)
        migrations[migration_id] = {
            "source_mount": src_path,
            "target_mount": dst_path,
            "status": "in-progress",
        }
        # Vault moves in the background and answers at once; a move here is only a mount-table
        # update, so it is done before answering and the first status poll sees the outcome.
        try:
            move_mount(self.core, route.entry, src_path, dst_path)
            migrations[migration_id]["status"] = "success"
        except Exception:
            log.exception("mount move %s failed (migration_id %s)", src_path, migration_id)
            migrations[migration_id]["status"] = "failure"
        return Response(data={"migration_id": migration_id}, warnings=[REMOUNT_WARNING])

    def remount_status(self, req: Request, data: FieldData) -> Response | None:
        migration_id = data.get("migration_id")
        if not migration_id:
            raise ErrorResponse("migrationID must be specified")
        info = _migrations(self.core).get(migration_id)
        if info is None:
            return None
        return Response(data={"migration_id": migration_id, "migration_info": dict(info)})


_PATH_FIELD = Field(FieldType.STRING, "The path of the mount.")
_ENABLE_FIELDS = {
    "path": _PATH_FIELD,
    "type": Field(FieldType.STRING, 'The type of the backend. Example: "kv"'),
    "description": Field(FieldType.STRING, "User-friendly description for this mount."),
    "config": Field(
        FieldType.MAP, "Configuration for this mount, such as default_lease_ttl and max_lease_ttl."
    ),
    "local": Field(FieldType.BOOL, "Mark the mount as a local mount (not replicated).", default=False),
    "seal_wrap": Field(FieldType.BOOL, "Whether to turn on seal wrapping for the mount.", default=False),
    "external_entropy_access": Field(
        FieldType.BOOL, "Whether to give the mount access to external entropy.", default=False
    ),
    "plugin_name": Field(FieldType.STRING, "Name of the plugin to mount based from the name registered."),
    "options": Field(FieldType.KV_PAIRS, "Backend-specific options, e.g. the KV version."),
    "plugin_version": Field(FieldType.STRING, "The semantic version of the plugin to use."),
}
_TUNE_FIELDS = {
    "path": _PATH_FIELD,
    "default_lease_ttl": Field(FieldType.STRING, "The default lease TTL for this mount."),
    "max_lease_ttl": Field(FieldType.STRING, "The max lease TTL for this mount."),
    "description": Field(FieldType.STRING, "User-friendly description for this mount."),
    "audit_non_hmac_request_keys": Field(
        FieldType.COMMA_STRING_SLICE, "Request keys audit devices do not HMAC."
    ),
    "audit_non_hmac_response_keys": Field(
        FieldType.COMMA_STRING_SLICE, "Response keys audit devices do not HMAC."
    ),
    "options": Field(FieldType.KV_PAIRS, "Backend-specific options, e.g. the KV version."),
    "listing_visibility": Field(
        FieldType.STRING, "Whether to show this mount in the UI listing: '', hidden, unauth."
    ),
    "passthrough_request_headers": Field(
        FieldType.COMMA_STRING_SLICE, "Headers passed through to the backend."
    ),
    "allowed_response_headers": Field(
        FieldType.COMMA_STRING_SLICE, "Headers the backend may set on responses."
    ),
    "token_type": Field(FieldType.STRING, "The type of tokens an auth mount issues."),
    "user_lockout_config": Field(FieldType.MAP, "User lockout settings of an auth mount (core/lockout.py)."),
    "plugin_version": Field(FieldType.STRING, "The semantic version of the plugin to use."),
}


def mount_paths(core: Core) -> list[Path]:
    h = MountHandlers(core)
    return [
        Path(
            r"mounts$",
            operations={Operation.READ: h.list_mounts},
            synopsis="List the mounted secrets engines.",
        ),
        Path(
            r"mounts/(?P<path>.+?)/tune$",
            fields=_TUNE_FIELDS,
            operations={Operation.READ: h.mount_tune_read, Operation.UPDATE: h.mount_tune_write},
            synopsis="Tune backend configuration parameters for this mount.",
        ),
        Path(
            r"mounts/(?P<path>.+?)",
            fields=_ENABLE_FIELDS,
            operations={
                Operation.READ: h.read_mount,
                Operation.UPDATE: h.enable_mount,
                Operation.DELETE: h.disable_mount,
            },
            synopsis="Mount a new backend at a new path.",
        ),
        Path(
            r"auth$",
            operations={Operation.READ: h.list_auth},
            synopsis="List the currently enabled credential backends.",
        ),
        Path(
            r"auth/(?P<path>.+?)/tune$",
            fields=_TUNE_FIELDS,
            operations={Operation.READ: h.auth_tune_read, Operation.UPDATE: h.auth_tune_write},
            synopsis="Tune the configuration parameters for an auth path.",
        ),
        Path(
            r"auth/(?P<path>.+)",
            sudo=True,
            fields=_ENABLE_FIELDS,
            operations={
                Operation.READ: h.read_auth,
                Operation.UPDATE: h.enable_auth,
                Operation.DELETE: h.disable_auth,
            },
            synopsis="Enable a new credential backend with a name.",
        ),
        Path(
            r"remount",
            sudo=True,
            fields={
                "from": Field(FieldType.STRING, "The previous mount point."),
                "to": Field(FieldType.STRING, "The new mount point."),
            },
            operations={Operation.UPDATE: h.remount},
            synopsis="Move the mount point of an already-mounted backend.",
        ),
        Path(
            r"remount/status/(?P<migration_id>.+?)$",
            fields={"migration_id": Field(FieldType.STRING, "The ID of the migration operation.")},
            operations={Operation.READ: h.remount_status},
            synopsis="Check the status of a mount move operation.",
        ),
    ]


def move_mount(core: Core, entry: MountEntry, src: str, dst: str) -> None:
    """Revoke the leases under the old path, then re-route the mount (its storage stays put)."""
    if core.lease_manager is not None:
        core.lease_manager.revoke_prefix(src, force=True)
    if entry.route_prefix != src:
        raise ErrorResponse(f'no mount entry found at "{src}"')
    new_path = dst.removeprefix("auth/") if entry.table == "auth" else dst
    with core.state_lock:
        match = core.router.conflicts(dst)
        if match:
            raise ErrorResponse(f'path in use at "{match}"')
        core.remount(entry, new_path)

"""The database secrets engine: dynamic PostgreSQL credentials, each with a lease.

``config/<name>`` holds a connection (its password stays behind the barrier and is never read back),
``roles/<name>`` the SQL that creates, renews and revokes a user, and ``creds/<role>`` mints a new
login whose lease the expiration manager revokes: by TTL, with its token, or on demand.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ...framework import (
    Backend,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    NotFound,
    Operation,
    Path,
    Request,
    Response,
    Secret,
    SecretType,
    generic_name,
)
from .postgres import PLUGIN_NAME, Connection, PluginError, PostgreSQL, generate_password, generate_username

if TYPE_CHECKING:
    from ...core.core import Core
    from ...routing.mounts import MountEntry

SECRET_TYPE = "creds"


def _plugin(cfg: dict[str, Any]) -> PostgreSQL:
    details = cfg["connection_details"]
    return PostgreSQL(
        Connection(
            connection_url=details.get("connection_url", ""),
            username=details.get("username", ""),
            password=details.get("password", ""),
        )
    )


class DatabaseHandlers:
    """The handlers of one mount: connections, roles, credentials and their leases."""

    def __init__(self, core: Core, entry: MountEntry) -> None:
        self.core = core
        self.entry = entry

    def load_config(self, req: Request, name: str) -> dict[str, Any] | None:
        assert req.storage is not None
        return req.storage.get_json("config/" + name)

    def load_role(self, req: Request, name: str) -> dict[str, Any] | None:
        assert req.storage is not None
        return req.storage.get_json("role/" + name)

    # -- config ----------------------------------------------------------------------
    def config_exists(self, req: Request, data: FieldData) -> bool:
        return self.load_config(req, data.get("name")) is not None

    def config_write(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        name = data.get("name")
        existing = self.load_config(req, name) or {}
        plugin = data.get("plugin_name") or existing.get("plugin_name", "")
        if not plugin:
            raise ErrorResponse("empty plugin name")
        if plugin not in (PLUGIN_NAME, "postgresql", "postgres"):
            raise ErrorResponse(
                f"error creating database object: invalid database version: plugin not found in the catalog: {plugin}"
            )
        details = dict(existing.get("connection_details", {}))
        for key in ("connection_url", "username", "password"):
            if data.has(key):
                details[key] = data.get(key)
        if data.has("max_open_connections"):
            details["max_open_connections"] = data.get("max_open_connections")
        cfg = {
            "plugin_name": PLUGIN_NAME,
            "plugin_version": "",
            "connection_details": details,
            "allowed_roles": data.get("allowed_roles")
            if data.has("allowed_roles")
            else existing.get("allowed_roles", []),
            "root_credentials_rotate_statements": data.get("root_rotation_statements")
            if data.has("root_rotation_statements")
            else existing.get("root_credentials_rotate_statements", []),
            "password_policy": data.get("password_policy")
            if data.has("password_policy")
            else existing.get("password_policy", ""),
            "verify_connection": data.get("verify_connection"),
        }
        if not details.get("connection_url"):
            raise ErrorResponse("error creating database object: connection_url cannot be empty")
        if cfg["verify_connection"]:
            try:
                _plugin(cfg).verify()
            except PluginError as exc:
                raise ErrorResponse(
                    f"error creating database object: error verifying connection: {exc}"
                ) from None
        req.storage.put_json("config/" + name, cfg)
        return None

    def config_read(self, req: Request, data: FieldData) -> Response | None:
        cfg = self.load_config(req, data.get("name"))
        if cfg is None:
            return None
        details = {k: v for k, v in cfg["connection_details"].items() if k != "password"}
        return Response(
            data={
                "allowed_roles": cfg.get("allowed_roles", []),
                "connection_details": details,
                "password_policy": cfg.get("password_policy", ""),
                "plugin_name": cfg["plugin_name"],
                "plugin_version": "",
                "root_credentials_rotate_statements": cfg.get("root_credentials_rotate_statements", []),
                "verify_connection": cfg.get("verify_connection", True),
            }
        )

    def config_delete(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        req.storage.delete("config/" + data.get("name"))
        return None

    def config_list(self, req: Request, data: FieldData) -> Response:
        assert req.storage is not None
        return Response(data={"keys": req.storage.list("config/")})

    def rotate_root(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        name = data.get("name")
        cfg = self.load_config(req, name)
        if cfg is None:
            raise ErrorResponse(
                "failed to find entry for connection with name: " + repr(name).replace("'", '"')
            )
        if not cfg["connection_details"].get("username"):
            raise ErrorResponse("unable to rotate root credentials: no username in configuration")
        new_password = generate_password()
        try:
            _plugin(cfg).rotate_root(cfg.get("root_credentials_rotate_statements", []), new_password)
        except PluginError as exc:
            raise ErrorResponse(f"failed to update user: {exc}") from None
        cfg["connection_details"]["password"] = new_password
        req.storage.put_json("config/" + name, cfg)
        return None

    def reset(self, req: Request, data: FieldData) -> Response | None:
        if self.load_config(req, data.get("name")) is None:
            raise ErrorResponse("failed to find entry for connection")
        return None

    # -- roles -----------------------------------------------------------------------
    def role_exists(self, req: Request, data: FieldData) -> bool:
        return self.load_role(req, data.get("name")) is not None

    def role_write(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        name = data.get("name")
        existing = self.load_role(req, name)
        role = existing or {
            "db_name": "",
            "creation_statements": [],
            "revocation_statements": [],
            "rollback_statements": [],
            "renew_statements": [],
            "default_ttl": 0,
            "max_ttl": 0,
            "credential_type": "password",
        }
        for key in (
            "db_name",
            "creation_statements",
            "revocation_statements",
            "rollback_statements",
            "renew_statements",
            "default_ttl",
            "max_ttl",
        ):
            if data.has(key):
                role[key] = data.get(key)
        if not role["db_name"]:
            raise ErrorResponse("empty database name attribute")
        if not role["creation_statements"]:
            raise ErrorResponse("creation statements are required")
        if role["max_ttl"] and role["default_ttl"] > role["max_ttl"]:
            raise ErrorResponse("ttl cannot be greater than max_ttl")
        req.storage.put_json("role/" + name, role)
        return None

    def role_read(self, req: Request, data: FieldData) -> Response | None:
        role = self.load_role(req, data.get("name"))
        if role is None:
            return None
        out = dict(role)
        out.setdefault("credential_config", {})
        return Response(data=out)

    def role_delete(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        req.storage.delete("role/" + data.get("name"))
        return None

    def role_list(self, req: Request, data: FieldData) -> Response:
        assert req.storage is not None
        return Response(data={"keys": req.storage.list("role/")})

    # -- credentials -----------------------------------------------------------------
    def creds(self, req: Request, data: FieldData) -> Response:
        name = data.get("name")
        role = self.load_role(req, name)
        if role is None:
            raise ErrorResponse(f"unknown role: {name}")
        cfg = self.load_config(req, role["db_name"])
        if cfg is None:
            raise ErrorResponse(f'failed to find entry for connection with name: "{role["db_name"]}"')
        allowed = cfg.get("allowed_roles", [])
        if not allowed or ("*" not in allowed and name not in allowed):
            raise ErrorResponse(f'"{name}" is not an allowed role')
        default, maximum = self.core.mount_ttls(self.entry)
        ttl = role.get("default_ttl") or default
        max_ttl = role.get("max_ttl") or maximum
        ttl = min(ttl, max_ttl) if max_ttl else ttl
        token = req.token_entry
        display = (token.display_name if token is not None else "") or "token"
        username = generate_username(display, name)
        password = generate_password()
        try:
            _plugin(cfg).new_user(role["creation_statements"], username, password, time.time() + ttl)
        except PluginError as exc:
            raise ErrorResponse(f"failed to create user: {exc}") from None
        return Response(
            data={"username": username, "password": password},
            secret=Secret(
                ttl=ttl,
                max_ttl=max_ttl,
                renewable=True,
                internal_data={
                    "secret_type": SECRET_TYPE,
                    "username": username,
                    "role": name,
                    "db_name": role["db_name"],
                },
            ),
        )

    def secret_revoke(self, req: Request, internal: dict[str, Any]) -> Response | None:
        assert req.storage is not None
        cfg = req.storage.get_json("config/" + internal["db_name"])
        if cfg is None:
            raise PluginError(f"could not find database connection {internal['db_name']!r}")
        role = req.storage.get_json("role/" + internal["role"]) or {}
        _plugin(cfg).revoke_user(role.get("revocation_statements", []), internal["username"])
        return None

    def secret_renew(self, req: Request, internal: dict[str, Any]) -> Response | None:
        assert req.storage is not None
        role = req.storage.get_json("role/" + internal["role"])
        if role is None:
            raise ErrorResponse(f"error during renew: could not find role with name: {internal['role']}")
        cfg = req.storage.get_json("config/" + internal["db_name"])
        if cfg is None:
            raise ErrorResponse("could not find database connection")
        ttl = int(req.data.get("ttl", 0))
        if role.get("max_ttl"):
            ttl = min(ttl, int(role["max_ttl"]))
        try:
            _plugin(cfg).renew_user(role.get("renew_statements", []), internal["username"], time.time() + ttl)
        except PluginError as exc:
            raise ErrorResponse(f"failed to renew user: {exc}") from None
        return Response(secret=Secret(ttl=ttl))


_NAME = {"name": Field(FieldType.STRING, "Name of this database connection or role.")}
_STATEMENTS = Field(
    FieldType.STRING_SLICE, "SQL statements; {{name}}, {{password}} and {{expiration}} are filled in."
)

_CONFIG_FIELDS = {
    **_NAME,
    "plugin_name": Field(FieldType.STRING, "The name of a builtin or previously registered plugin."),
    "verify_connection": Field(FieldType.BOOL, "Verify the connection during initialization.", default=True),
    "allowed_roles": Field(
        FieldType.COMMA_STRING_SLICE, "Roles allowed to use this connection ('*' for all)."
    ),
    "root_rotation_statements": Field(
        FieldType.COMMA_STRING_SLICE, "Statements to rotate the root user's password."
    ),
    "password_policy": Field(FieldType.STRING, "Password policy to use when generating passwords."),
    "connection_url": Field(FieldType.STRING, "Connection string with {{username}} and {{password}}."),
    "username": Field(FieldType.STRING, "The root user name."),
    "password": Field(FieldType.STRING, "The root user's password."),
    "max_open_connections": Field(FieldType.INT, "Maximum open connections."),
    "max_idle_connections": Field(FieldType.INT, "Maximum idle connections."),
    "max_connection_lifetime": Field(FieldType.DURATION, "Maximum connection lifetime."),
    "username_template": Field(FieldType.STRING, "Template for generated user names."),
}

_ROLE_FIELDS = {
    **_NAME,
    "db_name": Field(FieldType.STRING, "Name of the database connection this role uses."),
    "creation_statements": _STATEMENTS,
    "revocation_statements": _STATEMENTS,
    "rollback_statements": _STATEMENTS,
    "renew_statements": _STATEMENTS,
    "default_ttl": Field(FieldType.DURATION, "Default TTL for the role's credentials."),
    "max_ttl": Field(FieldType.DURATION, "Maximum TTL for the role's credentials."),
    "credential_type": Field(FieldType.STRING, "The type of credential.", default="password"),
    "credential_config": Field(FieldType.MAP, "Credential configuration."),
}


def database_paths(h: DatabaseHandlers) -> list[Path]:
    """The declared paths of one mount, over its handlers."""
    return [
        Path(
            "config/?",
            operations={Operation.LIST: h.config_list},
            synopsis="Configure connection details to a database plugin.",
        ),
        Path(
            "config/" + generic_name("name"),
            fields=_CONFIG_FIELDS,
            existence_check=h.config_exists,
            operations={
                Operation.CREATE: h.config_write,
                Operation.UPDATE: h.config_write,
                Operation.READ: h.config_read,
                Operation.DELETE: h.config_delete,
            },
            synopsis="Configure connection details to a database plugin.",
        ),
        Path(
            "reset/" + generic_name("name"),
            fields=_NAME,
            operations={Operation.UPDATE: h.reset},
            synopsis="Reset a connection.",
        ),
        Path(
            "rotate-root/" + generic_name("name"),
            fields=_NAME,
            operations={Operation.UPDATE: h.rotate_root},
            synopsis="Rotate the root user's credentials.",
        ),
        Path(
            "roles/?",
            operations={Operation.LIST: h.role_list},
            synopsis="Manage the roles that can be created with this backend.",
        ),
        Path(
            "roles/" + generic_name("name"),
            fields=_ROLE_FIELDS,
            existence_check=h.role_exists,
            operations={
                Operation.CREATE: h.role_write,
                Operation.UPDATE: h.role_write,
                Operation.READ: h.role_read,
                Operation.DELETE: h.role_delete,
            },
            synopsis="Manage the roles that can be created with this backend.",
        ),
        Path(
            "creds/" + generic_name("name"),
            fields=_NAME,
            operations={Operation.READ: h.creds},
            synopsis="Request database credentials for a certain role.",
        ),
    ]


def factory(core: Core, entry: MountEntry) -> Backend:
    h = DatabaseHandlers(core, entry)
    return Backend(
        backend_type="database",
        help="The database backend supports using many different databases as secret backends.",
        secrets={SECRET_TYPE: SecretType(SECRET_TYPE, revoke=h.secret_revoke, renew=h.secret_renew)},
        paths=database_paths(h),
    )


__all__ = ["NotFound", "factory"]

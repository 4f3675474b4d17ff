"""The ``jwt`` auth method (also mounted as ``oidc``), as Vault's jwt plugin behaves.

CI jobs and machines present a JWT their platform signed (GitHub Actions, GitLab CI, Kubernetes);
a role says which tokens it accepts and what token they get, typically a short batch token.
Keys come from PEM keys in the config, a JWKS URL, or OIDC discovery. Module map: ``config``
(keys source and issuer), ``role`` (role fields and checks), ``claims`` (reading and matching
claims), ``keys`` (signature checks, JWKS cache), ``login`` (the login and renew handlers),
``oidc`` (the browser flow: ``oidc/auth_url`` and ``oidc/callback``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...framework import Field, FieldData, FieldType, Operation, Path, Request, Response, generic_name
from ..tokenutil import AuthBackend, list_page
from .config import CONFIG_FIELDS, parse_config
from .login import JWTAuth, login_paths, prepared_login
from .oidc import OIDCFlow, oidc_paths
from .role import ROLE_FIELDS, Role, apply_role_fields

HELP = """
The JWT backend plugin allows authentication using JWTs (including OIDC).
"""


class ConfigHandlers:
    """The config/ handlers of one mount, over its JWT login handler (key cache)."""

    def __init__(self, handler: JWTAuth) -> None:
        self.handler = handler

    def read(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        cfg = self.handler.config(req.storage)
        return None if cfg is None else Response(data=cfg.read())

    def write(self, req: Request, data: FieldData) -> None:
        assert req.storage is not None
        cfg = parse_config(data, self.handler.local_fetch)
        req.storage.put_json("config", cfg.to_json())
        self.handler.forget_keys()


def _config_paths(handler: JWTAuth) -> list[Path]:
    h = ConfigHandlers(handler)
    return [
        Path(
            "config$",
            fields=CONFIG_FIELDS,
            operations={Operation.READ: h.read, Operation.UPDATE: h.write, Operation.CREATE: h.write},
            synopsis="Configure the JWT authentication backend.",
        )
    ]


class RoleHandlers:
    """The role/ handlers of one mount, over its JWT login handler (role cache)."""

    def __init__(self, handler: JWTAuth) -> None:
        self.handler = handler

    def exists(self, req: Request, data: FieldData) -> bool:
        assert req.storage is not None
        return self.handler.role(req.storage, data.get("name")) is not None

    def read(self, req: Request, data: FieldData) -> Response | None:
        assert req.storage is not None
        role = self.handler.role(req.storage, data.get("name"))
        return None if role is None else Response(data=role.read())

    def write(self, req: Request, data: FieldData) -> None:
        assert req.storage is not None
        name = str(data.get("name")).lower()
        stored = self.handler.role(req.storage, name)
        role = (
            Role() if stored is None else Role.from_json(asdict(stored))
        )  # a copy: the parsed one is shared
        apply_role_fields(role, data, stored is None)
        req.storage.put_json("role/" + name, asdict(role))

    def delete(self, req: Request, data: FieldData) -> None:
        assert req.storage is not None
        req.storage.delete("role/" + str(data.get("name")).lower())

    def list_roles(self, req: Request, data: FieldData) -> Response:
        assert req.storage is not None
        return Response(data={"keys": list_page(req.storage.list("role/"), data)})


def _role_paths(handler: JWTAuth) -> list[Path]:
    h = RoleHandlers(handler)
    return [
        Path(
            "role/?$",
            operations={Operation.LIST: h.list_roles},
            synopsis="Lists all the roles registered with the backend.",
        ),
        Path(
            "role/" + generic_name("name") + "$",
            fields={"name": Field(FieldType.STRING, "Name of the role."), **ROLE_FIELDS},
            operations={
                Operation.READ: h.read,
                Operation.CREATE: h.write,
                Operation.UPDATE: h.write,
                Operation.DELETE: h.delete,
            },
            existence_check=h.exists,
            synopsis="Register an role with the backend.",
        ),
    ]


# Vault's open paths this method does not serve (the device flow's poll); the rest are declared.
UNDECLARED_UNAUTHENTICATED_PATHS = ["oidc/poll"]


def factory(core: Any, entry: Any) -> AuthBackend:
    handler = JWTAuth(core)
    return AuthBackend(
        paths=[
            *_config_paths(handler),
            *_role_paths(handler),
            *login_paths(handler),
            *oidc_paths(OIDCFlow(handler)),
        ],
        help=HELP,
        unauthenticated_paths=list(UNDECLARED_UNAUTHENTICATED_PATHS),
        backend_type="jwt",
        kind="credential",
        renew_hook=handler.renew,
        invalidate=AuthBackend.keeps_nothing,
        prepared_login=prepared_login(handler),
    )

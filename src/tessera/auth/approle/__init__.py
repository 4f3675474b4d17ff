"""The AppRole auth method (Vault's builtin/credential/approle).

Machines log in with a role ID and, unless the role says otherwise, a secret ID; the role's
``token_*`` fields (tokenutil) shape the token the core then issues. ``factory`` builds one
backend per mount; its ``renew_check``/``auth_renew`` let token renewal re-check the role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...framework import Request
from ..tokenutil import AuthBackend
from .login import login_paths, prepared_login
from .mount import AppRole
from .roles import role_paths
from .secret_ids import secret_id_paths
from .store import AppRoleStore

if TYPE_CHECKING:
    from ...routing.mounts import MountEntry
    from ...storage.base import Storage

HELP = """
Any registered Role can authenticate itself with OpenBao. The credentials
depends on the constraints that are set on the Role. One common required
credential is the 'role_id' which is a unique identifier of the Role.
It can be retrieved from the 'role/<appname>/role-id' endpoint.

The default constraint configuration is 'bind_secret_id', which requires
the credential 'secret_id' to be presented during login. Refer to the
documentation for other types of constraints."""


def login_alias(req: Request) -> str | None:
    """The alias look-ahead: a login is for its role ID (what user lockout counts against)."""
    if req.path != "login" or not isinstance(req.data, dict):
        return None
    return str(req.data.get("role_id") or "").strip() or None


def resolve_role(req: Request) -> str:
    """The role a login names through its role_id, for role-based quotas ("" when none)."""
    role_id = req.data.get("role_id")
    if not isinstance(role_id, str) or not role_id.strip() or req.storage is None:
        return ""
    return AppRoleStore().role_id_entry(req.storage, role_id.strip()) or ""


# Open though no path serves it (login itself is declared): a token-less request for a login
# sub-path answers "unsupported path" rather than "permission denied", as it always has here.
UNDECLARED_UNAUTHENTICATED_PATHS = ["login/*"]


def batch_token_issuers(storage: Storage) -> list[str]:
    """Each role logs in to its own path, so each is a batch-token issuer of its own."""
    return [f"role/{name}" for name in AppRoleStore().role_names(storage)]


def factory(core: Any, entry: MountEntry | None) -> AuthBackend:
    app = AppRole(core, entry)
    login, handler = login_paths(app)
    return AuthBackend(
        paths=[*role_paths(app), *secret_id_paths(app), *login],
        help=HELP,
        unauthenticated_paths=list(UNDECLARED_UNAUTHENTICATED_PATHS),
        backend_type="approle",
        kind="credential",
        renew_hook=handler.renew,
        invalidate=AuthBackend.keeps_nothing,
        login_alias=login_alias,
        resolve_role=resolve_role,
        batch_token_issuers=batch_token_issuers,
        wrapped_accessor_field="secret_id_accessor",
        prepared_login=prepared_login(handler),
    )


__all__ = ["AppRole", "AppRoleStore", "factory", "login_alias"]

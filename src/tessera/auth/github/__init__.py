"""The github auth method (Vault's builtin/credential/github): log in with a GitHub token.

``config`` names the organization (its ID is learnt from GitHub once, then logins check the ID
so a renamed or re-created organization cannot stand in); ``map/teams`` and ``map/users`` map
team names/slugs and user logins to policies. A login asks GitHub (``api.py``) who owns the
token, whether that user belongs to the organization, and which of its teams they are in.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from ...framework import (
    Auth,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    Operation,
    Path,
    PermissionDenied,
    Request,
    Response,
)
from ...storage.base import Storage
from ..tokenutil import (
    AuthBackend,
    TokenParams,
    deprecated_token_fields,
    equivalent_policies,
    ip_in_cidrs,
    login_entity,
    token_fields,
    upgrade_values,
)
from .api import GitHubClient, GitHubError, GitHubUnreachable
from .policymap import PolicyMap

HELP = """
The GitHub credential provider allows authentication via GitHub.

Users provide a personal access token to log in, and the credential
provider verifies they're part of the correct organization and then
maps the user to a set of OpenBao policies according to the teams they're
part of.

After enabling the credential provider, use the "config" route to
configure it.
"""


@dataclass
class GitHubConfig(TokenParams):
    organization: str = ""
    organization_id: int = 0
    base_url: str = ""
    ttl: int = 0
    max_ttl: int = 0

    @classmethod
    def load(cls, storage: Storage) -> GitHubConfig | None:
        doc = storage.get_json("config")
        if doc is None:
            return None
        config = cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})
        config.token_ttl = config.token_ttl or config.ttl
        config.token_max_ttl = config.token_max_ttl or config.max_ttl
        return config

    def save(self, storage: Storage) -> None:
        storage.put_json("config", asdict(self))


@dataclass
class Verified:
    login: str
    org_login: str
    policies: list[str]
    team_names: list[str]
    config: GitHubConfig
    warnings: list[str]


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


def _ask(call: Any, *args: Any) -> Any:
    """One GitHub call. Vault answers 500 with go-github's text whether GitHub refused the token
    or could not be reached (hvac's tests expect it): so does Tessera."""
    try:
        return call(*args)
    except (GitHubError, GitHubUnreachable) as exc:
        raise InternalError(str(exc)) from None


class GitHubAuth:
    def __init__(self, core: Any) -> None:
        self.core = core
        self.teams = PolicyMap("teams")
        self.users = PolicyMap("users")
        self.lock = threading.Lock()

    # -- config ---------------------------------------------------------------------------------
    def read_config(self, req: Request, data: FieldData) -> Response | None:
        config = GitHubConfig.load(_storage(req))
        if config is None:
            return None
        out: dict[str, Any] = {
            "organization_id": config.organization_id,
            "organization": config.organization,
            "base_url": config.base_url,
        }
        config.populate_token_data(out)
        if config.ttl > 0:
            out["ttl"] = config.ttl
        if config.max_ttl > 0:
            out["max_ttl"] = config.max_ttl
        return Response(data=out)

    def write_config(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        with self.lock:
            config = GitHubConfig.load(storage) or GitHubConfig()
            organization, ok = data.get_ok("organization")
            if ok:
                config.organization = organization
            if not config.organization:
                raise ErrorResponse("organization is a required parameter")
            org_id, ok = data.get_ok("organization_id")
            if ok:
                config.organization_id = org_id
            base_url, ok = data.get_ok("base_url")
            if ok:
                config.base_url = base_url if base_url.endswith("/") else base_url + "/"
            if config.organization_id == 0:
                config.organization_id = self._organization_id(config)
            config.parse_token_fields(data)
            upgrade_values(data, config, (("ttl", "token_ttl"), ("max_ttl", "token_max_ttl")))
            config.save(storage)

    @staticmethod
    def _organization_id(config: GitHubConfig) -> int:
        org = _ask(GitHubClient(config.base_url).org, config.organization)
        org_id = int(org.get("id") or 0) if isinstance(org, dict) else 0
        if org_id == 0:
            raise InternalError(f"organization_id not found for {config.organization}")
        return org_id

    # -- login ----------------------------------------------------------------------------------
    def verify(self, req: Request, token: str) -> Verified:
        storage = _storage(req)
        config = GitHubConfig.load(storage)
        if config is None:
            raise InternalError("configuration has not been set")
        if config.token_bound_cidrs and not ip_in_cidrs(req.remote_addr, config.token_bound_cidrs):
            raise PermissionDenied()
        if config.organization_id == 0:  # trust on first use, as Vault does for older configs
            with self.lock:
                config.organization_id = self._organization_id(config)
                config.save(storage)
        client = GitHubClient(config.base_url, token)
        user = _ask(client.user)
        login = str(user.get("login") or "") if isinstance(user, dict) else ""
        if not login:
            raise InternalError("GitHub did not say who owns this token")
        org = next((o for o in _ask(client.user_orgs) if o.get("id") == config.organization_id), None)
        if org is None:
            raise InternalError("user is not part of required org")
        org_login = str(org.get("login") or "")
        warnings = []
        if org_login != config.organization:
            warnings.append(
                f'the organization name has changed to "{org_login}". It is recommended to verify and '
                f"update the organization name in the config: organization_id={config.organization_id}"
            )
        teams = _team_names(_ask(client.user_teams), config.organization_id)
        policies = self.teams.policies(storage, teams) + self.users.policies(storage, [login])
        return Verified(login, org_login, policies, teams, config, warnings)

    def login(self, req: Request, data: FieldData) -> Response:
        token: str = data.get("token")
        verified = self.verify(req, token)
        auth = Auth(
            metadata={"username": verified.login, "org": verified.org_login},
            display_name=verified.login,
            alias_name=verified.login,
            internal_data={"token": token},  # renewals ask GitHub again (stored behind the barrier)
        )
        verified.config.populate_token_auth(auth, req)
        auth.policies = auth.policies + verified.policies
        auth.token_policies = list(auth.policies)
        auth.entity_id = login_entity(self.core, req, verified.login, None)
        return Response(auth=auth, warnings=verified.warnings)

    def renew(self, req: Request, auth: Auth) -> Auth | None:
        token = (auth.internal_data or {}).get("token")
        if not isinstance(token, str):
            raise InternalError(
                "token created in previous version of Vault cannot be validated properly at renewal time"
            )
        verified = self.verify(req, token)
        granted = verified.config.token_policies + verified.policies
        if not equivalent_policies(granted, auth.token_policies):
            raise InternalError("policies do not match")
        return verified.config.renew_auth(auth)


def _team_names(teams: list[dict[str, Any]], org_id: int) -> list[str]:
    """The organization's teams: each by name, and by slug when that differs."""
    names: list[str] = []
    for team in teams:
        if (team.get("organization") or {}).get("id") != org_id:
            continue
        name, slug = str(team.get("name") or ""), str(team.get("slug") or "")
        names.append(name)
        if slug != name:
            names.append(slug)
    return names


def _paths(gh: GitHubAuth) -> list[Path]:
    config_fields = {
        "organization": Field(FieldType.STRING, "The organization users must be part of"),
        "organization_id": Field(FieldType.INT, "The ID of the organization users must be part of"),
        "base_url": Field(
            FieldType.STRING,
            "The API endpoint to use. Useful if you are running GitHub Enterprise or an API-compatible "
            "authentication server.",
        ),
        **deprecated_token_fields("ttl", "max_ttl"),
        **token_fields(),
    }
    return [
        Path(
            "config$",
            fields=config_fields,
            operations={Operation.READ: gh.read_config, Operation.UPDATE: gh.write_config},
            synopsis="Configure the GitHub organization and API endpoint.",
        ),
        Path(
            "login$",
            fields={"token": Field(FieldType.STRING, "GitHub personal API token")},
            operations={Operation.UPDATE: gh.login},
            synopsis="Log in with a GitHub personal API token.",
            unauthenticated=True,
        ),
        *gh.teams.paths(),
        *gh.users.paths(),
    ]


def factory(core: Any, entry: Any) -> AuthBackend:
    gh = GitHubAuth(core)
    return AuthBackend(
        paths=_paths(gh),
        help=HELP,
        backend_type="github",
        kind="credential",
        renew_hook=gh.renew,
        invalidate=AuthBackend.keeps_nothing,
    )

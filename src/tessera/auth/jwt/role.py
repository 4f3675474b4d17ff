"""Roles: which tokens a role accepts (audiences, subject, bound claims), how a login is named
(``user_claim``, ``groups_claim``, ``claim_mappings``) and what token it gets (``token_*``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...framework import ErrorResponse, Field, FieldData, FieldType
from ..tokenutil import TokenParams, deprecated_token_fields, parse_addrs, parse_policies, token_fields
from .claims import valid_glob_bounds
from .config import JWTConfig

ROLE_TYPES = ("oidc", "jwt")
CLAIMS_TYPES = ("string", "glob")


@dataclass
class Role(TokenParams):
    role_type: str = "oidc"
    bound_audiences: list[str] = field(default_factory=list)
    bound_subject: str = ""
    bound_claims_type: str = "string"
    bound_claims: dict[str, Any] | None = None
    claim_mappings: dict[str, str] | None = None
    user_claim: str = ""
    user_claim_json_pointer: bool = False
    groups_claim: str = ""
    clock_skew_leeway: int = 0
    expiration_leeway: int = 0
    not_before_leeway: int = 0
    oidc_scopes: list[str] | None = None
    allowed_redirect_uris: list[str] | None = None
    verbose_oidc_logging: bool = False
    max_age: int = 0
    callback_mode: str = "client"
    token_policies_template_claims: bool = False
    bound_cidrs: list[str] = field(default_factory=list)
    # The pre-tokenutil names, shown on read while a role still uses them.
    policies: list[str] = field(default_factory=list)
    ttl: int = 0
    max_ttl: int = 0
    period: int = 0
    num_uses: int = 0

    def __post_init__(self) -> None:
        # The login checks made for this role object under a config (``login.RoleChecks.of``,
        # a module above this one: hence ``object``): an attribute, not a field, so never
        # stored, read out or copied into a role stored anew.
        self.checks: tuple[JWTConfig, object] | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Role:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in doc.items() if k in known})

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "allowed_redirect_uris": self.allowed_redirect_uris,
            "bound_audiences": self.bound_audiences or None,
            "bound_claims": self.bound_claims,
            "bound_claims_type": self.bound_claims_type,
            "bound_subject": self.bound_subject,
            "callback_mode": self.callback_mode,
            "claim_mappings": self.claim_mappings,
            "clock_skew_leeway": self.clock_skew_leeway,
            "expiration_leeway": self.expiration_leeway,
            "groups_claim": self.groups_claim,
            "max_age": self.max_age,
            "not_before_leeway": self.not_before_leeway,
            "oauth2_metadata": None,
            "oidc_disable_confirmation": False,
            "oidc_scopes": self.oidc_scopes,
            "role_type": self.role_type,
            "token_policies_template_claims": self.token_policies_template_claims,
            "user_claim": self.user_claim,
            "user_claim_json_pointer": self.user_claim_json_pointer,
            "verbose_oidc_logging": self.verbose_oidc_logging,
        }
        self.populate_token_data(out)
        for old in ("bound_cidrs", "policies", "ttl", "max_ttl", "period", "num_uses"):
            if getattr(self, old):
                out[old] = getattr(self, old)
        return out

    def leeway(self) -> int:
        """Seconds of clock skew allowed on exp, nbf and iat: 0 means the default 60, negative none."""
        if self.clock_skew_leeway == 0:
            return 60
        return max(self.clock_skew_leeway, 0)


ROLE_FIELDS: dict[str, Field] = {
    "role_type": Field(FieldType.STRING, "Type of the role, either 'jwt' or 'oidc'."),
    **deprecated_token_fields("policies", "num_uses", "ttl", "max_ttl", "period", "bound_cidrs"),
    "expiration_leeway": Field(
        FieldType.SIGNED_DURATION,
        "Duration in seconds of leeway when validating expiration of a token to account for clock skew. Defaults to 150 (2.5 minutes) if set to 0 and can be disabled if set to -1.",
    ),
    "not_before_leeway": Field(
        FieldType.SIGNED_DURATION,
        "Duration in seconds of leeway when validating not before values of a token to account for clock skew. Defaults to 150 (2.5 minutes) if set to 0 and can be disabled if set to -1.",
    ),
    "clock_skew_leeway": Field(
        FieldType.SIGNED_DURATION,
        "Duration in seconds of leeway when validating all claims to account for clock skew. Defaults to 60 (1 minute) if set to 0 and can be disabled if set to -1.",
    ),
    "bound_subject": Field(FieldType.STRING, "The 'sub' claim that is valid for login. Optional."),
    "bound_audiences": Field(
        FieldType.COMMA_STRING_SLICE,
        "Comma-separated list of 'aud' claims that are valid for login; any match is sufficient",
    ),
    "bound_claims_type": Field(
        FieldType.STRING,
        "How to interpret values in the map of claims/values (which must match for login): allowed values are 'string' or 'glob'",
        default="string",
    ),
    "bound_claims": Field(FieldType.MAP, "Map of claims/values which must match for login"),
    "claim_mappings": Field(
        FieldType.KV_PAIRS, "Mappings of claims (key) that will be copied to a metadata field (value)"
    ),
    "user_claim": Field(FieldType.STRING, "The claim to use for the Identity entity alias name"),
    "user_claim_json_pointer": Field(
        FieldType.BOOL, "If true, the user_claim value will use JSON pointer syntax for referencing claims."
    ),
    "groups_claim": Field(FieldType.STRING, "The claim to use for the Identity group alias names"),
    "oidc_scopes": Field(FieldType.COMMA_STRING_SLICE, "Comma-separated list of OIDC scopes"),
    "allowed_redirect_uris": Field(
        FieldType.COMMA_STRING_SLICE, "Comma-separated list of allowed values for redirect_uri"
    ),
    "verbose_oidc_logging": Field(
        FieldType.BOOL,
        "Log received OIDC tokens and claims when debug-level logging is active. Not recommended in production since sensitive information may be present in OIDC responses.",
    ),
    "max_age": Field(
        FieldType.DURATION,
        "Specifies the allowable elapsed time in seconds since the last time the user was actively authenticated.",
    ),
    "callback_mode": Field(
        FieldType.STRING,
        "OIDC callback mode from Authorization Server: allowed values are 'device' for 2nd device flow, 'client' for client callback, or 'direct' for direct callback from provider; default is 'client'",
    ),
    "token_policies_template_claims": Field(
        FieldType.BOOL, "If true, the token policies may contain claim templates."
    ),
    **token_fields(),
}

_ROLE_ATTRS = (
    "bound_subject",
    "bound_audiences",
    "user_claim",
    "user_claim_json_pointer",
    "groups_claim",
    "oidc_scopes",
    "allowed_redirect_uris",
    "verbose_oidc_logging",
    "max_age",
    "callback_mode",
    "clock_skew_leeway",
    "expiration_leeway",
    "not_before_leeway",
    "token_policies_template_claims",
)


def apply_role_fields(role: Role, data: FieldData, creating: bool) -> None:
    """pathRoleCreateUpdate: apply the supplied fields and refuse what the reference refuses."""
    role.role_type = data.get("role_type") or "oidc"  # the reference re-defaults it on every write
    if role.role_type not in ROLE_TYPES:
        raise ErrorResponse(f"invalid 'role_type': {role.role_type}")
    role.parse_token_fields(data)
    _deprecated(role, data)
    for name in _ROLE_ATTRS:
        if data.has(name):
            setattr(role, name, data.get(name))
    if data.has("bound_cidrs"):
        role.bound_cidrs = parse_addrs(data.get("bound_cidrs"))
    if not role.user_claim:
        raise ErrorResponse("a user claim must be defined on the role")
    if data.has("bound_claims_type"):
        role.bound_claims_type = data.get("bound_claims_type")
    if role.bound_claims_type not in CLAIMS_TYPES:
        raise ErrorResponse(f"invalid 'bound_claims_type': {role.bound_claims_type}")
    if data.has("bound_claims"):
        role.bound_claims = data.get("bound_claims") or None
    if role.bound_claims_type == "glob" and role.bound_claims:
        valid_glob_bounds(role.bound_claims)
    if data.has("claim_mappings"):
        mappings = data.get("claim_mappings") or {}
        targets: set[str] = set()
        for key in sorted(mappings):
            if mappings[key] in targets:
                raise ErrorResponse(f'multiple keys are mapped to metadata key "{mappings[key]}"')
            targets.add(mappings[key])
        role.claim_mappings = mappings or None
    if role.role_type == "jwt" and not (
        role.bound_audiences
        or role.bound_subject
        or role.bound_claims
        or role.token_bound_cidrs
        or role.bound_cidrs
    ):
        raise ErrorResponse("must have at least one bound constraint when creating/updating a role")
    if role.role_type == "oidc" and not role.allowed_redirect_uris:
        raise ErrorResponse("'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.")


def _deprecated(role: Role, data: FieldData) -> None:
    """The pre-tokenutil names still set the token fields when the new ones are absent."""
    for old, new, parse in (
        ("policies", "token_policies", parse_policies),
        ("ttl", "token_ttl", None),
        ("max_ttl", "token_max_ttl", None),
        ("period", "token_period", None),
        ("num_uses", "token_num_uses", None),
    ):
        if data.has(old) and not data.has(new):
            value = data.get(old)
            value = parse(value) if parse else value
            setattr(role, new, value)
            setattr(role, old, value)

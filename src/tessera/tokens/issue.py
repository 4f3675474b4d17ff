"""Turning requests into tokens: auth/token/create* and the token a login returns.

Both paths decide "which type" and "which TTL" here so that a role, a mount's tuning and a
request can never disagree about them (token_store.go handleCreateCommon, request_handling.go
LoginCreateToken/RegisterAuth, router.go's token_type override).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ..framework import Auth, ErrorResponse, FieldData, InternalError, Request, Response
from ..gocompat.durations import DurationError, parse_duration_second
from ..routing.mounts import MountEntry
from ..telemetry import metrics
from .common import auth_block, entity_for_alias, identity_policies, is_sudo, policy_warnings, token_mount
from .entry import BATCH, SERVICE, TokenEntry
from .host import TokenHost
from .policies import (
    NON_ASSIGNABLE,
    SANITIZED_MEMO_LIST,
    contains_glob,
    remove_duplicates,
    resolve_token_policies,
    sanitize_policies,
)
from .roles import Role
from .store import TokenStore, TokenStoreError
from .ttl import TTLError, calculate_ttl

_DISPLAY_SANITIZE = re.compile(r"[^a-zA-Z0-9-]")

CUSTOM_ID_WARNING = (
    "Supplying a custom ID for the token uses the weaker SHA1 hashing instead of the more secure "
    "SHA2-256 HMAC for token obfuscation. SHA1 hashed tokens on the wire leads to less secure lookups."
)


def _duration(text: str) -> int:
    """parseutil.ParseDurationSecond on a string field; errors carry Go's wording."""
    try:
        return parse_duration_second(text)
    except DurationError as exc:
        raise ErrorResponse(str(exc)) from None


def count_creation(core: TokenHost, auth_method: str, mount_point: str, entry: TokenEntry) -> None:
    """vault.token.creation, labelled as Vault's token store labels it."""
    metrics.TOKEN_CREATION.inc(
        auth_method, mount_point, metrics.ttl_bucket(entry.ttl), entry.type, "root", core.cluster_name
    )


def mount_ttls(core: TokenHost, mount: MountEntry | None) -> tuple[int, int]:
    return core.mount_ttls(mount)


# -- auth/token/create, create-orphan, create/:role ------------------------------------------
def create_token(
    core: TokenHost, req: Request, data: FieldData, *, orphan: bool, role: Role | None
) -> Response:
    resp = Response()
    parent = _creating_parent(core.tokens, req)
    sudo = is_sudo(core, req)
    # Read once here (validated already, so no read can fail): the batch checks and the TTL
    # merge both need them.
    num_uses: int = data.get("num_uses")
    explicit_raw: str = data.get("explicit_max_ttl")
    period_raw: str = data.get("period")
    token_type, renewable = _token_type(data, role, (explicit_raw, num_uses, period_raw))
    if num_uses < 0:
        raise ErrorResponse("number of uses cannot be negative")
    explicit_entity = _resolve_entity_alias(core, req, data, role)
    entry = _new_entry(req, data, parent, token_type, num_uses)
    if role is not None:
        renewable = _apply_role(entry, role, renewable)
    _name_and_id(entry, data, sudo)
    entry.policies = resolve_token_policies(
        data.get("policies"),
        no_default_policy=data.get("no_default_policy"),
        role=role,
        parent=parent,
        is_sudo=sudo,
    )
    if "root" in entry.policies:
        if "root" not in parent.policies:
            raise ErrorResponse("root tokens may not be created without parent token being root")
        if entry.type == BATCH:
            raise ErrorResponse("batch tokens cannot be root tokens")
    _set_parentage(entry, data, role, parent, orphan=orphan, sudo=sudo, explicit_entity=explicit_entity)
    explicit_max, period = _merge_ttl_period(data, role, entry, sudo, explicit_raw, period_raw, resp)
    entry.renewable = _settle_ttl(core, entry, parent, explicit_max, period, resp) and renewable
    if entry.id:
        resp.add_warning(CUSTOM_ID_WARNING)
    try:
        core.tokens.create(entry)
    except TokenStoreError as exc:
        raise ErrorResponse(str(exc)) from None
    count_creation(core, "token", req.mount_point or "auth/token/", entry)
    resp.auth = auth_block(core, entry, ttl=entry.ttl, renewable=entry.renewable, num_uses=entry.num_uses)
    resp.auth.period = period
    resp.auth.explicit_max_ttl = explicit_max
    policy_warnings(core, entry.policies, resp)
    return resp


def _creating_parent(store: TokenStore, req: Request) -> TokenEntry:
    """The token creating the new one, refused when it may not create tokens.

    The entry the core resolved for this request saves an HMAC and a copy. A limited-use token
    is looked up again: the core just spent one of its uses, and after its last one it is gone,
    as Vault's second lookup sees it.
    """
    parent: TokenEntry | None = req.token_entry
    if parent is None or parent.num_uses != 0:
        parent = store.lookup(req.client_token) if req.client_token else None
    if parent is None:
        raise ErrorResponse("parent token lookup failed: no parent found")
    if parent.type == BATCH:
        raise ErrorResponse("batch tokens cannot create more tokens")
    if parent.num_uses > 0:
        raise ErrorResponse("restricted use token cannot generate child tokens")
    return parent


# explicit_max_ttl, num_uses and period as the request gave them (read once by create_token).
_Limits = tuple[str, int, str]


def _token_type(data: FieldData, role: Role | None, limits: _Limits) -> tuple[str, bool]:
    """(service or batch, renewable as asked): the role's type, else the request's."""
    token_type_str: str = data.get("type")
    if role is not None:
        if role.token_type in ("default", "default-service"):
            pass
        elif role.token_type == "default-batch":
            token_type_str = token_type_str or BATCH
        elif role.token_type in (SERVICE, BATCH):
            token_type_str = role.token_type
        else:
            raise ErrorResponse(
                f'role being used for token creation contains invalid token type "{role.token_type}"'
            )
    renewable: bool = data.get("renewable")
    if token_type_str in ("", SERVICE):
        return SERVICE, renewable
    if token_type_str != BATCH:
        raise ErrorResponse("invalid 'token_type' value")
    bad = _batch_refusal(*limits)
    if bad:
        raise ErrorResponse(f'batch tokens cannot have "{bad}" set')
    return BATCH, False


def _batch_refusal(explicit_raw: str, num_uses: int, period_raw: str) -> str:
    """The first field a batch token cannot have that the request sets, or ""."""
    if explicit_raw != "":
        try:
            return "explicit_max_ttl" if parse_duration_second(explicit_raw) != 0 else ""
        except DurationError:
            raise ErrorResponse("'explicit_max_ttl' value could not be parsed") from None
    if num_uses != 0:
        return "num_uses"
    if period_raw != "":
        try:
            return "period" if parse_duration_second(period_raw) != 0 else ""
        except DurationError:
            raise ErrorResponse("'period' value could not be parsed") from None
    return ""


def _new_entry(
    req: Request, data: FieldData, parent: TokenEntry, token_type: str, num_uses: int
) -> TokenEntry:
    meta, meta_given = data.get_ok("meta")
    return TokenEntry(
        parent=parent.salted_id,
        path="auth/token/" + req.path,
        meta=dict(meta) if meta_given and meta is not None else None,
        display_name="token",
        num_uses=num_uses,
        creation_time=float(int(time.time())),
        type=token_type,
    )


def _apply_role(entry: TokenEntry, role: Role, renewable: bool) -> bool:
    """The role's name, use limit and path suffix on the entry; whether it stays renewable."""
    entry.role = role.name
    if role.token_num_uses and (entry.num_uses == 0 or role.token_num_uses < entry.num_uses):
        entry.num_uses = role.token_num_uses
    if role.path_suffix:
        entry.path = f"{entry.path}/{role.path_suffix}"
    return bool(renewable and role.renewable)


def _name_and_id(entry: TokenEntry, data: FieldData, sudo: bool) -> None:
    display_name: str = data.get("display_name")
    if display_name:
        full = _DISPLAY_SANITIZE.sub("-", "token-" + display_name)
        entry.display_name = full[:-1] if full.endswith("-") else full
    custom_id: str = data.get("id")
    if custom_id:
        if not sudo:
            raise ErrorResponse("root or sudo privileges required to specify token id")
        entry.id = custom_id


def _set_parentage(
    entry: TokenEntry,
    data: FieldData,
    role: Role | None,
    parent: TokenEntry,
    *,
    orphan: bool,
    sudo: bool,
    explicit_entity: str,
) -> None:
    """Orphan or child, and the entity and CIDR bounds that come with it."""
    if role is not None:
        if role.orphan:
            entry.parent = ""
        if role.effective_bound_cidrs:
            entry.bound_cidrs = list(role.effective_bound_cidrs)
    elif data.get("no_parent"):
        if not sudo:
            raise ErrorResponse("root or sudo privileges required to create orphan token")
        entry.parent = ""
    elif orphan:
        entry.parent = ""
    if explicit_entity:
        entry.entity_id = explicit_entity
    elif entry.parent:
        entry.entity_id = parent.entity_id
        if role is None:
            entry.bound_cidrs = list(parent.bound_cidrs)


def _settle_ttl(
    core: TokenHost, entry: TokenEntry, parent: TokenEntry, explicit_max: int, period: int, resp: Response
) -> bool:
    """The entry's TTL from the mount's limits; False when the token ends up non-expiring (then
    it cannot be renewable)."""
    default_ttl, max_ttl = mount_ttls(core, token_mount(core))
    if period > 0 or entry.ttl > 0 or "root" not in entry.policies:
        try:
            ttl, warnings = calculate_ttl(
                default_ttl=default_ttl,
                max_ttl=max_ttl,
                backend_ttl=entry.ttl,
                period=period,
                explicit_max_ttl=explicit_max,
                start=entry.creation_time,
            )
        except TTLError as exc:
            raise InternalError(str(exc)) from None
        resp.warnings.extend(warnings)
        entry.ttl = ttl
    if entry.ttl == 0 and explicit_max > 0:
        entry.ttl = explicit_max
    if entry.ttl == 0:
        if parent.creation_ttl != 0:
            raise ErrorResponse("expiring root tokens cannot create non-expiring root tokens")
        entry.bound_cidrs = []
        return False
    return True


def _resolve_entity_alias(core: TokenHost, req: Request, data: FieldData, role: Role | None) -> str:
    alias: str = data.get("entity_alias")
    if not alias:
        return ""
    if role is None:
        raise ErrorResponse("'entity_alias' is only allowed in combination with token role")
    lowered = alias.lower()
    allowed = role.allowed_entity_aliases or []
    if lowered not in allowed and not contains_glob(allowed, lowered):
        raise ErrorResponse("invalid 'entity_alias' value")
    mount = token_mount(core)
    if mount is None:
        raise ErrorResponse("auth token mount accessor not found")
    entity_id = entity_for_alias(core, mount, alias)
    if not entity_id and core.router.get("identity/") is not None:
        raise ErrorResponse("failed to create or fetch entity from given entity alias")
    return entity_id


def _merge_ttl_period(
    data: FieldData,
    role: Role | None,
    entry: TokenEntry,
    sudo: bool,
    explicit_raw: str,
    period_raw: str,
    resp: Response,
) -> tuple[int, int]:
    """token_store.go parseAndMergeTTLPeriod: (explicit max TTL to use, period to use)."""
    explicit_max = 0
    if explicit_raw != "":
        value = _duration(explicit_raw)
        if value < 0:
            raise ErrorResponse("explicit_max_ttl must be positive")
        entry.explicit_max_ttl = value
        explicit_max = value
    period = 0
    if period_raw != "":
        value = _duration(period_raw)
        if value < 0:
            raise ErrorResponse("period must be positive")
        if value > 0:
            if not sudo:
                raise ErrorResponse("root or sudo privileges required to create periodic token")
            entry.period = value
            period = value
    ttl_raw: str = data.get("ttl")
    if ttl_raw != "":
        value = _duration(ttl_raw)
        if value < 0:
            raise ErrorResponse("ttl must be positive")
        entry.ttl = value
    else:
        lease_raw: str = data.get("lease")
        if lease_raw != "":
            value = _duration(lease_raw)
            if value < 0:
                raise ErrorResponse("lease must be positive")
            entry.ttl = value
    if role is not None and entry.type != BATCH:
        role_explicit = role.effective_explicit_max_ttl
        if role_explicit:
            if explicit_max == 0:
                explicit_max = role_explicit
            else:
                explicit_max = min(explicit_max, role_explicit)
                resp.add_warning(
                    "Explicit max TTL specified both during creation call and in role; using the lesser "
                    f"value of {explicit_max} seconds"
                )
        role_period = role.effective_period
        if role_period:
            if period == 0:
                period = role_period
            else:
                period = min(period, role_period)
                resp.add_warning(
                    "Period specified both during creation call and in role; using the lesser value of "
                    f"{period} seconds"
                )
    return explicit_max, period


# -- logins -------------------------------------------------------------------------------
def login_token_type(mount: MountEntry, requested: str) -> str:
    """router.go: a mount tuned service/batch wins; default-* mounts let the auth method choose."""
    tuned = mount.config.token_type or "default-service"
    if mount.type in ("token", "ns_token"):
        return BATCH if requested == BATCH else SERVICE
    if tuned in (SERVICE, BATCH):
        return tuned
    if tuned == "default-batch":
        return SERVICE if requested == SERVICE else BATCH
    return BATCH if requested in (BATCH, "default-batch") else SERVICE


def login_issuer(mount_entry: MountEntry, path: str, internal_data: dict[str, Any]) -> str:
    """The issuance path a login's batch token names: the role when the method has roles
    (``auth/approle/role/ci``), else the login path itself."""
    role = internal_data.get("role_name") or internal_data.get("role")
    if isinstance(role, str) and role:
        return f"auth/{mount_entry.path}role/{role}"
    return path


def issue_login_token(core: TokenHost, req: Request, mount_entry: MountEntry, resp: Response) -> None:
    """Create the token for a successful login and fill ``resp.auth`` (Vault's LoginCreateToken)."""
    auth = resp.auth
    assert auth is not None
    if mount_entry.type in ("token", "ns_token"):
        return  # the token store answers for itself (renew-accessor blanks client_token on purpose)
    auth.token_type = login_token_type(mount_entry, auth.token_type)
    if not auth.entity_id and auth.alias_name:
        auth.entity_id = entity_for_alias(core, mount_entry, auth.alias_name, auth.metadata)
    source = mount_entry.path.replace("/", "-")
    display = source + auth.display_name
    auth.display_name = display[:-1] if display.endswith("-") else display

    default_ttl, max_ttl = core.mount_ttls(mount_entry)
    try:
        ttl, warnings = login_ttl(
            default_ttl, max_ttl, auth.ttl, auth.period, auth.max_ttl, auth.explicit_max_ttl
        )
    except TTLError as exc:
        raise InternalError(str(exc)) from None
    if warnings:
        resp.warnings.extend(warnings)

    ident = identity_policies(core, auth.entity_id)
    token_policies, all_policies, ident_policies = login_policies(
        auth.policies, not auth.no_default_policy, ident
    )
    if ttl == 0:
        raise InternalError("internal error")

    batch = auth.token_type == BATCH
    entry = _login_entry(req, mount_entry, auth, ttl, token_policies, batch)
    core.tokens.create(entry)
    count_creation(core, mount_entry.type, mount_entry.route_prefix, entry)
    auth.client_token = entry.id
    auth.accessor = entry.accessor
    auth.ttl = ttl
    auth.lease_duration = ttl
    auth.orphan = True
    if batch:
        auth.renewable = False
    auth.token_policies = token_policies
    auth.identity_policies = ident_policies
    auth.policies = all_policies
    auth.creation_path = entry.path


def _login_entry(
    req: Request, mount_entry: MountEntry, auth: Auth, ttl: int, token_policies: list[str], batch: bool
) -> TokenEntry:
    """The entry of a login's token. Its fields are set one by one after a short constructor
    call: a dataclass ``__init__`` given a keyword for each of sixteen fields costs ~4k
    instructions more (callgrind), on every login."""
    entry = TokenEntry(
        path=req.full_path, meta=auth.metadata, display_name=auth.display_name, type=auth.token_type
    )
    entry.creation_time = float(int(time.time()))
    entry.ttl = ttl
    entry.renewable = auth.renewable and not batch
    if not batch:  # a batch token keeps the defaults: no use limit, explicit max TTL or period
        entry.num_uses = auth.num_uses
        entry.explicit_max_ttl = auth.explicit_max_ttl
        entry.period = auth.period
    entry.entity_id = auth.entity_id
    entry.bound_cidrs = list(auth.bound_cidrs)
    entry.policies = token_policies
    entry.max_ttl = auth.max_ttl
    entry.auth_internal_data = dict(auth.internal_data)
    entry.issuer = login_issuer(mount_entry, req.full_path, auth.internal_data)
    return entry


# Logins of one role (or user) ask the same questions every time: the answers of these two pure
# steps are remembered, for at most LOGIN_MEMO_SIZE distinct questions (policy lists of at most
# SANITIZED_MEMO_LIST names: a client's long lists are neither kept nor able to fill memory).
LOGIN_MEMO_SIZE = 1024


def login_ttl(
    default_ttl: int, max_ttl: int, ttl: int, period: int, backend_max_ttl: int, explicit_max_ttl: int
) -> tuple[int, tuple[str, ...]]:
    """``calculate_ttl`` for a login's token (issued now: the answer depends on nothing else),
    remembered; its warnings as a tuple. Raises TTLError as it does."""
    return _login_ttl(default_ttl, max_ttl, ttl, period, backend_max_ttl, explicit_max_ttl)


@lru_cache(maxsize=LOGIN_MEMO_SIZE, typed=True)
def _login_ttl(
    default_ttl: int, max_ttl: int, ttl: int, period: int, backend_max_ttl: int, explicit_max_ttl: int
) -> tuple[int, tuple[str, ...]]:
    granted, warnings = calculate_ttl(
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        backend_ttl=ttl,
        period=period,
        backend_max_ttl=backend_max_ttl,
        explicit_max_ttl=explicit_max_ttl,
    )
    return granted, tuple(warnings)


def login_policies(
    policies: list[str], add_default: bool, identity: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """A login token's (token policies, all policies, identity policies), each a list of the
    caller's own; raises the refusal of a root or non-assignable policy."""
    if len(policies) <= SANITIZED_MEMO_LIST and len(identity) <= SANITIZED_MEMO_LIST:
        try:
            token, combined, ident = _login_policies(tuple(policies), add_default, tuple(identity))
        except TypeError:  # an unhashable item: refused below exactly as before
            pass
        else:
            return list(token), list(combined), list(ident)
    token_list, all_list, ident_list = _login_policy_lists(policies, add_default, identity)
    return token_list, all_list, ident_list


@lru_cache(maxsize=LOGIN_MEMO_SIZE)
def _login_policies(
    policies: tuple[str, ...], add_default: bool, identity: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    token, combined, ident = _login_policy_lists(policies, add_default, identity)
    return tuple(token), tuple(combined), tuple(ident)


def _login_policy_lists(
    policies: Sequence[str], add_default: bool, identity: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    token_policies = sanitize_policies(policies, add_default)
    all_policies = sanitize_policies(token_policies + list(identity), False)
    for p in all_policies:
        if p == "root":
            raise ErrorResponse("auth methods cannot create root tokens")
        if p in NON_ASSIGNABLE:
            raise ErrorResponse(f'cannot assign policy "{p}"')
    return token_policies, all_policies, remove_duplicates(identity)

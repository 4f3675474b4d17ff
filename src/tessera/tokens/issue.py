"""Turning requests into tokens: auth/token/create* and the token a login returns.

Both paths decide "which type" and "which TTL" here so that a role, a mount's tuning and a
request can never disagree about them (token_store.go handleCreateCommon, request_handling.go
LoginCreateToken/RegisterAuth, router.go's token_type override).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mypy_extensions import mypyc_attr

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
@mypyc_attr(native_class=False)  # create_args fills its __dict__ at once (compiled too)
@dataclass
class CreateArgs:
    """The fields of auth/token/create* as the handler reads them, converted (``FieldData``'s
    types: token_create.py's CREATE_FIELDS), each read once."""

    type: str = ""
    ttl: str = ""
    lease: str = ""
    explicit_max_ttl: str = ""
    period: str = ""
    num_uses: int = 0
    renewable: bool = True
    entity_alias: str = ""
    meta: dict[str, str] | None = None  # None: not given (or given as null)
    display_name: str = ""
    id: str = ""
    policies: list[str] = field(default_factory=list)
    no_default_policy: bool = False
    no_parent: bool = False

    @classmethod
    def from_fields(cls, data: FieldData) -> CreateArgs:
        """The generic path's reading: every field through the schema (validated already)."""
        meta, meta_given = data.get_ok("meta")
        return cls(
            type=data.get("type"),
            ttl=data.get("ttl"),
            lease=data.get("lease"),
            explicit_max_ttl=data.get("explicit_max_ttl"),
            period=data.get("period"),
            num_uses=data.get("num_uses"),
            renewable=data.get("renewable"),
            entity_alias=data.get("entity_alias"),
            meta=dict(meta) if meta_given and meta is not None else None,
            display_name=data.get("display_name"),
            id=data.get("id"),
            policies=data.get("policies"),
            no_default_policy=data.get("no_default_policy"),
            no_parent=data.get("no_parent"),
        )


# Each create field whose JSON value converts to itself when it has this exact Python type.
_PLAIN_TYPES: dict[str, type] = {
    "type": str,
    "ttl": str,
    "lease": str,
    "explicit_max_ttl": str,
    "period": str,
    "entity_alias": str,
    "display_name": str,
    "id": str,
    "renewable": bool,
    "no_default_policy": bool,
    "no_parent": bool,
    "num_uses": int,
    "policies": list,
    "meta": dict,
}
_INT64 = range(-(2**63), 2**63)
_CONTAINERS = frozenset((list, dict, int))  # the plain types whose value needs a look inside
_ONLY_STR = frozenset((str,))


def plain_create_args(body: dict[str, Any]) -> CreateArgs | None:
    """``CreateArgs.from_fields`` for a body whose every value is already of its field's type
    (strings, booleans, an int64, a list of strings, a map of strings): the same values, with no
    schema walk. None for anything else (an unknown field, a null, a value to convert): the
    generic path converts it, and warns or refuses as it does."""
    types = _PLAIN_TYPES
    for name, value in body.items():
        kind = types.get(name)
        if kind is None or type(value) is not kind:
            return None
        if kind in _CONTAINERS and not _plain_items(kind, value):
            return None
    # The fields' defaults, then the body's values (one dict update each: no keyword call).
    args = object.__new__(CreateArgs)
    state = args.__dict__
    state.update(_CREATE_DEFAULTS)
    state.update(body)
    state["policies"] = list(state["policies"])
    meta = state["meta"]
    if meta is not None:
        state["meta"] = dict(meta)
    return args


_CREATE_DEFAULTS = {name: value for name, value in CreateArgs().__dict__.items() if name != "policies"}
_CREATE_DEFAULTS["policies"] = ()


def _plain_items(kind: type, value: Any) -> bool:
    """A list's or map's items are strings; an int fits Go's int64 (else the schema refuses it).
    The items' exact types are gathered in C (``map``/``set``): a generator costs more than
    the look itself on every creation's short policy list."""
    if kind is list:
        return set(map(type, value)) <= _ONLY_STR
    if kind is dict:
        return set(map(type, value.values())) <= _ONLY_STR
    return kind is not int or value in _INT64


def create_token(
    core: TokenHost, req: Request, data: FieldData, *, orphan: bool, role: Role | None
) -> Response:
    parent = _creating_parent(core.tokens, req)
    return issue_created(
        core,
        CreateArgs.from_fields(data),
        parent,
        is_sudo(core, req),
        path="auth/token/" + req.path,
        mount_point=req.mount_point or "auth/token/",
        orphan=orphan,
        role=role,
    )


def issue_created(
    core: TokenHost,
    args: CreateArgs,
    parent: TokenEntry,
    sudo: bool,
    *,
    path: str,
    mount_point: str,
    orphan: bool,
    role: Role | None,
) -> Response:
    """The token ``parent`` asks for (``path``: the creation path, auth/token/create...), and the
    response of auth/token/create*: token_store.go handleCreateCommon after its field reads."""
    entry, explicit_max, period, warnings = mint_created(
        core, args, parent, sudo, path=path, mount_point=mount_point, orphan=orphan, role=role
    )
    resp = Response(warnings=warnings)
    resp.auth = auth_block(core, entry, ttl=entry.ttl, renewable=entry.renewable, num_uses=entry.num_uses)
    resp.auth.period = period
    resp.auth.explicit_max_ttl = explicit_max
    policy_warnings(core, entry.policies, resp.warnings)
    return resp


def mint_created(
    core: TokenHost,
    args: CreateArgs,
    parent: TokenEntry,
    sudo: bool,
    path: str,
    mount_point: str,
    orphan: bool,
    role: Role | None,
) -> tuple[TokenEntry, int, int, list[str]]:
    """The token of ``issue_created``, made and counted: (entry, explicit max TTL, period, the
    warnings so far). The policy warnings follow the response's ``auth``. Shared by the generic
    handler and the prepared route (core/prepared.py), which renders its envelope itself."""
    warnings: list[str] = []
    num_uses = args.num_uses
    token_type, renewable = _token_type(args.type, args.renewable, role, args)
    if num_uses < 0:
        raise ErrorResponse("number of uses cannot be negative")
    explicit_entity = _resolve_entity_alias(core, args.entity_alias, role)
    entry = TokenEntry.blank()  # the fields set one by one: keywords cost (_login_entry)
    entry.parent = parent.salted_id
    entry.path = path
    entry.meta = args.meta
    entry.display_name = "token"
    entry.num_uses = num_uses
    entry.creation_time = float(int(time.time()))
    entry.type = token_type
    if role is not None:
        renewable = _apply_role(entry, role, renewable)
    _name_and_id(entry, args, sudo)
    entry.policies = resolve_token_policies(
        args.policies,
        no_default_policy=args.no_default_policy,
        role=role,
        parent=parent,
        is_sudo=sudo,
    )
    if "root" in entry.policies:
        if "root" not in parent.policies:
            raise ErrorResponse("root tokens may not be created without parent token being root")
        if entry.type == BATCH:
            raise ErrorResponse("batch tokens cannot be root tokens")
    _set_parentage(entry, args, role, parent, orphan=orphan, sudo=sudo, explicit_entity=explicit_entity)
    explicit_max, period = _merge_ttl_period(args, role, entry, sudo, warnings)
    entry.renewable = _settle_ttl(core, entry, parent, explicit_max, period, warnings) and renewable
    if entry.id:
        warnings.append(CUSTOM_ID_WARNING)
    try:
        core.tokens.create(entry)
    except TokenStoreError as exc:
        raise ErrorResponse(str(exc)) from None
    count_creation(core, "token", mount_point, entry)
    return entry, explicit_max, period, warnings


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


def _token_type(
    token_type_str: str, renewable: bool, role: Role | None, args: CreateArgs
) -> tuple[str, bool]:
    """(service or batch, renewable as asked): the role's type, else the request's."""
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
    if token_type_str in ("", SERVICE):
        return SERVICE, renewable
    if token_type_str != BATCH:
        raise ErrorResponse("invalid 'token_type' value")
    bad = _batch_refusal(args.explicit_max_ttl, args.num_uses, args.period)
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


def _apply_role(entry: TokenEntry, role: Role, renewable: bool) -> bool:
    """The role's name, use limit and path suffix on the entry; whether it stays renewable."""
    entry.role = role.name
    if role.token_num_uses and (entry.num_uses == 0 or role.token_num_uses < entry.num_uses):
        entry.num_uses = role.token_num_uses
    if role.path_suffix:
        entry.path = f"{entry.path}/{role.path_suffix}"
    return bool(renewable and role.renewable)


def _name_and_id(entry: TokenEntry, args: CreateArgs, sudo: bool) -> None:
    display_name = args.display_name
    if display_name:
        full = _DISPLAY_SANITIZE.sub("-", "token-" + display_name)
        entry.display_name = full[:-1] if full.endswith("-") else full
    custom_id = args.id
    if custom_id:
        if not sudo:
            raise ErrorResponse("root or sudo privileges required to specify token id")
        entry.id = custom_id


def _set_parentage(
    entry: TokenEntry,
    args: CreateArgs,
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
    elif args.no_parent:
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
    core: TokenHost,
    entry: TokenEntry,
    parent: TokenEntry,
    explicit_max: int,
    period: int,
    warnings: list[str],
) -> bool:
    """The entry's TTL from the mount's limits; False when the token ends up non-expiring (then
    it cannot be renewable)."""
    default_ttl, max_ttl = core.mount_ttls(token_mount(core))
    if period > 0 or entry.ttl > 0 or "root" not in entry.policies:
        try:
            ttl, more = calculate_ttl(
                default_ttl=default_ttl,
                max_ttl=max_ttl,
                backend_ttl=entry.ttl,
                period=period,
                explicit_max_ttl=explicit_max,
                start=entry.creation_time,
            )
        except TTLError as exc:
            raise InternalError(str(exc)) from None
        warnings.extend(more)
        entry.ttl = ttl
    if entry.ttl == 0 and explicit_max > 0:
        entry.ttl = explicit_max
    if entry.ttl == 0:
        if parent.creation_ttl != 0:
            raise ErrorResponse("expiring root tokens cannot create non-expiring root tokens")
        entry.bound_cidrs = []
        return False
    return True


def _resolve_entity_alias(core: TokenHost, alias: str, role: Role | None) -> str:
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
    args: CreateArgs, role: Role | None, entry: TokenEntry, sudo: bool, warnings: list[str]
) -> tuple[int, int]:
    """token_store.go parseAndMergeTTLPeriod: (explicit max TTL to use, period to use)."""
    explicit_raw, period_raw = args.explicit_max_ttl, args.period
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
    ttl_raw = args.ttl
    if ttl_raw != "":
        value = _duration(ttl_raw)
        if value < 0:
            raise ErrorResponse("ttl must be positive")
        entry.ttl = value
    else:
        lease_raw = args.lease
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
                warnings.append(
                    "Explicit max TTL specified both during creation call and in role; using the lesser "
                    f"value of {explicit_max} seconds"
                )
        role_period = role.effective_period
        if role_period:
            if period == 0:
                period = role_period
            else:
                period = min(period, role_period)
                warnings.append(
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
    """The entry of a login's token. Its fields are set one by one on ``TokenEntry.blank()``:
    a dataclass ``__init__`` given a keyword for each of sixteen fields costs ~4k instructions
    more (callgrind), on every login, and even an empty one twice ``blank``'s."""
    entry = TokenEntry.blank()
    entry.path = req.full_path
    entry.meta = auth.metadata
    entry.display_name = auth.display_name
    entry.type = auth.token_type
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

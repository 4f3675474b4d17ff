"""The token fields every auth method shares (Vault's sdk/helper/tokenutil).

AppRole roles, userpass users and any later method declare the same ``token_*`` fields, parse them
with the same checks and turn them into the same ``Auth``: one place decides the token type, the
TTLs and the CIDR bindings whatever the login path. CIDR helpers that mimic go-sockaddr and
cidrutil live here too, because their error texts are part of the wire contract.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from ..framework import (
    Auth,
    Backend,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    Request,
    Response,
)
from ..storage.tap import ForwardToPrimary

TOKEN_TYPES = {"": "default", "default": "default", "service": "service", "batch": "batch"}

_PERIOD_HELP = (
    "If set, tokens created via this role will have no max lifetime; instead, their renewal period "
    'will be fixed to this value. This takes an integer number of seconds, or a string duration (e.g. "24h").'
)
_EXPLICIT_HELP = (
    "If set, tokens created via this role carry an explicit maximum TTL. During renewal, the current "
    "maximum TTL values of the role and the mount are not checked for changes, and any updates to these "
    "values will have no effect on the token being renewed."
)


def token_fields() -> dict[str, Field]:
    """The ``token_*`` field schemas (tokenutil.TokenFields)."""
    return {
        "token_bound_cidrs": Field(
            FieldType.COMMA_STRING_SLICE,
            "Comma separated string or JSON list of CIDR blocks. If set, specifies the blocks of IP "
            "addresses which are allowed to use the generated token.",
        ),
        "token_explicit_max_ttl": Field(FieldType.DURATION, _EXPLICIT_HELP),
        "token_max_ttl": Field(FieldType.DURATION, "The maximum lifetime of the generated token"),
        "token_no_default_policy": Field(
            FieldType.BOOL,
            "If true, the 'default' policy will not automatically be added to generated tokens",
        ),
        "token_period": Field(FieldType.DURATION, _PERIOD_HELP),
        "token_policies": Field(FieldType.COMMA_STRING_SLICE, "Comma-separated list of policies"),
        "token_type": Field(
            FieldType.STRING, "The type of token to generate, service or batch", default="default-service"
        ),
        "token_ttl": Field(FieldType.DURATION, "The initial ttl of the token to generate"),
        "token_num_uses": Field(
            FieldType.INT,
            "The maximum number of times a token may be used, a value of zero means unlimited",
        ),
        "token_strictly_bind_ip": Field(
            FieldType.BOOL,
            "If true, CIDRs for the token will be strictly bound to the source IP address of the login request",
        ),
    }


_DEPRECATED_TYPES = {
    "policies": FieldType.COMMA_STRING_SLICE,
    "num_uses": FieldType.INT,
    "ttl": FieldType.DURATION,
    "max_ttl": FieldType.DURATION,
    "period": FieldType.DURATION,
    "bound_cidrs": FieldType.COMMA_STRING_SLICE,
}


def deprecated_token_fields(*names: str) -> dict[str, Field]:
    """The pre-``token_*`` fields an auth method still accepts, each naming its successor."""
    return {
        name: Field(_DEPRECATED_TYPES[name], f"Use 'token_{name}' instead.", deprecated=True)
        for name in names
    }


# -- CIDR helpers (go-sockaddr, cidrutil) --------------------------------------------------------
def parse_addr(text: str) -> str:
    """One address or CIDR as go-sockaddr prints it: a host (/32, /128) loses its mask."""
    raw = text.strip()
    try:
        if "/" in raw:
            iface = ipaddress.ip_interface(raw)
            if iface.network.prefixlen == iface.max_prefixlen:
                return str(iface.ip)
            return f"{iface.ip}/{iface.network.prefixlen}"
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ErrorResponse(
            f'error parsing address "{text}": Unable to convert "{text}" to an IPv4 or IPv6 address, '
            "or a UNIX Socket"
        ) from None


def parse_addrs(items: list[str]) -> list[str]:
    """parseutil.ParseAddrs: every entry an address or CIDR; raises with go-sockaddr's text."""
    return [parse_addr(s) for s in items]


def invalid_cidr(items: list[str]) -> str | None:
    """cidrutil.ValidateCIDRListSlice: the first entry that is not a CIDR block (Go's net.ParseCIDR)."""
    for block in items:
        text = block.strip()
        if "/" not in text:
            return text
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return text
    return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def ip_in_cidrs(addr: str, cidrs: list[str]) -> bool:
    """Whether ``addr`` lies in one of ``cidrs`` (bare addresses count as host blocks)."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for block in cidrs:
        try:
            if ip in _network(block):
                return True
        except ValueError:
            continue
    return False


def cidrs_subset(outer: list[str], inner: list[str]) -> bool:
    """cidrutil.SubsetBlocks: every block of ``inner`` lies inside some block of ``outer``."""
    try:
        outs = [_network(b) for b in outer]
        return all(any(n.version == o.version and n.subnet_of(o) for o in outs) for n in map(_network, inner))  # type: ignore[arg-type]
    except ValueError:
        return False


# -- policies (policyutil) -------------------------------------------------------------------
def parse_policies(values: list[str]) -> list[str]:
    """policyutil.ParsePolicies: trimmed, lower-cased, de-duplicated and sorted."""
    return sorted({p.strip().lower() for p in values if p.strip()})


def equivalent_policies(a: list[str] | None, b: list[str] | None) -> bool:
    """policyutil.EquivalentPolicies: the same set once ``default`` is ignored."""
    return {p for p in a or [] if p != "default"} == {p for p in b or [] if p != "default"}


def upgrade_values(data: FieldData, params: Any, pairs: tuple[tuple[str, str], ...]) -> None:
    """tokenutil.UpgradeValue for each (deprecated field, ``token_*`` successor) pair.

    The successor sent: the old field mirrors it if it was sent too, else it is emptied. Only the
    old field sent: it sets both (policies and CIDRs parsed as the successor would be).
    """
    for old, new in pairs:
        if data.has(new):
            current = getattr(params, new)
            setattr(params, old, _copy(current) if data.has(old) else _empty(current))
        elif data.has(old):
            value = data.get(old)
            if old == "policies":
                value = parse_policies(value)
            elif old == "bound_cidrs":
                value = parse_addrs(value)
            setattr(params, old, value)
            setattr(params, new, _copy(value))


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _empty(value: Any) -> Any:
    return [] if isinstance(value, list) else 0


# -- the parameters --------------------------------------------------------------------------
@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed outside the compiled modules
@dataclass
class TokenParams:
    """What a role or user says about the tokens its logins get (tokenutil.TokenParams)."""

    token_bound_cidrs: list[str] = field(default_factory=list)
    token_explicit_max_ttl: int = 0
    token_max_ttl: int = 0
    token_no_default_policy: bool = False
    token_num_uses: int = 0
    token_period: int = 0
    token_policies: list[str] = field(default_factory=list)
    token_type: str = "default"
    token_ttl: int = 0
    token_strictly_bind_ip: bool = False

    def token_json(self) -> dict[str, Any]:
        return asdict(self)

    def load_token_json(self, doc: dict[str, Any]) -> None:
        for name in TokenParams.__dataclass_fields__:
            if name in doc and doc[name] is not None:
                setattr(self, name, doc[name])

    def parse_token_fields(self, data: FieldData) -> None:
        """ParseTokenFields: apply the supplied fields, refusing what Vault refuses, in its order."""
        cidrs, ok = data.get_ok("token_bound_cidrs")
        if ok:
            self.token_bound_cidrs = parse_addrs(cidrs)
        value, ok = data.get_ok("token_explicit_max_ttl")
        if ok:
            self.token_explicit_max_ttl = value
        value, ok = data.get_ok("token_max_ttl")
        if ok:
            self.token_max_ttl = value
        if self.token_max_ttl < 0:
            raise ErrorResponse("'token_max_ttl' cannot be negative")
        value, ok = data.get_ok("token_no_default_policy")
        if ok:
            self.token_no_default_policy = value
        value, ok = data.get_ok("token_period")
        if ok:
            self.token_period = value
        if self.token_period < 0:
            raise ErrorResponse("'token_period' cannot be negative")
        value, ok = data.get_ok("token_policies")
        if ok:
            self.token_policies = list(value)
        value, ok = data.get_ok("token_type")
        if ok:
            if value not in TOKEN_TYPES:
                raise ErrorResponse(f"invalid 'token_type' value {json.dumps(value)}")
            self.token_type = TOKEN_TYPES[value]
        value, ok = data.get_ok("token_num_uses")
        if ok:
            self.token_num_uses = value
        if self.token_num_uses < 0:
            raise ErrorResponse("'token_num_uses' cannot be negative")
        if self.token_type == "batch":
            if self.token_period != 0:
                raise ErrorResponse(
                    "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"
                )
            if self.token_num_uses != 0:
                raise ErrorResponse(
                    "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with "
                    "limited use count"
                )
        value, ok = data.get_ok("token_ttl")
        if ok:
            self.token_ttl = value
        if self.token_ttl < 0:
            raise ErrorResponse("'token_ttl' cannot be negative")
        if self.token_ttl > 0 and self.token_max_ttl > 0 and self.token_ttl > self.token_max_ttl:
            raise ErrorResponse("'token_ttl' cannot be greater than 'token_max_ttl'")
        value, ok = data.get_ok("token_strictly_bind_ip")
        if ok:
            self.token_strictly_bind_ip = value
        if self.token_strictly_bind_ip and self.token_bound_cidrs:
            raise ErrorResponse("'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one")

    def populate_token_data(self, out: dict[str, Any]) -> None:
        """PopulateTokenData: the ``token_*`` keys of a role/user read."""
        out["token_bound_cidrs"] = list(self.token_bound_cidrs)
        out["token_explicit_max_ttl"] = self.token_explicit_max_ttl
        out["token_max_ttl"] = self.token_max_ttl
        out["token_no_default_policy"] = self.token_no_default_policy
        out["token_period"] = self.token_period
        out["token_policies"] = list(self.token_policies)
        out["token_type"] = self.token_type
        out["token_ttl"] = self.token_ttl
        out["token_num_uses"] = self.token_num_uses
        out["token_strictly_bind_ip"] = self.token_strictly_bind_ip

    def populate_token_auth(self, auth: Auth, req: Request) -> None:
        """PopulateTokenAuth: copy the parameters into a login's ``Auth``."""
        self._copy_token_fields(auth)
        auth.renewable = True
        if self.token_strictly_bind_ip:
            auth.bound_cidrs = parse_addrs([req.remote_addr])
        else:
            auth.bound_cidrs = list(self.token_bound_cidrs)

    def token_auth(
        self,
        req: Request,
        *,
        metadata: dict[str, str] | None,
        internal_data: dict[str, Any],
        alias_name: str,
        bound_cidrs: list[str] | None = None,
    ) -> Auth:
        """A login's orphan ``Auth`` made in one call: what ``Auth(...)`` and
        ``populate_token_auth`` give, with ``bound_cidrs`` (when not None) in place of the
        parameters' CIDRs, and the source address alone when the token is strictly bound to it.
        (The fields are set after a short constructor call: a dataclass ``__init__`` given a
        keyword per field costs more.)"""
        auth = Auth(metadata=metadata, internal_data=internal_data, alias_name=alias_name, orphan=True)
        self._copy_token_fields(auth)
        if self.token_strictly_bind_ip:
            auth.bound_cidrs = parse_addrs([req.remote_addr])
        elif bound_cidrs is None:
            auth.bound_cidrs = list(self.token_bound_cidrs)
        else:
            auth.bound_cidrs = bound_cidrs
        return auth

    def _copy_token_fields(self, auth: Auth) -> None:
        """The parameters every login's ``Auth`` carries (lists copied)."""
        policies = self.token_policies
        auth.policies = list(policies)
        auth.token_policies = list(policies)
        auth.ttl = self.token_ttl
        auth.max_ttl = self.token_max_ttl
        auth.explicit_max_ttl = self.token_explicit_max_ttl
        auth.period = self.token_period
        auth.num_uses = self.token_num_uses
        auth.token_type = self.token_type
        auth.no_default_policy = self.token_no_default_policy

    def renew_auth(self, auth: Auth) -> Auth:
        """pathLoginRenew's common end: the role's (or user's) current TTLs and period apply."""
        auth.ttl, auth.max_ttl, auth.period = self.token_ttl, self.token_max_ttl, self.token_period
        return auth


def page_fields() -> dict[str, Field]:
    """The ``after`` and ``limit`` fields of a paged LIST that ``list_page`` reads."""
    return {
        "after": Field(FieldType.STRING, "Optional entry to list begin listing after."),
        "limit": Field(FieldType.INT, "Optional number of entries to return."),
    }


def list_page(keys: list[str], data: FieldData) -> list[str]:
    """Storage.ListPage: sorted keys after ``after`` (exclusive), at most ``limit`` (<= 0: all)."""
    after: str = data.get("after") if "after" in data.schema else ""
    limit: int = data.get("limit") if "limit" in data.schema else 0
    out = sorted(k for k in keys if not after or k > after)
    return out[:limit] if limit > 0 else out


def login_entity(core: Any, req: Request, alias_name: str, metadata: dict[str, str] | None) -> str:
    """The entity of a login's alias on this mount, created on first login ("" without identity)."""
    route = core.router.get("identity/") if core is not None else None
    maker = getattr(route.backend, "lookup_or_create_entity", None) if route is not None else None
    if maker is None or not alias_name:
        return ""
    try:
        return str(maker(req.mount_accessor, req.mount_type, alias_name, metadata) or "")
    except ForwardToPrimary:  # a performance secondary: identity replicates, its primary makes it
        return str(core.entity_on_primary(req.mount_accessor, alias_name, metadata or {}))


@dataclass(eq=False)
class AuthBackend(Backend):
    """A credential backend: existence checks validate fields, and renewals ask the method.

    Vault validates the request's fields during the existence check and answers a bad value with
    a bare 400 (no "Field validation failed" prefix): ``Backend.existence`` does that for every
    backend (this class once repeated it, routing every login twice more for nothing).
    ``renew_auth`` is the method's renew hook (AuthRenew).
    """

    renew_hook: Callable[[Request, Auth], Auth | None] | None = None

    def renew_check(self, req: Request, token_entry: Any) -> Auth | None:
        """The grant a renewal of ``token_entry`` may have, or None when it must not be renewed.

        Raises a VaultError when the method refuses (e.g. the role is gone). The returned Auth
        carries the token's policies, metadata and internal data with the role's or user's
        current ``ttl``, ``max_ttl`` and ``period``; the caller applies the TTL arithmetic.
        """
        auth = Auth(
            policies=list(token_entry.policies),
            token_policies=list(token_entry.policies),
            metadata=dict(token_entry.meta or {}),
            display_name=token_entry.display_name,
            ttl=token_entry.ttl,
            max_ttl=getattr(token_entry, "max_ttl", 0),
            explicit_max_ttl=token_entry.explicit_max_ttl,
            period=token_entry.period,
            renewable=token_entry.renewable,
            entity_id=token_entry.entity_id,
            token_type=token_entry.type,
            bound_cidrs=list(token_entry.bound_cidrs),
            internal_data=dict(getattr(token_entry, "auth_internal_data", {}) or {}),
            client_token=token_entry.id,
            accessor=token_entry.accessor,
        )
        if self.renew_hook is None:
            return auth
        return self.renew_hook(req, auth)

    def auth_renew(self, req: Request, auth: Auth) -> Response | None:
        """The same check for callers holding the stored grant (tokens/renew.py's hook)."""
        if self.renew_hook is None:
            return Response(auth=auth)
        granted = self.renew_hook(req, auth)
        return None if granted is None else Response(auth=granted)

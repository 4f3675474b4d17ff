"""Token roles (auth/token/roles/:name): stored shape, validation with Vault's wording, and read-out.

A role lets a non-sudo caller mint tokens outside the parent-subset rule, so its validation is
strict; it lives here, away from the HTTP layer, to be shared by creation and renewal.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..framework import ErrorResponse, FieldData, Operation
from ..framework.fields import to_string
from ..storage.base import Storage
from .policies import remove_duplicates, sanitize_policies

PATH_SUFFIX_RE = re.compile(r"\w[\w\-.]+\w")
PATH_SUFFIX_TEXT = r"\w[\w-.]+\w"  # as Go prints the pattern in the error
TOKEN_TYPES = ("service", "batch", "default-service", "default-batch")


@dataclass
class Role:
    name: str
    allowed_policies: list[str] = field(default_factory=list)
    disallowed_policies: list[str] = field(default_factory=list)
    allowed_policies_glob: list[str] = field(default_factory=list)
    disallowed_policies_glob: list[str] = field(default_factory=list)
    orphan: bool = False
    renewable: bool = True
    path_suffix: str = ""
    allowed_entity_aliases: list[str] | None = None
    token_type: str = "default-service"
    # Deprecated names are kept as given so that a read returns what was written.
    period: int = 0
    token_period: int = 0
    explicit_max_ttl: int = 0
    token_explicit_max_ttl: int = 0
    bound_cidrs: list[str] = field(default_factory=list)
    token_bound_cidrs: list[str] = field(default_factory=list)
    token_no_default_policy: bool = False
    token_num_uses: int = 0

    def has_policy_lists(self) -> bool:
        return bool(
            self.allowed_policies
            or self.disallowed_policies
            or self.allowed_policies_glob
            or self.disallowed_policies_glob
        )

    @property
    def effective_period(self) -> int:
        return self.token_period or self.period

    @property
    def effective_explicit_max_ttl(self) -> int:
        return self.token_explicit_max_ttl or self.explicit_max_ttl

    @property
    def effective_bound_cidrs(self) -> list[str]:
        return self.token_bound_cidrs or self.bound_cidrs

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "period": self.period,
            "token_period": self.effective_period,
            "explicit_max_ttl": self.explicit_max_ttl,
            "token_explicit_max_ttl": self.effective_explicit_max_ttl,
            "disallowed_policies": self.disallowed_policies,
            "allowed_policies": self.allowed_policies,
            "disallowed_policies_glob": self.disallowed_policies_glob,
            "allowed_policies_glob": self.allowed_policies_glob,
            "name": self.name,
            "orphan": self.orphan,
            "path_suffix": self.path_suffix,
            "renewable": self.renewable,
            "token_type": self.token_type,
            "allowed_entity_aliases": self.allowed_entity_aliases,
            "token_no_default_policy": self.token_no_default_policy,
        }
        if self.effective_bound_cidrs:
            out["token_bound_cidrs"] = self.effective_bound_cidrs
        if self.bound_cidrs:
            out["bound_cidrs"] = self.bound_cidrs
        if self.token_num_uses > 0:
            out["token_num_uses"] = self.token_num_uses
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Role:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        role = cls(**known)
        if role.token_type in ("", "default"):
            role.token_type = "default-service"
        return role


class RoleStore:
    """Roles under ``roles/<name>`` in the token store's storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def get(self, name: str) -> Role | None:
        if not name:
            return None
        doc = self.storage.get_json("roles/" + name)
        return None if doc is None else Role.from_json(doc)

    def put(self, role: Role) -> None:
        self.storage.put_json("roles/" + role.name, asdict(role))

    def delete(self, name: str) -> None:
        self.storage.delete("roles/" + name)

    def list(self) -> list[str]:
        return self.storage.list("roles/")


def parse_cidrs(values: list[str]) -> list[str]:
    """parseutil.ParseAddrs: addresses or CIDRs, a full-length mask printed as the bare address."""
    out = []
    for raw in values:
        text = raw.strip()
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise ValueError(
                f'error parsing address "{text}": Unable to convert "{text}" to an IPv4 or IPv6 '
                "address, or a UNIX Socket"
            ) from None
        full = 32 if iface.version == 4 else 128
        prefix = iface.network.prefixlen
        out.append(str(iface.ip) if prefix == full else f"{iface.ip}/{prefix}")
    return out


def _nonneg_duration(data: FieldData, name: str) -> tuple[int, bool]:
    """A TypeDurationSecond field: Vault checks the sign only when the handler reads it."""
    value, ok = data.get_ok(name)
    if ok and value < 0:
        raise ErrorResponse(
            f'error converting input for field "{name}": cannot provide negative value '
            f"'{to_string(data.get_raw(name))}'"
        )
    return value, ok


def apply_role_update(role: Role, data: FieldData, operation: Operation, mount_max_ttl: int) -> list[str]:
    """Apply a create/update request to ``role`` in place; returns warnings (token_store.go order)."""
    _apply_own_fields(role, data, create=operation == Operation.CREATE)
    _apply_token_type(role, data)
    warnings = _apply_deprecated_fields(role, data)
    warnings += _explicit_max_ttl(role, data, mount_max_ttl)
    value, ok = data.get_ok("token_num_uses")
    if ok:
        role.token_num_uses = int(value)
    if role.token_type == "batch":
        _check_batch(role)
    value, ok = data.get_ok("allowed_entity_aliases")
    if ok:
        role.allowed_entity_aliases = remove_duplicates(value)
    return warnings


def _apply_own_fields(role: Role, data: FieldData, *, create: bool) -> None:
    """orphan, renewable, path_suffix and the policy lists (on create, absent ones reset)."""

    def take(name: str) -> tuple[Any, bool]:
        value, ok = data.get_ok(name)
        return value, ok or create

    value, ok = take("orphan")
    if ok:
        role.orphan = bool(value)
    value, ok = take("renewable")
    if ok:
        role.renewable = bool(value)
    value, ok = take("path_suffix")
    if ok:
        if value and not PATH_SUFFIX_RE.search(value):
            raise ErrorResponse(
                "given role path suffix contains invalid characters; must match " + PATH_SUFFIX_TEXT
            )
        role.path_suffix = value
    if ".." in role.path_suffix:
        raise ErrorResponse("error registering path suffix: path cannot contain parent references")
    value, ok = take("allowed_policies")
    if ok:
        role.allowed_policies = sanitize_policies(value, False)
    value, ok = take("disallowed_policies")
    if ok:
        role.disallowed_policies = remove_duplicates(value)
    value, ok = take("allowed_policies_glob")
    if ok:
        role.allowed_policies_glob = sanitize_policies(value, False)
    value, ok = take("disallowed_policies_glob")
    if ok:
        role.disallowed_policies_glob = remove_duplicates(value)


def _apply_token_type(role: Role, data: FieldData) -> None:
    """The tokenutil fields, then token_type, as Vault does (its checks see the old type)."""
    new_type: str | None = None
    old_type = role.token_type
    if "token_type" in data.raw:
        raw_type = data.raw["token_type"]
        if raw_type is None:
            raise ErrorResponse("Invalid 'token_type' value: null")
        new_type = to_string(raw_type)
        role.token_type = "default"
    _parse_token_fields(role, data)
    role.token_type = old_type if old_type not in ("", "default") else "default-service"
    if new_type is not None:
        if new_type not in TOKEN_TYPES:
            raise ErrorResponse(f"invalid 'token_type' value \"{new_type}\"")
        role.token_type = new_type


def _apply_deprecated_fields(role: Role, data: FieldData) -> list[str]:
    """period and bound_cidrs, unless their token_* successors are given (then a warning)."""
    warnings: list[str] = []
    _, has_new = data.get_ok("token_period")
    if not has_new:
        period, has_old = _nonneg_duration(data, "period")
        if has_old:
            role.period = period
            role.token_period = period
    else:
        if data.has("period"):
            warnings.append(
                "Both 'token_period' and deprecated 'period' value supplied, ignoring the deprecated value"
            )
        role.period = 0

    _, has_new = data.get_ok("token_bound_cidrs")
    if not has_new:
        cidrs, has_old = data.get_ok("bound_cidrs")
        if has_old:
            try:
                role.bound_cidrs = parse_cidrs(cidrs)
            except ValueError as exc:
                raise ErrorResponse(f"error parsing bound_cidrs: {exc}") from None
            role.token_bound_cidrs = list(role.bound_cidrs)
    else:
        if data.has("bound_cidrs"):
            warnings.append(
                "Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, ignoring the deprecated value"
            )
        role.bound_cidrs = []
    return warnings


def _explicit_max_ttl(role: Role, data: FieldData, mount_max_ttl: int) -> list[str]:
    """explicit_max_ttl (deprecated) against token_explicit_max_ttl, and the mount's limit."""
    warnings: list[str] = []
    final_explicit = role.token_explicit_max_ttl
    _, has_new = data.get_ok("token_explicit_max_ttl")
    if not has_new:
        explicit, has_old = _nonneg_duration(data, "explicit_max_ttl")
        if has_old:
            role.explicit_max_ttl = explicit
            role.token_explicit_max_ttl = explicit
        final_explicit = role.explicit_max_ttl
    else:
        if data.has("explicit_max_ttl"):
            warnings.append(
                "Both 'token_explicit_max_ttl' and deprecated 'explicit_max_ttl' value supplied, "
                "ignoring the deprecated value"
            )
        role.explicit_max_ttl = 0
    if final_explicit and mount_max_ttl and final_explicit > mount_max_ttl:
        warnings.append(
            f"Given explicit max TTL of {final_explicit} is greater than system/mount allowed value of "
            f"{mount_max_ttl} seconds; until this is fixed attempting to create tokens against this role "
            "will result in an error"
        )
    return warnings


def _check_batch(role: Role) -> None:
    """A batch role cannot promise what batch tokens lack."""
    if not role.orphan:
        raise ErrorResponse("'token_type' cannot be 'batch' when role is set to generate non-orphan tokens")
    if role.period or role.token_period:
        raise ErrorResponse("'token_type' cannot be 'batch' when role is set to generate periodic tokens")
    if role.renewable:
        raise ErrorResponse("'token_type' cannot be 'batch' when role is set to generate renewable tokens")
    if role.explicit_max_ttl or role.token_explicit_max_ttl:
        raise ErrorResponse(
            "'token_type' cannot be 'batch' when role is set to generate tokens with an explicit max TTL"
        )


def _parse_token_fields(role: Role, data: FieldData) -> None:
    """tokenutil.ParseTokenFields restricted to the fields token roles accept."""

    def fail(msg: str) -> None:
        raise ErrorResponse("error parsing role fields: " + msg)

    cidrs, ok = data.get_ok("token_bound_cidrs")
    if ok:
        try:
            role.token_bound_cidrs = parse_cidrs(cidrs)
        except ValueError as exc:
            fail(str(exc))
    explicit, ok = _nonneg_duration(data, "token_explicit_max_ttl")
    if ok:
        role.token_explicit_max_ttl = explicit
    no_default, ok = data.get_ok("token_no_default_policy")
    if ok:
        role.token_no_default_policy = bool(no_default)
    period, ok = _nonneg_duration(data, "token_period")
    if ok:
        role.token_period = period
    uses, ok = data.get_ok("token_num_uses")
    num_uses = int(uses) if ok else role.token_num_uses
    if num_uses < 0:
        fail("'token_num_uses' cannot be negative")
    if role.token_type in ("batch", "default-batch"):
        if role.token_period:
            fail("'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens")
        if num_uses:
            fail(
                "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count"
            )
    if ok:
        role.token_num_uses = num_uses

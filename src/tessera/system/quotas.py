"""sys/quotas/config and sys/quotas/rate-limit[/<name>]: managing rate-limit quotas.

The handlers follow OpenBao's logical_system_quotas.go, texts included; enforcement lives in
``core/quotas.py``. Namespaces do not exist here, so every rule belongs to the root namespace.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..core.lease_quotas import LeaseCountQuota
from ..core.quotas import QuotaManager, RateLimitQuota, sanitize_quota_path
from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.backend import generic_name

if TYPE_CHECKING:
    from ..core.core import Core

ROLE_AND_SUFFIX = (
    "Quotas cannot contain both a path suffix and a role. If a role is provided, path must be a valid "
    "auth mount with a concept of roles"
)


def _manager(core: Core) -> QuotaManager:
    manager = getattr(core, "quotas", None)
    if manager is None:
        raise ErrorResponse("quota manager is not available")
    return manager


def _scope(core: Core, data: FieldData) -> tuple[str, str, str]:
    """A rule's (mount path, path suffix, role) from its ``path`` and ``role``, checked as Vault does."""
    mount_path = sanitize_quota_path(str(data.get("path") or ""))
    path_suffix = ""
    if mount_path:
        route = core.router.match(mount_path)
        if route is None:
            raise ErrorResponse(f'invalid mount path "{mount_path}"')
        prefix = route.entry.route_prefix
        path_suffix = mount_path.removeprefix(prefix).removesuffix("/")
        mount_path = prefix
    role = str(data.get("role") or "")
    if role:
        if path_suffix:
            raise ErrorResponse(ROLE_AND_SUFFIX)
        route = core.router.get(mount_path)
        if route is None or route.backend.kind != "credential":
            raise ErrorResponse(
                f'Mount path "{mount_path}" is not a valid auth method and therefore unsuitable '
                "for use with role-based quotas"
            )
        if route.backend.resolve_role is None:
            raise ErrorResponse(f'Mount path "{mount_path}" does not support use with role-based quotas')
    return mount_path, path_suffix, role


class QuotaHandlers:
    """The handlers of sys/quotas/*, over one Core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def read_config(self, req: Request, data: FieldData) -> Response:
        config = _manager(self.core).config
        return Response(
            data={
                "enable_rate_limit_audit_logging": config["enable_rate_limit_audit_logging"],
                "enable_rate_limit_response_headers": config["enable_rate_limit_response_headers"],
                "rate_limit_exempt_paths": list(config["rate_limit_exempt_paths"]),
            }
        )

    def write_config(self, req: Request, data: FieldData) -> None:
        # As Vault: every field is set from the request, so an omitted one falls back to its zero value.
        _manager(self.core).set_config(
            bool(data.get("enable_rate_limit_audit_logging")),
            bool(data.get("enable_rate_limit_response_headers")),
            [str(p) for p in data.get("rate_limit_exempt_paths") or []],
        )

    def list_quotas(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": _manager(self.core).names()})

    def read_quota(self, req: Request, data: FieldData) -> Response | None:
        quota = _manager(self.core).by_name(data.get("name"))
        return None if quota is None else Response(data=quota.api())

    def delete_quota(self, req: Request, data: FieldData) -> None:
        _manager(self.core).delete(data.get("name"))

    def write_quota(self, req: Request, data: FieldData) -> None:
        manager = _manager(self.core)
        name = data.get("name")
        rate = float(data.get("rate") or 0)
        if not rate > 0 or not math.isfinite(rate):
            raise ErrorResponse("'rate' is invalid")
        interval = int(data.get("interval") or 0) or 1
        block_interval = int(data.get("block_interval") or 0)
        mount_path, path_suffix, role = _scope(self.core, data)
        similar = manager.by_factors(mount_path, path_suffix, role)
        if similar is not None and similar.name != name:
            raise ErrorResponse(f'quota rule with similar properties exists under the name "{similar.name}"')
        inheritable, given = data.get_ok("inheritable")
        inheritable = bool(inheritable) if given else mount_path == ""
        existing = manager.by_name(name)
        manager.save(
            RateLimitQuota(
                name=name,
                mount_path=mount_path,
                path_suffix=path_suffix,
                # Vault keeps the role a rule was created with when it is updated.
                role=existing.role if existing is not None else role,
                rate=rate,
                interval=interval,
                block_interval=block_interval,
                inheritable=inheritable,
                id=existing.id if existing is not None else RateLimitQuota(name=name).id,
            )
        )


_QUOTA_FIELDS = {
    "type": Field(FieldType.STRING, "Type of the quota rule."),
    "name": Field(FieldType.STRING, "Name of the quota rule."),
    "path": Field(FieldType.STRING, "Path of the mount to apply the quota to; blank for a global quota."),
    "role": Field(FieldType.STRING, "Login role to apply this quota to (path must be an auth mount)."),
    "rate": Field(FieldType.FLOAT, "The maximum number of requests in a given interval (positive)."),
    "interval": Field(FieldType.DURATION, "The duration to enforce rate limiting for (default '1s')."),
    "block_interval": Field(FieldType.DURATION, "If set, a client over the limit is refused for this long."),
    "inheritable": Field(FieldType.BOOL, "Whether child namespaces use this quota."),
}


def quota_paths(core: Core) -> list[Path]:
    h = QuotaHandlers(core)
    return [
        *lease_count_paths(core),
        Path(
            r"quotas/config$",
            fields={
                "rate_limit_exempt_paths": Field(
                    FieldType.STRING_SLICE, "Paths exempt from all rate limit quotas; empty exempts none."
                ),
                "enable_rate_limit_audit_logging": Field(
                    FieldType.BOOL, "If set, audit log requests refused by rate limit quotas."
                ),
                "enable_rate_limit_response_headers": Field(
                    FieldType.BOOL, "If set, add rate limit quota headers to responses."
                ),
            },
            operations={Operation.READ: h.read_config, Operation.UPDATE: h.write_config},
            synopsis="Create, update and read the quota configuration.",
        ),
        Path(
            r"quotas/rate-limit/?$",
            operations={Operation.LIST: h.list_quotas},
            synopsis="Lists the names of all the rate limit quotas.",
        ),
        Path(
            r"quotas/rate-limit/" + generic_name("name"),
            fields=_QUOTA_FIELDS,
            operations={
                Operation.READ: h.read_quota,
                Operation.UPDATE: h.write_quota,
                Operation.DELETE: h.delete_quota,
            },
            synopsis="Get, create or update rate limit resource quota for an optional namespace or mount.",
        ),
    ]


def lease_count_paths(core: Core) -> list[Path]:
    """sys/quotas/lease-count[/<name>] (Vault Enterprise's API; OpenBao has none)."""

    def list_rules(req: Request, data: FieldData) -> Response:
        return Response(data={"keys": sorted(_manager(core).leases.rules)})

    def read_rule(req: Request, data: FieldData) -> Response | None:
        rule = _manager(core).leases.rules.get(data.get("name"))
        return None if rule is None else Response(data=rule.api())

    def delete_rule(req: Request, data: FieldData) -> None:
        _manager(core).delete_lease_rule(data.get("name"))

    def write_rule(req: Request, data: FieldData) -> None:
        manager = _manager(core)
        name = data.get("name")
        max_leases = int(data.get("max_leases") or 0)
        if max_leases <= 0:
            raise ErrorResponse("'max_leases' is invalid")
        mount_path, path_suffix, role = _scope(core, data)
        for other in manager.leases.rules.values():
            if other.factors == (mount_path, path_suffix, role) and other.name != name:
                raise ErrorResponse(
                    f'quota rule with similar properties exists under the name "{other.name}"'
                )
        inheritable, given = data.get_ok("inheritable")
        existing = manager.leases.rules.get(name)
        manager.save_lease_rule(
            LeaseCountQuota(
                name=name,
                mount_path=mount_path,
                path_suffix=path_suffix,
                role=existing.role if existing is not None else role,
                max_leases=max_leases,
                inheritable=bool(inheritable) if given else mount_path == "",
                id=existing.id if existing is not None else LeaseCountQuota(name=name).id,
            )
        )

    return [
        Path(
            r"quotas/lease-count/?$",
            operations={Operation.LIST: list_rules},
            synopsis="Lists the names of all the lease count quotas.",
        ),
        Path(
            r"quotas/lease-count/" + generic_name("name"),
            fields={
                "type": Field(FieldType.STRING, "Type of the quota rule."),
                "name": Field(FieldType.STRING, "Name of the quota rule."),
                "path": Field(FieldType.STRING, "Mount (and path under it) the quota covers; blank: global."),
                "role": Field(FieldType.STRING, "Login role the quota covers (path must be an auth mount)."),
                "max_leases": Field(FieldType.INT, "Maximum number of live leases the quota allows."),
                "inheritable": Field(FieldType.BOOL, "Whether child namespaces use this quota."),
            },
            operations={
                Operation.READ: read_rule,
                Operation.UPDATE: write_rule,
                Operation.DELETE: delete_rule,
            },
            synopsis="Get, create or update a lease count quota for the server or a mount.",
        ),
    ]

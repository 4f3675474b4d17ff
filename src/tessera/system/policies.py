"""sys/policies/acl/* and the legacy sys/policy/*: read, write, patch, delete and list ACL policies.

The legacy paths differ in three ways clients rely on: their data is also injected at the top
level of the body (``INJECTED_PATHS``, done by the HTTP layer), reads say ``rules`` instead of
``policy``, and a write may still use the deprecated ``rules`` field (with a warning).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..gocompat.durations import DurationError, parse_duration_second
from ..gocompat.times import rfc3339_nano_ns
from ..policy.parser import PolicyParseError
from ..policy.store import (
    PolicyStore,
    PolicyStoreError,
    decode_policy_text,
    parse_time_field,
)

if TYPE_CHECKING:
    from ..core.core import Core

# Paths (under the mount's full path) whose data the HTTP layer also writes at the top level.
INJECTED_PATHS = ("sys/policy", "sys/policy/*")

_DEPRECATED_RULES = "'rules' is deprecated, please use 'policy' instead"
_NO_POLICY = "'policy' parameter not supplied or empty"

_FIELDS: dict[str, Field] = {
    "name": Field(FieldType.STRING, "The name of the policy."),
    "policy": Field(FieldType.STRING, "The rules of the policy (HCL or JSON, optionally base64-encoded)."),
    "cas": Field(FieldType.INT, "The version the policy must currently have (check-and-set)."),
    "cas_required": Field(FieldType.BOOL, "Whether every later write must carry cas."),
    "expiration": Field(FieldType.ANY, "When the policy is deleted (RFC 3339 or epoch seconds)."),
    "ttl": Field(FieldType.SIGNED_DURATION, "How long the policy lives; not with expiration."),
    "allow_wildcards_in_identity_templates": Field(
        FieldType.BOOL, "Allow '*' and '+' in values filled into identity templates."
    ),
    "allow_slashes_in_identity_templates": Field(
        FieldType.BOOL, "Allow '/' in values filled into identity templates."
    ),
}
_LEGACY_FIELDS: dict[str, Field] = {
    **_FIELDS,
    "rules": Field(FieldType.STRING, "Deprecated: use policy.", deprecated=True),
}


def _store(core: Core) -> PolicyStore:
    store = core.policy_store
    if store is None:
        raise ErrorResponse("policy store is not available")
    return store  # type: ignore[no-any-return]


def _validated_lifetime(data: FieldData) -> tuple[bool, Any, bool, int]:
    """(expiration given, its parsed value, ttl given, ttl seconds), checked like field validation."""
    exp_given = data.get_raw("expiration") is not None
    ttl_given = data.get_raw("ttl") is not None
    expiration = None
    if exp_given:
        try:
            expiration = parse_time_field(data.get_raw("expiration"))
        except ValueError as exc:
            raise ErrorResponse(
                f'Field validation failed: error converting input for field "expiration": {exc}'
            ) from None
    ttl = 0
    if ttl_given:
        try:
            ttl = parse_duration_second(data.get_raw("ttl"))
        except DurationError as exc:
            raise ErrorResponse(
                f'Field validation failed: error converting input for field "ttl": {exc}'
            ) from None
        if ttl < 0:
            raise ErrorResponse(
                f"Field validation failed: error converting input for field \"ttl\": cannot provide negative value '{ttl}'"
            )
    return exp_given, expiration, ttl_given, ttl


def _lifetime(
    lifetime: tuple[bool, Any, bool, int], current: tuple[float, str] | None
) -> tuple[float, str] | None:
    exp_given, expiration, ttl_given, ttl = lifetime
    if exp_given and ttl_given:
        raise ErrorResponse("cannot supply both 'expiration' and 'ttl' for policies")
    if exp_given:
        result = expiration
    elif ttl_given:
        ns = time.time_ns() + ttl * 1_000_000_000
        result = (ns / 1e9, rfc3339_nano_ns(ns))
    else:
        result = current
    if result is not None and not time.time() < result[0]:
        raise ErrorResponse("refusing to update policy as expiration time has already elapsed")
    return result


def _save(store: PolicyStore, name: str, raw: str, **kwargs: Any) -> None:
    try:
        store.set(name, raw, **kwargs)
    except (PolicyParseError, PolicyStoreError) as exc:
        raise ErrorResponse(str(exc)) from None


class PolicyHandlers:
    """The handlers of sys/policy and sys/policies/acl, over one Core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def list_policies(self, req: Request, data: FieldData) -> Response:
        prefix = data.get("name") if "name" in data.schema else ""
        keys = _store(self.core).list(prefix)
        if prefix == "":
            keys.append("root")
        out: dict[str, Any] = {"keys": keys}
        if req.path.startswith("policy"):
            out["policies"] = keys
        return Response(data=out)

    def read_policy(self, req: Request, data: FieldData) -> Response | None:
        policy = _store(self.core).get(data.get("name"))
        if policy is None:
            return None
        return Response(data=policy.read_data(legacy=req.path.startswith("policy/")))

    def write_policy(self, req: Request, data: FieldData) -> Response | None:
        lifetime = _validated_lifetime(data)
        name = data.get("name").lower()
        if not name:
            raise ErrorResponse("policy name must be provided in the URL")
        resp = None
        raw = data.get("policy")
        if raw == "" and req.path.startswith("policy/"):
            raw = data.get("rules")
            resp = Response(warnings=[_DEPRECATED_RULES])
        if raw == "":
            raise ErrorResponse(_NO_POLICY)
        raw = decode_policy_text(raw)
        expiration = _lifetime(lifetime, None)
        cas, cas_given = data.get_ok("cas")
        _save(
            _store(self.core),
            name,
            raw,
            cas=cas if cas_given else None,
            cas_required=data.get("cas_required"),
            expiration=expiration,
            allow_wildcards_in_identity_templates=data.get("allow_wildcards_in_identity_templates"),
            allow_slashes_in_identity_templates=data.get("allow_slashes_in_identity_templates"),
        )
        return resp

    def patch_policy(self, req: Request, data: FieldData) -> Response | None:
        lifetime = _validated_lifetime(data)
        name = data.get("name").lower()
        if not name:
            raise ErrorResponse("policy name must be provided in the URL")
        store = _store(self.core)
        old = store.get(name)
        if old is None:
            raise ErrorResponse("policy not found")

        def pick(field: str, current: Any) -> Any:
            value, given = data.get_ok(field)
            return value if given else current

        raw = pick("policy", old.raw)
        if raw == "":
            raise ErrorResponse(_NO_POLICY)
        raw = decode_policy_text(raw)
        current = (old.expires_at, old.expiration) if old.expiration else None
        expiration = _lifetime(lifetime, current)
        _save(
            store,
            name,
            raw,
            cas=pick("cas", old.version),
            cas_required=pick("cas_required", old.cas_required),
            expiration=expiration,
            allow_wildcards_in_identity_templates=pick(
                "allow_wildcards_in_identity_templates", old.allow_wildcards_in_identity_templates
            ),
            allow_slashes_in_identity_templates=pick(
                "allow_slashes_in_identity_templates", old.allow_slashes_in_identity_templates
            ),
        )
        # Vault answers a patch with an empty (but present) response: 200, not 204.
        return Response(status=200)

    def delete_policy(self, req: Request, data: FieldData) -> Response | None:
        try:
            _store(self.core).delete(data.get("name"))
        except PolicyStoreError as exc:
            raise ErrorResponse(str(exc)) from None
        return None


_NAME_FIELD = {"name": _FIELDS["name"]}


def policy_paths(core: Core) -> list[Path]:
    h = PolicyHandlers(core)
    return [
        Path(
            "policy/?",
            operations={Operation.READ: h.list_policies, Operation.LIST: h.list_policies},
            synopsis="List the configured access control policies.",
        ),
        Path(
            "policy/(?P<name>.+)",
            fields=_LEGACY_FIELDS,
            operations={
                Operation.READ: h.read_policy,
                Operation.UPDATE: h.write_policy,
                Operation.DELETE: h.delete_policy,
            },
            takes_arbitrary_input=True,
            synopsis="Read, write or delete an access control policy (legacy path).",
        ),
        Path(
            "policies/acl/?",
            operations={Operation.LIST: h.list_policies},
            synopsis="List the configured access control policies.",
        ),
        Path(
            "policies/acl/(?P<name>.+)",
            fields=_FIELDS | _NAME_FIELD,
            operations={
                Operation.READ: h.read_policy,
                Operation.UPDATE: h.write_policy,
                Operation.PATCH: h.patch_policy,
                Operation.DELETE: h.delete_policy,
                Operation.LIST: h.list_policies,
            },
            takes_arbitrary_input=True,
            synopsis="Read, write, patch or delete an access control policy.",
        ),
    ]

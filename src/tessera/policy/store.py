"""Where ACL policies live: one JSON document per policy under ``policy/<name>``.

Tokens carry policy *names* only, so every request turns names into an :class:`ACL`. That is
cached per name tuple (and per entity when a policy is templated) and thrown away on any
policy write; policies with a TTL or expiration count as deleted once past it.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..framework.errors import InternalError
from ..gocompat.times import parse_rfc3339, rfc3339_nano_ns
from ..storage.base import Storage
from .acl import ACL
from .parser import Policy, PolicyParseError, TemplateInput, parse_policy

PREFIX = "policy/"
DEFAULT_POLICY_NAME = "default"
RESPONSE_WRAPPING_POLICY_NAME = "response-wrapping"
IMMUTABLE_POLICIES = ("root", RESPONSE_WRAPPING_POLICY_NAME)
NON_ASSIGNABLE_POLICIES = (RESPONSE_WRAPPING_POLICY_NAME,)

DEFAULT_POLICY = """
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}


# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"""

RESPONSE_WRAPPING_POLICY = """
path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

path "auth/token/revoke-self" {
    capabilities = ["update"]
}
"""


class PolicyStoreError(ValueError):
    """A refused write or delete; the message is what Vault answers (HTTP 400)."""


def sanitize_name(name: str) -> str:
    return name.strip().lower()


def decode_policy_text(text: str) -> str:
    """Vault accepts the policy base64-encoded: valid standard base64 is decoded first."""
    try:
        raw = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return text
    return raw.decode("utf-8", errors="replace")


def parse_time_field(value: Any) -> tuple[float, str]:
    """A TypeTime request field (RFC 3339 or epoch seconds) → (epoch seconds, RFC3339Nano text).

    Go keeps the offset it was given and prints ``Z`` for a zero offset; epoch input is UTC.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), rfc3339_nano_ns(int(value * 1_000_000_000))
    text = str(value)
    if text.lstrip("-").isdigit():
        return float(int(text)), rfc3339_nano_ns(int(text) * 1_000_000_000)
    m = _RFC3339_PARTS.match(text)
    try:
        epoch = parse_rfc3339(text)
    except ValueError:
        m = None
    if m is None:
        raise ValueError("could not parse string as date and time")
    frac = (m.group(2) or "").rstrip("0")
    zone = m.group(3)
    zone = "Z" if zone in ("Z", "z", "+00:00", "-00:00") else zone
    return epoch, m.group(1).replace("t", "T") + (frac if frac != "." else "") + zone


_RFC3339_PARTS = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass
class StoredPolicy:
    """A policy as stored (and as sys/policies/acl/<name> shows it), with its parsed rules."""

    name: str
    raw: str = ""
    version: int = 0
    cas_required: bool = False
    modified: str = ""
    expiration: str = ""
    expires_at: float = 0.0
    allow_wildcards_in_identity_templates: bool = False
    allow_slashes_in_identity_templates: bool = False
    templated: bool = False
    parsed: Policy = field(default_factory=Policy, repr=False)

    def expired(self, now: float | None = None) -> bool:
        return bool(self.expires_at) and (time.time() if now is None else now) >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "policy": self.raw,
            "version": self.version,
            "cas_required": self.cas_required,
            "modified": self.modified,
            "expiration": self.expiration,
            "expires_at": self.expires_at,
            "allow_wildcards_in_identity_templates": self.allow_wildcards_in_identity_templates,
            "allow_slashes_in_identity_templates": self.allow_slashes_in_identity_templates,
            "templated": self.templated,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> StoredPolicy:
        out = cls(
            name=doc["name"],
            raw=doc.get("policy", ""),
            version=int(doc.get("version", 0)),
            cas_required=bool(doc.get("cas_required", False)),
            modified=doc.get("modified", ""),
            expiration=doc.get("expiration", ""),
            expires_at=float(doc.get("expires_at", 0.0)),
            allow_wildcards_in_identity_templates=bool(doc.get("allow_wildcards_in_identity_templates")),
            allow_slashes_in_identity_templates=bool(doc.get("allow_slashes_in_identity_templates")),
        )
        out.parsed = parse_policy(out.raw, out.name)
        out.templated = out.parsed.templated
        return out

    def read_data(self, *, legacy: bool = False) -> dict[str, Any]:
        """The ``data`` of a read, in Vault's shape: ``{name, policy}`` (``rules`` on legacy sys/policy).

        OpenBao adds version, cas_required, modified and template flags here; Vault (and hvac's own
        tests) expect the two keys only, so Tessera answers as Vault (README lists the difference).
        """
        return {"name": self.name, "rules" if legacy else "policy": self.raw}


_ACL_CACHE_MAX = 4096

ROOT_POLICY = StoredPolicy(name="root", parsed=Policy(name="root"))
_ROOT_ACL = ACL([ROOT_POLICY.parsed])


class PolicyStore:
    """ACL policies in a storage view, with the caches every request relies on."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.RLock()
        self._generation = 0
        self._policies: dict[str, StoredPolicy | None] = {}
        self._acls: dict[tuple[Any, ...], tuple[ACL, float, int]] = {}
        self._by_names: dict[tuple[str, ...], tuple[ACL | None, float, int, bool]] = {}

    # -- lifecycle ----------------------------------------------------------------------
    def setup(self) -> None:
        """Lay down the built-in policies (default only if missing: operators may edit it)."""
        with self._lock:
            if self.get(DEFAULT_POLICY_NAME) is None:
                self._write(DEFAULT_POLICY_NAME, DEFAULT_POLICY, cas=0)
            current = self.get(RESPONSE_WRAPPING_POLICY_NAME)
            if current is None or current.raw != RESPONSE_WRAPPING_POLICY:
                self._write(
                    RESPONSE_WRAPPING_POLICY_NAME,
                    RESPONSE_WRAPPING_POLICY,
                    cas=current.version if current else 0,
                )

    # -- reads ----------------------------------------------------------------------------
    def get(self, name: str) -> StoredPolicy | None:
        """The policy named ``name`` (``root`` is synthesised); expired ones are deleted."""
        name = sanitize_name(name)
        if name == "root":
            return ROOT_POLICY
        try:
            policy = self._policies[name]
        except KeyError:
            generation = self._generation
            doc = self.storage.get_json(PREFIX + name)
            policy = None if doc is None else StoredPolicy.from_json(doc)
            if generation == self._generation:
                self._policies[name] = policy
        if policy is not None and policy.expired():
            self._expire(policy)
            return None
        return policy

    def exists(self, name: str) -> bool:
        """``get(name) is not None``: a policy held in the cache under this very name that never
        expires answers at once (every token created asks for each of its policies: the
        response's "does not exist" warnings); anything else asks ``get``."""
        policy = self._policies.get(name)
        if policy is not None and not policy.expires_at:
            return True
        return self.get(name) is not None

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Sorted assignable policy names starting with ``prefix`` (callers append ``root``)."""
        names = []
        for key in self.storage.list_all(PREFIX):
            name = key[len(PREFIX) :]
            if name.startswith(prefix) and name not in NON_ASSIGNABLE_POLICIES and self.get(name) is not None:
                names.append(name)
        return sorted(names)

    # -- writes ---------------------------------------------------------------------------
    def set(
        self,
        name: str,
        raw: str,
        *,
        cas: int | None = None,
        cas_required: bool = False,
        expiration: tuple[float, str] | None = None,
        allow_wildcards_in_identity_templates: bool = False,
        allow_slashes_in_identity_templates: bool = False,
    ) -> StoredPolicy:
        """Parse and store a policy; raises PolicyParseError or PolicyStoreError (Vault's texts)."""
        parsed = parse_policy(raw)
        name = sanitize_name(name)
        if not name:
            raise PolicyStoreError("policy name missing")
        if name in IMMUTABLE_POLICIES:
            raise PolicyStoreError(f'cannot update "{name}" policy')
        return self._write(
            name,
            raw,
            cas=cas,
            cas_required=cas_required,
            expiration=expiration,
            allow_wildcards=allow_wildcards_in_identity_templates,
            allow_slashes=allow_slashes_in_identity_templates,
            parsed=parsed,
        )

    def _write(
        self,
        name: str,
        raw: str,
        *,
        cas: int | None,
        cas_required: bool = False,
        expiration: tuple[float, str] | None = None,
        allow_wildcards: bool = False,
        allow_slashes: bool = False,
        parsed: Policy | None = None,
    ) -> StoredPolicy:
        parsed = parsed if parsed is not None else parse_policy(raw)
        with self._lock:
            doc = self.storage.get_json(PREFIX + name)
            existing = None if doc is None else StoredPolicy.from_json(doc)
            current_version = existing.version if existing else 0
            if cas is None and ((existing is not None and existing.cas_required) or cas_required):
                raise PolicyStoreError("check-and-set parameter required for this call")
            if cas is not None:
                if cas == -1 and existing is not None:
                    raise PolicyStoreError("check-and-set parameter set to -1 on existing entry")
                if cas != -1 and cas != current_version:
                    raise PolicyStoreError(
                        f"check-and-set parameter {cas} did not match the current version {current_version}"
                    )
            parsed = replace(parsed, name=name)
            policy = StoredPolicy(
                name=name,
                raw=raw,
                version=current_version + 1,
                cas_required=cas_required,
                modified=rfc3339_nano_ns(time.time_ns()),
                expiration=expiration[1] if expiration else "",
                expires_at=expiration[0] if expiration else 0.0,
                allow_wildcards_in_identity_templates=allow_wildcards,
                allow_slashes_in_identity_templates=allow_slashes,
                templated=parsed.templated,
                parsed=parsed,
            )
            self.storage.put(PREFIX + name, orjson.dumps(policy.to_json()))
            self._invalidate()
            self._policies[name] = policy
            return policy

    def delete(self, name: str) -> None:
        """Delete a policy (a missing one is fine); root, response-wrapping and default are refused."""
        name = sanitize_name(name)
        if name in IMMUTABLE_POLICIES:
            raise PolicyStoreError(f'cannot delete "{name}" policy')
        if name == DEFAULT_POLICY_NAME:
            raise PolicyStoreError("cannot delete default policy")
        with self._lock:
            self.storage.delete(PREFIX + name)
            self._invalidate()

    def _expire(self, policy: StoredPolicy) -> None:
        with self._lock:
            doc = self.storage.get_json(PREFIX + policy.name)
            if doc is not None and StoredPolicy.from_json(doc).expired():
                self.storage.delete(PREFIX + policy.name)
            self._invalidate()

    def invalidate(self) -> None:
        """Policies changed under the store (a replication secondary applied its primary's)."""
        self._invalidate()

    def _invalidate(self) -> None:
        self._generation += 1
        self._policies = {}
        self._acls = {}
        self._by_names = {}

    # -- ACLs -------------------------------------------------------------------------------
    def acl(self, names: tuple[str, ...] | builtins.list[str], entity: dict[str, Any] | None = None) -> ACL:
        """The ACL for a token's policy names (missing policies are skipped, as in Vault).

        ``entity`` fills templated policies: ``{"id", "name", "metadata": {...}, "aliases":
        [{"mount_accessor", "id", "name", "metadata", "custom_metadata"}], "groups": [{"id",
        "name", "metadata", "namespace_id"}]}`` (groups direct and inherited); without an entity
        the templated paths are dropped. Every request comes here, so the common case is one dict lookup: the name tuple maps to
        its ACL, or (when a policy is templated) to the per-entity ACLs.
        """
        names = tuple(names)
        if names == ("root",):
            return _ROOT_ACL
        now = time.time()
        generation = self._generation
        known = self._by_names.get(names)
        if known is not None and known[2] == generation:
            if not known[3]:
                if now < known[1]:
                    return known[0]  # type: ignore[return-value]
            else:
                cached = self._acls.get((names, _fingerprint(entity)))
                if cached is not None and cached[2] == generation and now < cached[1]:
                    return cached[0]
        policies = [p for p in (self.get(n) for n in names) if p is not None]
        templated = any(p.templated for p in policies)
        parsed = [self._resolve(p, entity) for p in policies]
        try:
            acl = ACL(parsed, now=now)
        except ValueError:
            raise InternalError("internal error") from None
        valid_until = min([acl.valid_until] + [p.expires_at for p in policies if p.expires_at])
        if generation == self._generation:
            if len(self._acls) >= _ACL_CACHE_MAX or len(self._by_names) >= _ACL_CACHE_MAX:
                self._acls = {}
                self._by_names = {}
            self._by_names[names] = (None if templated else acl, valid_until, generation, templated)
            if templated:
                self._acls[(names, _fingerprint(entity))] = (acl, valid_until, generation)
        return acl

    @staticmethod
    def _resolve(policy: StoredPolicy, entity: dict[str, Any] | None) -> Policy:
        if not policy.templated:
            return policy.parsed
        template = TemplateInput(
            entity=entity,
            groups=(entity or {}).get("groups") or (),
            allow_slashes=policy.allow_slashes_in_identity_templates,
            allow_wildcards=policy.allow_wildcards_in_identity_templates,
        )
        try:
            return parse_policy(policy.raw, policy.name, template=template)
        except PolicyParseError:
            raise InternalError("internal error") from None


def _fingerprint(entity: dict[str, Any] | None) -> bytes:
    if entity is None:
        return b""
    try:
        return orjson.dumps(entity, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return repr(sorted(entity.items())).encode()

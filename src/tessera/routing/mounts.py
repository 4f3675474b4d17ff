"""Mount table entries (secrets engines and auth methods) and their persistence."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import __version__

SECRETS_TABLE = "core/mounts"
AUTH_TABLE = "core/auth"
# Mounts enabled with -local, kept apart so that the tables above replicate without them.
LOCAL_SECRETS_TABLE = "core/local-mounts"
LOCAL_AUTH_TABLE = "core/local-auth"

# Types that Vault treats as "core" (no deprecation_status, not removable, local).
CORE_TYPES = {"cubbyhole", "system", "identity", "token"}


@dataclass
class MountConfig:
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0
    force_no_cache: bool = False
    listing_visibility: str = ""
    passthrough_request_headers: list[str] = field(default_factory=list)
    allowed_response_headers: list[str] = field(default_factory=list)
    audit_non_hmac_request_keys: list[str] = field(default_factory=list)
    audit_non_hmac_response_keys: list[str] = field(default_factory=list)
    token_type: str = ""
    # Tuned user lockout (core/lockout.py): threshold, duration, counter_reset, disabled; 0 = unset.
    user_lockout_config: dict[str, Any] | None = None

    def lockout_api(self) -> dict[str, Any]:
        """The tuned user lockout as Vault shows it (tune reads it flat, sys/auth nested)."""
        tuned = self.user_lockout_config or {}
        return {
            "user_lockout_counter_reset_duration": tuned.get("counter_reset", 0),
            "user_lockout_disable": bool(tuned.get("disabled", False)),
            "user_lockout_duration": tuned.get("duration", 0),
            "user_lockout_threshold": tuned.get("threshold", 0),
        }

    def to_api(self, auth: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "default_lease_ttl": self.default_lease_ttl,
            "force_no_cache": self.force_no_cache,
            "max_lease_ttl": self.max_lease_ttl,
        }
        if self.listing_visibility:
            out["listing_visibility"] = self.listing_visibility
        for key in (
            "passthrough_request_headers",
            "allowed_response_headers",
            "audit_non_hmac_request_keys",
            "audit_non_hmac_response_keys",
        ):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if auth:
            out["token_type"] = self.token_type or "default-service"
            if self.user_lockout_config is not None:
                out["user_lockout_config"] = self.lockout_api()
        return out


@dataclass
class MountEntry:
    table: str  # "secret" or "auth"
    path: str  # with trailing slash, e.g. "secret/" or "approle/" (auth paths without "auth/")
    type: str
    description: str = ""
    uuid: str = ""
    accessor: str = ""
    config: MountConfig = field(default_factory=MountConfig)
    options: dict[str, str] | None = None
    local: bool = False
    seal_wrap: bool = False
    external_entropy_access: bool = False
    plugin_version: str = ""

    @classmethod
    def new(cls, table: str, path: str, mtype: str, **kwargs: Any) -> MountEntry:
        prefix = f"auth_{mtype}" if table == "auth" else mtype
        entry = cls(table=table, path=path, type=mtype, **kwargs)
        entry.uuid = str(uuid.uuid4())
        entry.accessor = f"{prefix}_{secrets.token_hex(4)}"
        return entry

    @property
    def route_prefix(self) -> str:
        """The request path prefix this mount answers under."""
        return ("auth/" + self.path) if self.table == "auth" else self.path

    @property
    def storage_prefix(self) -> str:
        if self.type == "system":
            return "sys/"
        if self.type == "token":
            return "sys/token/"
        return ("auth/" if self.table == "auth" else "logical/") + self.uuid + "/"

    def to_api(self) -> dict[str, Any]:
        """The entry as sys/mounts and sys/auth show it."""
        out: dict[str, Any] = {
            "accessor": self.accessor,
            "config": self.config.to_api(self.table == "auth"),
            "description": self.description,
            "external_entropy_access": self.external_entropy_access,
            "local": self.local,
            "options": self.options,
            "plugin_version": self.plugin_version,
            "running_plugin_version": f"v{__version__}+builtin.tessera",
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.type,
            "uuid": self.uuid,
        }
        if self.type not in CORE_TYPES:
            out["deprecation_status"] = "supported"
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MountEntry:
        d = dict(d)
        d["config"] = MountConfig(**d.get("config", {}))
        return cls(**d)

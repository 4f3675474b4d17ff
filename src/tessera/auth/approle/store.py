"""AppRole's storage: roles, the role_id index, secret IDs and their accessors.

Layout (Vault's): ``role/<lower name>``, ``role_id/<salted role_id>``,
``secret_id[_local]/<HMAC(role name)>/<HMAC(secret ID)>``, ``accessor[_local]/<salted accessor>``.
A secret ID is never stored: only its HMAC under the role's own random key, so a storage dump
cannot be replayed as a login. Role IDs and accessors are salted with a mount-wide key kept at
``salt``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...barrier.keyed_hash import KeyedSha256, keyed_sha256
from ...framework import ErrorResponse, InternalError
from ...gocompat.times import rfc3339_nano
from ...storage.base import Storage
from ..tokenutil import TokenParams

SECRET_ID_PREFIX = "secret_id/"
SECRET_ID_LOCAL_PREFIX = "secret_id_local/"
ACCESSOR_PREFIX = "accessor/"
ACCESSOR_LOCAL_PREFIX = "accessor_local/"
MAX_HMAC_INPUT = 4096
ZERO_TIME = "0001-01-01T00:00:00Z"
SALTED_MEMO_SIZE = 4096
# Parsed secret IDs (and role ID index entries) kept for logins: ~1 KB each, cleared when full.
LOGIN_MEMO_SIZE = 4096


def create_hmac(key: str, value: str) -> str:
    """HMAC-SHA256 hex of ``value`` under ``key`` (approle's createHMAC)."""
    if not key:
        raise InternalError("invalid HMAC key")
    if len(value) > MAX_HMAC_INPUT:
        raise InternalError(f"value is longer than maximum of {MAX_HMAC_INPUT} bytes")
    return keyed_sha256(key.encode()).digest(value.encode()).hex()


@dataclass
class Role(TokenParams):
    """One AppRole role as stored; ``name`` is the lower-cased role name."""

    name: str = ""
    role_id: str = ""
    hmac_key: str = ""
    policies: list[str] = field(default_factory=list)  # deprecated alias of token_policies
    period: int = 0  # deprecated alias of token_period
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    bind_secret_id: bool = True
    # None (never set, reads back as null) differs from [] (set to nothing).
    secret_id_bound_cidrs: list[str] | None = None
    secret_id_prefix: str = SECRET_ID_PREFIX

    def to_json(self) -> dict[str, Any]:
        doc = self.token_json()
        doc.update(
            name=self.name,
            role_id=self.role_id,
            hmac_key=self.hmac_key,
            policies=self.policies,
            period=self.period,
            secret_id_num_uses=self.secret_id_num_uses,
            secret_id_ttl=self.secret_id_ttl,
            bind_secret_id=self.bind_secret_id,
            secret_id_bound_cidrs=self.secret_id_bound_cidrs,
            secret_id_prefix=self.secret_id_prefix,
        )
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Role:
        role = cls()
        role.load_token_json(doc)
        for key in (
            "name",
            "role_id",
            "hmac_key",
            "policies",
            "period",
            "secret_id_num_uses",
            "secret_id_ttl",
            "bind_secret_id",
            "secret_id_prefix",
        ):
            if doc.get(key) is not None:
                setattr(role, key, doc[key])
        role.secret_id_bound_cidrs = doc.get("secret_id_bound_cidrs")
        # Roles written with only the deprecated fields read back through the new ones.
        if role.token_period == 0 and role.period > 0:
            role.token_period = role.period
        if not role.token_policies and role.policies:
            role.token_policies = list(role.policies)
        return role

    @property
    def local(self) -> bool:
        return self.secret_id_prefix == SECRET_ID_LOCAL_PREFIX

    @property
    def accessor_prefix(self) -> str:
        return ACCESSOR_LOCAL_PREFIX if self.local else ACCESSOR_PREFIX

    def has_constraint(self) -> bool:
        """validateRoleConstraints: a role must demand a secret ID or a CIDR binding."""
        return bool(self.bind_secret_id or self.secret_id_bound_cidrs or self.token_bound_cidrs)


@dataclass
class SecretIDEntry:
    """A secret ID's properties; the secret itself is only the key this entry is stored under."""

    secret_id_accessor: str = ""
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    creation_time: float = 0.0
    expiration_time: float = 0.0  # 0 = never
    last_updated_time: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    cidr_list: list[str] = field(default_factory=list)
    token_bound_cidrs: list[str] = field(default_factory=list)
    # Kept to compare in constant time after the keyed look-up; never returned.
    secret_id_hmac: str = ""

    def expired(self, now: float | None = None) -> bool:
        return self.expiration_time > 0 and (now if now is not None else time.time()) > self.expiration_time

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SecretIDEntry:
        """The stored entry; keys this version does not know are dropped. Every AppRole login
        reads one: a document of known keys only (all that Tessera writes) skips the filtering."""
        if doc.keys() <= cls.__dataclass_fields__.keys():
            return cls(**doc)
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    def response_data(self) -> dict[str, Any]:
        """ToResponseData: the body of secret-id lookups."""

        def when(ts: float) -> str:
            return rfc3339_nano(ts) if ts else ZERO_TIME

        return {
            "secret_id_accessor": self.secret_id_accessor,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "creation_time": when(self.creation_time),
            "expiration_time": when(self.expiration_time),
            "last_updated_time": when(self.last_updated_time),
            "metadata": dict(self.metadata),
            "cidr_list": list(self.cidr_list),
            "token_bound_cidrs": list(self.token_bound_cidrs),
        }


@dataclass(frozen=True)
class ParsedRole:
    """A role as a login reads it: parsed once per stored document, with what every login of it
    derives (its name's HMAC, where its secret IDs live, its HMAC key prepared).

    ``raw`` is the stored document the role was parsed from: a login reads the role's bytes
    every time and reuses this only when they are the same, so an update or deletion (by this
    process or another) is seen at the next login without any invalidation. ``role`` is shared
    by every login of the role and must not be modified.
    """

    raw: bytes
    role: Role
    name_hmac: str
    secret_prefix: str  # ``<secret_id prefix><HMAC(name)>/``: a secret ID's key less its HMAC
    keyed: KeyedSha256  # the role's HMAC key, prepared: ``secret_hmac`` is ``create_hmac``'s value

    @classmethod
    def parse(cls, raw: bytes, key: str) -> ParsedRole:
        role = Role.from_json(orjson.loads(raw))
        role.name = role.name or key
        name_hmac = create_hmac(role.hmac_key, role.name)  # refuses an empty key, as before
        prefix = f"{role.secret_id_prefix}{name_hmac}/"
        return cls(raw, role, name_hmac, prefix, KeyedSha256(role.hmac_key.encode()))

    def secret_hmac(self, secret_id: str) -> str:
        """``create_hmac(role.hmac_key, secret_id)``, with the key prepared once per role version."""
        if len(secret_id) > MAX_HMAC_INPUT:
            raise InternalError(f"value is longer than maximum of {MAX_HMAC_INPUT} bytes")
        return self.keyed.digest(secret_id.encode()).hex()


@dataclass(frozen=True)
class ParsedSecret:
    """A secret ID's entry as a login reads it, parsed once per stored document (as ``ParsedRole``).

    ``entry`` is shared by every login of the secret ID and must not be modified (a counted use
    writes a changed copy); ``accessor_key`` is where its accessor's index entry must be."""

    raw: bytes
    entry: SecretIDEntry
    accessor_key: str


class AppRoleStore:
    """Storage operations, serialised by one lock so use counts and indexes stay consistent."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._salt: str | None = None
        self._parsed: dict[str, ParsedRole] = {}
        self._salted: dict[str, str] = {}
        # Stored bytes -> what they parse to, for logins: a pure function of the bytes, which a
        # login reads every time, so a change anywhere is seen at the next login.
        self._secrets: dict[str, ParsedSecret] = {}
        self._role_id_names: dict[bytes, str] = {}

    # -- the mount-wide salt -------------------------------------------------------------
    def salt(self, storage: Storage) -> str:
        if self._salt is None:
            with self.lock:
                doc = storage.get_json("salt")
                if doc is None:
                    doc = {"key": secrets.token_hex(32)}
                    storage.put_json("salt", doc)
                self._salt = str(doc["key"])
        return self._salt

    def salt_id(self, storage: Storage, value: str) -> str:
        """The salted HMAC of a role ID or accessor, remembered: every login salts both.

        The memo holds whatever was asked (known or not), so a hit says only that the same value
        was salted before, never whether a role has it; it is bounded by starting afresh."""
        salted = self._salted.get(value)
        if salted is None:
            salted = create_hmac(self.salt(storage), value)
            if len(self._salted) >= SALTED_MEMO_SIZE:
                self._salted.clear()
            self._salted[value] = salted
        return salted

    # -- roles -------------------------------------------------------------------------
    def role(self, storage: Storage, name: str) -> Role | None:
        doc = storage.get_json("role/" + name.lower())
        if doc is None:
            return None
        role = Role.from_json(doc)
        role.name = role.name or name.lower()
        return role

    def login_role(self, storage: Storage, name: str) -> ParsedRole | None:
        """The role for a login, parsed only when its stored document changed (read-only)."""
        key = name.lower()
        raw = storage.get("role/" + key)
        if raw is None:
            self._parsed.pop(key, None)
            return None
        parsed = self._parsed.get(key)
        if parsed is None or parsed.raw != raw:
            parsed = ParsedRole.parse(raw, key)
            self._parsed[key] = parsed
        return parsed

    def login_role_name(self, storage: Storage, role_id: str) -> str | None:
        """``role_id_entry`` for a login: the index entry's stored bytes name the role, parsed
        once per distinct document."""
        raw = storage.get("role_id/" + self.salt_id(storage, role_id))
        if raw is None:
            return None
        name = self._role_id_names.get(raw)
        if name is None:
            doc = orjson.loads(raw)
            if doc is None:
                return None
            name = str(doc.get("name", ""))
            if len(self._role_id_names) >= LOGIN_MEMO_SIZE:
                self._role_id_names.clear()
            self._role_id_names[raw] = name
        return name

    def login_secret(self, storage: Storage, parsed: ParsedRole, secret_hmac: str) -> ParsedSecret | None:
        """The secret ID stored under ``secret_hmac`` for a login (``secret`` with its accessor's
        key), parsed only when its stored document changed (read-only)."""
        key = parsed.secret_prefix + secret_hmac
        raw = storage.get(key)
        if raw is None:
            self._secrets.pop(key, None)
            return None
        found = self._secrets.get(key)
        if found is None or found.raw != raw:
            doc = orjson.loads(raw)
            if doc is None:
                return None
            entry = SecretIDEntry.from_json(doc)
            accessor_key = parsed.role.accessor_prefix + self.salt_id(storage, entry.secret_id_accessor)
            found = ParsedSecret(raw, entry, accessor_key)
            if len(self._secrets) >= LOGIN_MEMO_SIZE:
                self._secrets.clear()
            self._secrets[key] = found
        return found

    def role_names(self, storage: Storage) -> list[str]:
        return sorted(storage.list("role/"))

    def save_role(self, storage: Storage, role: Role, previous_role_id: str) -> None:
        """setRoleEntry: validate the constraints and keep the role_id index in step."""
        if not role.has_constraint():
            raise InternalError("at least one constraint should be enabled on the role")
        index = self.role_id_entry(storage, role.role_id)
        if index is not None and index != role.name:
            raise InternalError("role_id already in use")
        if previous_role_id and previous_role_id != role.role_id:
            storage.delete("role_id/" + self.salt_id(storage, previous_role_id))
        storage.put_json("role/" + role.name.lower(), role.to_json())
        if previous_role_id and previous_role_id == role.role_id:
            return
        storage.put_json("role_id/" + self.salt_id(storage, role.role_id), {"name": role.name})

    def role_id_entry(self, storage: Storage, role_id: str) -> str | None:
        doc = storage.get_json("role_id/" + self.salt_id(storage, role_id))
        return None if doc is None else str(doc.get("name", ""))

    def delete_role(self, storage: Storage, role: Role) -> None:
        """Delete the role, its secret IDs (with their accessors) and its role_id index."""
        prefix = f"{role.secret_id_prefix}{create_hmac(role.hmac_key, role.name)}/"
        for key in storage.list(prefix):
            entry = self._secret_at(storage, prefix + key)
            if entry is not None:
                storage.delete(role.accessor_prefix + self.salt_id(storage, entry.secret_id_accessor))
            storage.delete(prefix + key)
        storage.delete("role_id/" + self.salt_id(storage, role.role_id))
        storage.delete("role/" + role.name.lower())

    # -- secret IDs ----------------------------------------------------------------------
    def secret_key(self, role: Role, secret_hmac: str) -> str:
        parsed = self._parsed.get(role.name.lower())
        if parsed is not None and parsed.role is role:
            return parsed.secret_prefix + secret_hmac
        return f"{role.secret_id_prefix}{create_hmac(role.hmac_key, role.name)}/{secret_hmac}"

    @staticmethod
    def _secret_at(storage: Storage, key: str) -> SecretIDEntry | None:
        doc = storage.get_json(key)
        return None if doc is None else SecretIDEntry.from_json(doc)

    def secret(self, storage: Storage, role: Role, secret_hmac: str) -> SecretIDEntry | None:
        return self._secret_at(storage, self.secret_key(role, secret_hmac))

    def put_secret(self, storage: Storage, role: Role, secret_hmac: str, entry: SecretIDEntry) -> None:
        storage.put_json(self.secret_key(role, secret_hmac), entry.to_json())

    def register_secret(
        self, storage: Storage, role: Role, secret_id: str, entry: SecretIDEntry, max_ttl: int
    ) -> SecretIDEntry:
        """registerSecretIDEntry: refuse duplicates, stamp times, write the accessor index."""
        secret_hmac = create_hmac(role.hmac_key, secret_id)
        with self.lock:
            if self.secret(storage, role, secret_hmac) is not None:
                raise InternalError("failed to store secret_id: SecretID is already registered")
            now = time.time()
            entry.creation_time = entry.last_updated_time = now
            ttl = derive_secret_id_ttl(entry.secret_id_ttl, max_ttl)
            if ttl:
                entry.expiration_time = now + ttl
            entry.secret_id_accessor = str(uuid.uuid4())
            entry.secret_id_hmac = secret_hmac
            storage.put_json(
                role.accessor_prefix + self.salt_id(storage, entry.secret_id_accessor),
                {"secret_id_hmac": secret_hmac},
            )
            self.put_secret(storage, role, secret_hmac, entry)
        return entry

    def accessor_entry(self, storage: Storage, role: Role, accessor: str) -> str | None:
        """The secret ID HMAC an accessor points at, or None."""
        doc = storage.get_json(role.accessor_prefix + self.salt_id(storage, accessor))
        return None if doc is None else str(doc.get("secret_id_hmac", ""))

    def delete_secret(self, storage: Storage, role: Role, secret_hmac: str, entry: SecretIDEntry) -> None:
        storage.delete(role.accessor_prefix + self.salt_id(storage, entry.secret_id_accessor))
        storage.delete(self.secret_key(role, secret_hmac))

    def secret_accessors(self, storage: Storage, role: Role) -> list[str]:
        prefix = f"{role.secret_id_prefix}{create_hmac(role.hmac_key, role.name)}/"
        out = []
        for key in storage.list(prefix):
            entry = self._secret_at(storage, prefix + key)
            if entry is None:
                raise InternalError("storage entry for SecretID is present but no content found at the index")
            out.append(entry.secret_id_accessor)
        return out

    def tidy(self, storage: Storage) -> int:
        """Delete expired secret IDs, secret IDs without an accessor and dangling accessors."""
        removed = 0
        with self.lock:
            now = time.time()
            for secret_prefix, accessor_prefix in (
                (SECRET_ID_PREFIX, ACCESSOR_PREFIX),
                (SECRET_ID_LOCAL_PREFIX, ACCESSOR_LOCAL_PREFIX),
            ):
                live_hmacs: set[str] = set()
                for role_hmac in storage.list(secret_prefix):
                    base = secret_prefix + role_hmac
                    base = base if base.endswith("/") else base + "/"
                    for secret_hmac in storage.list(base):
                        entry = self._secret_at(storage, base + secret_hmac)
                        if entry is None:
                            continue
                        accessor_key = accessor_prefix + self.salt_id(storage, entry.secret_id_accessor)
                        if storage.get(accessor_key) is None or entry.expired(now):
                            storage.delete(accessor_key)
                            storage.delete(base + secret_hmac)
                            removed += 1
                        else:
                            live_hmacs.add(secret_hmac)
                for salted in storage.list(accessor_prefix):
                    doc = storage.get_json(accessor_prefix + salted)
                    if doc is None or doc.get("secret_id_hmac") not in live_hmacs:
                        storage.delete(accessor_prefix + salted)
        return removed


def derive_secret_id_ttl(ttl: int, max_ttl: int) -> int:
    """deriveSecretIDTTL: a secret ID never outlives the mount's max lease TTL."""
    if ttl < 0 or (max_ttl and ttl > max_ttl):
        return max_ttl
    return ttl


def parse_metadata(text: str) -> dict[str, str]:
    """strutil.ParseArbitraryKeyValues: a JSON object of strings, or ``k=v,k2=v2``."""
    out: dict[str, str] = {}
    text = text.strip()
    if not text:
        return out
    bad = ErrorResponse("failed to parse metadata: failed to parse the input: invalid <key,value> format")
    raw = text
    try:
        decoded = base64.b64decode(text, validate=True).decode()
        raw = decoded
    except ValueError:
        pass
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for k, v in parsed.items():
            if not isinstance(v, str):
                raise bad
            out[str(k)] = v
    else:
        # ParseKeyValues: items are de-duplicated and lower-cased; each must be exactly key=value.
        for item in sorted({i.strip().lower() for i in raw.split(",") if i.strip()}):
            shards = item.split("=")
            if len(shards) != 2 or not shards[0].strip() or not shards[1].strip():
                raise bad
            out[shards[0].strip()] = shards[1].strip()
    for key, value in out.items():
        if key and not value:
            raise ErrorResponse(f'failed to parse metadata: invalid value for key "{key}"')
    return out

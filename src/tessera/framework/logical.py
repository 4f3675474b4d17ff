"""The logical request and response every backend sees, independent of HTTP."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from ..storage.base import Storage


class Operation(enum.StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    LIST = "list"
    SCAN = "scan"
    HELP = "help"
    # Internal operations (lease renew/revoke); the ACL maps them to update.
    RENEW = "renew"
    REVOKE = "revoke"
    ROLLBACK = "rollback"


# The members the request paths compare with, as module constants: on 3.11 ``Operation.X`` is a
# Python-level class attribute look-up (~0.9k instructions, callgrind), several a request.
OP_READ, OP_CREATE, OP_UPDATE = Operation.READ, Operation.CREATE, Operation.UPDATE
OP_LIST, OP_HELP = Operation.LIST, Operation.HELP


# Each operation's text, for the ACL check every authenticated request makes: ``Enum.value`` is a
# Python-level property (~0.45 µs), a look-up here a C one (~0.05 µs).
OPERATION_TEXT: dict[Operation, str] = {op: op.value for op in Operation}


@dataclass
class Auth:
    """An authentication result: what a login or token create turns into a token."""

    policies: list[str] = field(default_factory=list)
    token_policies: list[str] = field(default_factory=list)
    identity_policies: list[str] = field(default_factory=list)
    metadata: dict[str, str] | None = None
    display_name: str = ""
    ttl: int = 0
    max_ttl: int = 0
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    renewable: bool = True
    entity_id: str = ""
    alias_name: str = ""
    token_type: str = ""  # service, batch, default-service, default-batch, or ""
    orphan: bool = False
    bound_cidrs: list[str] = field(default_factory=list)
    no_default_policy: bool = False
    internal_data: dict[str, Any] = field(default_factory=dict)
    # Filled once the token exists.
    client_token: str = ""
    accessor: str = ""
    lease_duration: int = 0
    creation_path: str = ""


@dataclass
class Secret:
    """A leased secret: the response data gets a lease with this TTL."""

    ttl: int = 0
    max_ttl: int = 0
    renewable: bool = True
    internal_data: dict[str, Any] = field(default_factory=dict)
    lease_id: str = ""


@dataclass
class WrapInfo:
    token: str
    accessor: str
    ttl: int
    creation_time: str
    creation_path: str
    wrapped_accessor: str = ""
    format: str = ""


@dataclass
class Response:
    data: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    auth: Auth | None = None
    secret: Secret | None = None
    wrap_info: WrapInfo | None = None
    # An explicit HTTP status (logical.RespondWithStatusCode); None = the usual mapping.
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Raw responses (bare JSON without the envelope), e.g. sys/health-like paths.
    raw_body: Any = None
    # Error text for an enveloped error (RespondWithStatusCode with data.error).
    is_error: bool = False
    lease_duration_override: int | None = None
    # Wrap the response when the path asks for it (sys/wrapping/wrap).
    request_wrap: bool = False

    def add_warning(self, text: str) -> None:
        self.warnings.append(text)


@dataclass
class Request:
    operation: Operation
    path: str  # relative to the mount once routed; the full path before
    data: dict[str, Any] = field(default_factory=dict)
    client_token: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    remote_addr: str = "127.0.0.1"
    remote_port: int = 0
    wrap_ttl: int = 0
    wrap_format: str = ""
    request_id: str = ""
    # Filled by the router:
    full_path: str = ""
    mount_point: str = ""
    mount_type: str = ""
    mount_accessor: str = ""
    mount_uuid: str = ""
    storage: Storage | None = None
    # Filled by token resolution:
    token_entry: Any = None
    # On a replication primary: the entry a performance secondary resolved for a request it
    # forwarded (its tokens are its own): the pipeline acts for it instead of looking one up.
    forwarded_entry: Any = None
    entity_id: str = ""
    # Connection facts the token/login logic uses.
    tls: bool = False
    # The certificates the TLS client presented, leaf first (DER), for the cert auth method.
    peer_certificates: tuple[bytes, ...] = ()
    unauthenticated: bool = False
    # Whether the client asked for help (?help=1).
    is_help: bool = False
    # Non-routing hints: set by the core so handlers can tell root/sudo callers apart.
    is_root: bool = False
    has_sudo: bool = False
    # Data keys the handler may treat as unrecognised (for the warning).
    extra: dict[str, Any] = field(default_factory=dict)
    # (path, request data, FieldData) converted by the existence check, for the handler to reuse.
    checked_fields: Any = field(default=None, repr=False, compare=False)

    def is_list(self) -> bool:
        return self.operation == Operation.LIST


@dataclass
class RawRequest:
    """An HTTP request as a raw path sees it (sys/health, sys/init, ...): before any logical
    request is built, so that these paths work while sealed and read bodies as Go structs."""

    method: str
    query: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    token: str = ""

    def first(self, name: str) -> str:
        """url.Values.Get: the first of repeated query values, "" when absent."""
        value = self.query.get(name)
        if isinstance(value, list):
            return str(value[0]) if value else ""
        return "" if value is None else str(value)


@dataclass
class RawResponse:
    """A raw path's answer: its own status, bare bytes (no envelope) and headers."""

    status: int
    body: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def json(cls, doc: Any, status: int = 200) -> RawResponse:
        return cls(status, orjson.dumps(doc))

    @classmethod
    def empty(cls) -> RawResponse:
        """204 without a body."""
        return cls(204)

    @classmethod
    def method_not_allowed(cls) -> RawResponse:
        """Vault's bare 405 for a method the raw handler does not serve."""
        return cls(405, b'{"errors":[]}')

"""sys/audit (list), sys/audit/<path> (enable, disable) and sys/audit-hash/<path>.

As in OpenBao 2.x, devices are declared in the configuration, and enabling one through the API is
refused (a root token could otherwise make the server append to, and chmod, any file it can write)
unless the configuration sets ``unsafe_allow_api_audit_creation = true``, which gives Vault's
behaviour (sudo). The ``prefix`` option, the vector of CVE-2025-6000, needs
``allow_audit_log_prefixing = true`` as in OpenBao. ``sys/audit`` and
``sys/audit/*`` need sudo (declared so); the HTTP layer also writes their data at the top level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..audit.broker import CONFIG_TABLE, AuditBroker, AuditEntry, AuditError, sanitize_path
from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.errors import multierror

if TYPE_CHECKING:
    from ..core.core import Core

API_CREATION_REFUSED = (
    "cannot enable audit device via API; use declarative, config-based audit device management instead"
)


def _refuse(message: str) -> ErrorResponse:
    """handleError: a 400 with the bare text, audited as logical.ErrInvalidRequest."""
    exc = ErrorResponse(message)
    exc.outer_error = multierror("invalid request")  # type: ignore[attr-defined]
    return exc


def _broker(core: Core) -> AuditBroker:
    broker = core.audit
    if not isinstance(broker, AuditBroker):
        raise ErrorResponse("audit broker is not available")
    return broker


def audit_paths(core: Core) -> list[Path]:
    def read_table(req: Request, data: FieldData) -> Response:
        return Response(data={e.path: e.to_api() for e in _broker(core).table()})

    def enable(req: Request, data: FieldData) -> None:
        broker = _broker(core)
        options = {str(k): str(v) for k, v in (data.get("options") or {}).items()}
        if not broker.allow_api_creation:
            raise _refuse(API_CREATION_REFUSED)
        if "prefix" in options and not broker.allow_prefixing:
            raise _refuse("audit log prefixing is not allowed")
        entry = AuditEntry(
            path=data.get("path"),
            type=data.get("type") or "",
            description=data.get("description") or "",
            options=options,
            local=bool(data.get("local")),
        )
        try:
            broker.enable(entry)
        except AuditError as exc:
            raise _refuse(str(exc)) from None

    def disable(req: Request, data: FieldData) -> None:
        broker = _broker(core)
        path = data.get("path")
        if not path.endswith("/"):
            path += "/"
        if path == "/":
            raise _refuse("audit device path must be specified")
        entry = broker.find(path)
        if entry is None:
            return
        if entry.table == CONFIG_TABLE:
            raise _refuse("cannot disable configuration-managed audit device")
        try:
            broker.disable(path)
        except AuditError as exc:
            raise _refuse(str(exc)) from None

    def audit_hash(req: Request, data: FieldData) -> Response:
        value = data.get("input") or ""
        if value == "":
            raise ErrorResponse('the "input" parameter is empty')
        try:
            digest = _broker(core).get_hash(sanitize_path(data.get("path")), value)
        except AuditError as exc:
            raise ErrorResponse(str(exc)) from None
        return Response(data={"hash": digest})

    device_fields = {
        "path": Field(FieldType.STRING, 'The name of the backend. Cannot be delimited. Example: "mysql"'),
        "type": Field(FieldType.STRING, 'The type of the backend. Example: "mysql"'),
        "description": Field(FieldType.STRING, "User-friendly description for this audit backend."),
        "options": Field(FieldType.KV_PAIRS, "Configuration options for the audit backend."),
        "local": Field(
            FieldType.BOOL,
            "Mark the mount as a local mount, which is not replicated and is unaffected by replication.",
            default=False,
        ),
    }
    return [
        Path(
            r"audit-hash/(?P<path>.+)",
            fields={
                "path": Field(FieldType.STRING, "The name of the backend. Cannot be delimited."),
                "input": Field(FieldType.STRING),
            },
            operations={Operation.UPDATE: audit_hash},
            synopsis="The hash of the given string via the given audit backend",
        ),
        Path(
            r"audit$",
            sudo=True,
            operations={Operation.READ: read_table},
            synopsis="List the currently enabled audit backends.",
        ),
        Path(
            r"audit/(?P<path>.+)",
            sudo=True,
            fields=device_fields,
            operations={Operation.UPDATE: enable, Operation.DELETE: disable},
            synopsis="Enable or disable audit backends.",
        ),
    ]

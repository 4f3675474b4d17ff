"""sys/capabilities, sys/capabilities-self and sys/capabilities-accessor.

They answer "what may this token do on these paths", evaluated exactly as a LIST request would
be (so an exact rule on ``foo`` also answers for ``foo/``). The UI and ``vault token
capabilities`` rely on the top-level copy of the data (``INJECTED_PATHS``) and on the extra
``capabilities`` key that is only present when a single path was asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    InvalidRequest,
    Operation,
    Path,
    Request,
    Response,
)
from ..framework.fields import to_string

if TYPE_CHECKING:
    from ..core.core import Core

INJECTED_PATHS = ("sys/capabilities", "sys/capabilities-self", "sys/capabilities-accessor")

_PATHS = Field(FieldType.COMMA_STRING_SLICE, "Paths on which capabilities are being queried.")
_FIELDS = {
    "paths": _PATHS,
    "path": Field(FieldType.COMMA_STRING_SLICE, "Deprecated: use paths.", deprecated=True),
}


def _lookup_token(core: Core, token: str) -> Any:
    try:
        return core.tokens.lookup(token)
    except Exception:  # a malformed batch token is just an unknown token here
        return None


def _lookup_accessor(core: Core, accessor: str) -> Any:
    tokens = core.tokens
    finder = getattr(tokens, "lookup_by_accessor", None) or tokens.lookup_accessor
    try:
        return finder(accessor)
    except Exception:
        return None


def _acl(core: Core, entry: Any) -> Any:
    """The token's ACL exactly as the request pipeline builds it."""
    builder = getattr(core, "acl_for", None)
    if builder is not None:
        return builder(entry)
    entity_for = getattr(core, "entity_for", None)
    entity = entity_for(entry) if entity_for is not None else None
    return core.policy_store.acl(tuple(entry.policies), entity)


def _comma_slice(raw: Any) -> list[str]:
    """parseutil.ParseCommaStringSlice: unlike the framework's, it keeps empty entries (Vault then
    answers ``missing path`` for them)."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",")]
    if isinstance(raw, list):
        return [to_string(item).strip() for item in raw]
    return [to_string(raw).strip()]


def _answer(core: Core, data: FieldData, resolve: Any) -> Response:
    paths = _comma_slice(data.get_raw("paths")) or _comma_slice(data.get_raw("path"))
    if not paths:
        raise ErrorResponse("paths must be supplied")
    out: dict[str, Any] = {}
    acl = None
    for path in paths:
        if path == "":
            raise InvalidRequest("missing path")
        if acl is None:
            entry = resolve()
            if entry is None:
                raise InvalidRequest("invalid token")
            acl = _acl(core, entry)
        out[path] = acl.capabilities(path)
    if len(paths) == 1:
        out["capabilities"] = out[paths[0]]
    return Response(data=out)


def capabilities_paths(core: Core) -> list[Path]:
    def capabilities(req: Request, data: FieldData) -> Response:
        token = data.get_raw("token")
        if not isinstance(token, str) or token == "":
            raise InternalError("no token found")
        return _answer(core, data, lambda: _lookup_token(core, token))

    def capabilities_self(req: Request, data: FieldData) -> Response:
        if not req.client_token:
            raise InternalError("no token found")
        entry = req.token_entry

        def resolve() -> Any:
            return entry if entry is not None else _lookup_token(core, req.client_token)

        return _answer(core, data, resolve)

    def capabilities_accessor(req: Request, data: FieldData) -> Response:
        accessor = data.get("accessor")
        if not accessor:
            raise ErrorResponse("missing accessor")
        entry = _lookup_accessor(core, accessor)
        if entry is None:
            raise InvalidRequest("invalid accessor")
        return _answer(core, data, lambda: entry)

    token_field = {"token": Field(FieldType.ANY, "Token for which capabilities are being queried.")}
    return [
        Path(
            "capabilities-accessor",
            fields=_FIELDS | {"accessor": Field(FieldType.STRING, "Accessor of the token.")},
            operations={Operation.UPDATE: capabilities_accessor},
            synopsis="Fetches the capabilities of the token associated with the given accessor.",
        ),
        Path(
            "capabilities-self",
            fields=_FIELDS | token_field,
            operations={Operation.UPDATE: capabilities_self},
            synopsis="Fetches the capabilities of the calling token on the given paths.",
        ),
        Path(
            "capabilities",
            fields=_FIELDS | token_field,
            operations={Operation.UPDATE: capabilities},
            synopsis="Fetches the capabilities of the given token on the given paths.",
        ),
    ]

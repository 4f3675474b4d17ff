"""The cubbyhole: per-token private storage, gone when the token is revoked.

Each service token's entries live under ``<cubbyhole_id>/`` in the mount's storage view; the
core deletes that prefix when it revokes the token. Batch tokens have no cubbyhole.
The response-wrapping code keeps a wrapped response at ``<cubbyhole_id>/response`` as
``{"response": "<JSON text of the response>"}``, the format Vault uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from ..framework import (
    Backend,
    ErrorResponse,
    FieldData,
    InternalError,
    Operation,
    Request,
    Response,
)
from ..storage.base import Storage
from .kv.common import list_prefix, passthrough_backend, validate_fields

if TYPE_CHECKING:
    from ..core.core import Core
    from ..routing.mounts import MountEntry

HELP = (
    "The cubbyhole backend reads and writes arbitrary secrets to the backend.\n"
    "The secrets are encrypted/decrypted by Vault: they are never stored\n"
    "unencrypted in the backend and the backend never has an opportunity to\n"
    "see the unencrypted value.\n\n"
    "This backend differs from the 'kv' backend in that it is namespaced\n"
    "per-token. Tokens can only read and write their own values, with no\n"
    "sharing possible (per-token cubbyholes). This can be useful for implementing\n"
    'certain authentication workflows, as well as "scratch" areas for individual\n'
    "clients. When the token is revoked, the entire set of stored values for that\n"
    "token is also removed."
)
SYNOPSIS = (
    "Pass-through secret storage to a token-specific cubbyhole in the storage\n"
    "backend, allowing you to read/write arbitrary data into secret storage."
)
RESPONSE_WARNING = (
    "Reading from 'cubbyhole/response' is deprecated. Please use sys/wrapping/unwrap to unwrap "
    "responses, as it provides additional security checks and other benefits."
)
RESPONSE_WRAPPING_POLICY = "response-wrapping"


def _scope(req: Request) -> str:
    """The caller's storage prefix; only service tokens own a cubbyhole."""
    entry = req.token_entry
    if entry is None:
        raise InternalError("client token empty")
    if getattr(entry, "type", "service") != "service":
        raise ErrorResponse("cubbyhole operations are only supported by 'service' type tokens")
    cubbyhole_id = getattr(entry, "cubbyhole_id", "")
    if not cubbyhole_id:
        raise InternalError("empty cubbyhole id")
    return cubbyhole_id + "/"


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


def _exists(req: Request, data: FieldData) -> bool:
    validate_fields(data)
    entry = req.token_entry
    if entry is None or getattr(entry, "type", "service") != "service" or not entry.cubbyhole_id:
        return False  # the handler answers with the proper error
    return _storage(req).get(_scope(req) + req.path) is not None


def _read(req: Request, data: FieldData) -> Response | None:
    scope = _scope(req)
    key = data.get("path")
    if key == "":
        raise InternalError("missing path")
    raw = _storage(req).get(scope + key)
    if raw is None:
        return None
    resp = Response(data=orjson.loads(raw))
    _legacy_response_warning(req, resp)
    return resp


def _write(req: Request, data: FieldData) -> Response | None:
    scope = _scope(req)
    if not req.data:
        raise InternalError("missing data fields")
    key = data.get("path")
    if key == "":
        raise InternalError("missing path")
    _storage(req).put(scope + key, orjson.dumps(req.data))
    return None


def _delete(req: Request, data: FieldData) -> Response | None:
    scope = _scope(req)
    _storage(req).delete(scope + data.get("path"))
    return None


def _list(req: Request, data: FieldData) -> Response | None:
    return Response(data={"keys": _storage(req).list(_scope(req) + list_prefix(data))})


def _legacy_response_warning(req: Request, resp: Response) -> None:
    """Reading a wrapped response the old way still works, with Vault's deprecation warning."""
    entry = req.token_entry
    if req.path == "response" and list(getattr(entry, "policies", [])) == [RESPONSE_WRAPPING_POLICY]:
        resp.add_warning(RESPONSE_WARNING)


def factory(core: Core, entry: MountEntry) -> Backend:
    operations = {
        Operation.READ: _read,
        Operation.CREATE: _write,
        Operation.UPDATE: _write,
        Operation.DELETE: _delete,
        Operation.LIST: _list,
    }
    return passthrough_backend(
        "cubbyhole",
        HELP,
        SYNOPSIS,
        "Specifies the path of the secret.",
        operations,
        _exists,
        service_tokens_only=True,
    )

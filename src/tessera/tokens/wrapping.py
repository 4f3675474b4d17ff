"""Response wrapping: a single-use token whose cubbyhole holds the real response.

``wrap_response`` is called by the Core for any request carrying ``X-Vault-Wrap-TTL`` (and for
sys/wrapping/rewrap, which asks for wrapping itself). The wrapped response is stored as the JSON
body the client would have received, so unwrapping returns it byte-for-byte in meaning.
Cubbyhole layout (shared with the cubbyhole engine): ``<cubbyhole_id>/<path>`` → JSON of the data.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..framework import (
    CodedError,
    ErrorResponse,
    InternalError,
    Operation,
    PermissionDenied,
    Request,
    Response,
    WrapInfo,
)
from ..framework.envelope import envelope
from ..gocompat.times import rfc3339_nano
from ..storage.base import StorageView
from .batch import MalformedBatchToken
from .entry import TokenEntry
from .host import TokenHost

WRAPPING_POLICY = "response-wrapping"
INVALID_WRAPPING_TOKEN = "wrapping token is not valid or does not exist"
WRAPPING_PATHS = ("sys/wrapping/lookup", "sys/wrapping/unwrap", "sys/wrapping/rewrap")
REWRAP_PATH = "sys/wrapping/rewrap"


def is_wrapping_token(entry: TokenEntry) -> bool:
    return entry.policies == [WRAPPING_POLICY]


def _cubbyhole(core: TokenHost) -> StorageView:
    for mount in core.mounts:
        if mount.type == "cubbyhole":
            return StorageView(core.barrier, mount.storage_prefix)
    raise InternalError("no cubby mount entry")


def cubby_put(core: TokenHost, entry: TokenEntry, key: str, data: dict[str, Any]) -> None:
    _cubbyhole(core).put(f"{entry.cubbyhole_id}/{key}", orjson.dumps(data))


def cubby_get(core: TokenHost, entry: TokenEntry, key: str) -> dict[str, Any] | None:
    doc = _cubbyhole(core).get_json(f"{entry.cubbyhole_id}/{key}")
    return doc if isinstance(doc, dict) else None


def _response_json(req: Request, resp: Response) -> str:
    """The HTTP body the wrapped request would have produced (Vault's LogicalResponseToHTTPResponse)."""
    body = envelope(resp, req.request_id, "")
    body.pop("mount_type", None)
    body["wrap_info"] = None
    return orjson.dumps(body).decode()


def wrap_response(core: TokenHost, req: Request, resp: Response, accessor_field: str = "") -> Response:
    """Store ``resp`` in a new wrapping token's cubbyhole and answer with its wrap_info only.

    ``accessor_field`` is the answering backend's ``wrapped_accessor_field``: the data field
    whose accessor the wrap_info names when the response carries no token."""
    ttl = 0
    creation_path = ""
    if resp.wrap_info is not None:
        ttl = resp.wrap_info.ttl
        creation_path = resp.wrap_info.creation_path
        if resp.wrap_info.token:
            return resp
        resp.wrap_info = None
    if req.wrap_ttl > 0 and (ttl == 0 or req.wrap_ttl < ttl):
        ttl = req.wrap_ttl
    if ttl <= 0 or resp.is_error:
        return resp
    if req.operation == Operation.LIST:
        # Vault refuses to wrap an empty listing (a bare 404, unlike the router's multierror one).
        data = resp.data or {}
        if (data.get("keys") is not None and not data["keys"]) or (
            data.get("keys") is None and not data and not resp.warnings
        ):
            raise CodedError(404, "unsupported path")

    caller = req.token_entry
    display_name = caller.display_name if caller is not None else ""
    if resp.auth is not None and resp.auth.client_token and req.unauthenticated:
        display_name = resp.auth.display_name
    now = time.time()
    entry = TokenEntry(
        display_name=display_name,
        path=req.full_path,
        policies=[WRAPPING_POLICY],
        creation_time=float(int(now)),
        ttl=ttl,
        num_uses=1,
        explicit_max_ttl=ttl,
        renewable=False,
        issue_time=now,
    )
    core.tokens.create(entry)
    rewrap = req.full_path == REWRAP_PATH
    try:
        stored = (resp.data or {}).get("response") if rewrap else _response_json(req, resp)
        cubby_put(core, entry, "response", {"response": stored})
        cubby_put(
            core,
            entry,
            "wrapinfo",
            {
                "creation_ttl": ttl,
                "creation_time": rfc3339_nano(now),
                "creation_path": creation_path if rewrap else req.full_path,
            },
        )
    except Exception:
        core.tokens.revoke_orphan(entry)
        raise
    info = WrapInfo(
        token=entry.id,
        accessor=entry.accessor,
        ttl=ttl,
        creation_time=rfc3339_nano(now),
        creation_path=creation_path if rewrap else req.full_path,
    )
    if resp.auth is not None and resp.auth.accessor:
        info.wrapped_accessor = resp.auth.accessor
    elif resp.auth is None and accessor_field and resp.data and accessor_field in resp.data:
        info.wrapped_accessor = str(resp.data[accessor_field])
    # Vault's HTTP layer answers a wrapped response with wrap_info alone (no warnings).
    return Response(wrap_info=info)


# -- the sys/wrapping/* side -------------------------------------------------------------------
def validate_wrapping_request(core: TokenHost, req: Request) -> None:
    """Vault's validateWrappingToken, run before the token check on lookup/unwrap/rewrap."""
    third_party = req.data.get("token") is not None
    if third_party:
        token = req.data["token"]
        if not isinstance(token, str):
            raise CodedError(403, "error validating wrapping token: could not decode token in request body")
        if token == "":
            raise CodedError(403, "error validating wrapping token: empty token in request body")
    else:
        token = req.client_token
    if not token:
        raise CodedError(403, "error validating wrapping token: token is empty")
    try:
        entry = core.tokens.lookup(token)
    except MalformedBatchToken:
        entry = None
    if entry is None or not is_wrapping_token(entry):
        raise ErrorResponse(INVALID_WRAPPING_TOKEN)


def _target(core: TokenHost, req: Request, token_field: str) -> tuple[TokenEntry, bool]:
    token = token_field or req.client_token
    third_party = bool(token_field)
    try:
        entry = core.tokens.lookup(token, tainted=True)
    except MalformedBatchToken:
        entry = None
    if entry is None:
        # validate_wrapping_request saw it a moment ago: a concurrent unwrap spent it since.
        raise ErrorResponse(INVALID_WRAPPING_TOKEN)
    if len(entry.policies) != 1:
        raise InternalError("token is not a valid unwrap token")
    return entry, third_party


def _consume(core: TokenHost, entry: TokenEntry) -> None:
    """A third party unwrapping spends the wrapping token's only use (exactly one caller wins)."""
    try:
        won = core.tokens.use(entry)
    except PermissionDenied:
        won = False
    if not won:
        raise ErrorResponse(INVALID_WRAPPING_TOKEN)


def _read_wrapinfo(core: TokenHost, entry: TokenEntry) -> dict[str, Any]:
    info = cubby_get(core, entry, "wrapinfo")
    if info is None:
        raise ErrorResponse("no information found; wrapping token may be from a previous OpenBao version")
    return info


def unwrap(core: TokenHost, req: Request, token_field: str) -> Response | None:
    entry, third_party = _target(core, req, token_field)
    if third_party:
        _consume(core, entry)
    try:
        doc = cubby_get(core, entry, "response")
        if doc is None:
            raise InternalError("no information found; wrapping token may be from a previous OpenBao version")
        response = doc.get("response")
        if not isinstance(response, str):
            raise InternalError("no response found inside the cubbyhole")
    finally:
        if third_party:
            core.tokens.revoke_orphan(entry)
    if response == "":
        return Response(status=204)
    return Response(raw_body=orjson.loads(response), status=200)


def lookup(core: TokenHost, req: Request, token_field: str) -> Response | None:
    token = token_field or req.client_token
    if not token:
        raise ErrorResponse('missing "token" value in input')
    entry, _ = _target(core, req, token_field)
    info = _read_wrapinfo(core, entry)
    data: dict[str, Any] = {}
    if info.get("creation_ttl") is not None:
        data["creation_ttl"] = int(info["creation_ttl"])
    if info.get("creation_time") is not None:
        data["creation_time"] = info["creation_time"]
    if info.get("creation_path") is not None:
        data["creation_path"] = info["creation_path"]
    return Response(data=data)


def rewrap(core: TokenHost, req: Request, token_field: str) -> Response | None:
    entry, third_party = _target(core, req, token_field)
    if third_party:
        _consume(core, entry)
    try:
        info = _read_wrapinfo(core, entry)
        if info.get("creation_ttl") is None:
            raise InternalError("creation_ttl value in wrapping information was nil")
        if info.get("creation_path") is None:
            raise InternalError("creation_path value in wrapping information was nil")
        doc = cubby_get(core, entry, "response")
        if doc is None:
            raise ErrorResponse("no information found; wrapping token may be from a previous OpenBao version")
        if doc.get("response") is None:
            raise InternalError("no response found inside the cubbyhole")
    finally:
        if third_party:
            core.tokens.revoke_orphan(entry)
    return Response(
        data={"response": doc["response"]},
        wrap_info=WrapInfo(
            token="",
            accessor="",
            ttl=int(info["creation_ttl"]),
            creation_time="",
            creation_path=str(info["creation_path"]),
        ),
    )

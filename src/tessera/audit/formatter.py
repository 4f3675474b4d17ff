"""Audit entries in OpenBao's schema (audit/format.go): what one request or response line holds.

A ``LogInput`` is the device-independent record of a request (and, once answered, its response);
``format_request`` / ``format_response`` turn it into the entry a device writes, with the
device's salt applied unless it logs raw. Keys follow the Go structs' order and ``omitempty``
rules, so a line reads like the reference's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..gocompat.times import now_rfc3339_nano, rfc3339_seconds
from .hashing import elide_list_data, hash_structure, json_copy


@dataclass
class FormatConfig:
    """The per-device switches of audit.FormatterConfig."""

    raw: bool = False
    hmac_accessor: bool = True
    elide_list_responses: bool = False
    omit_time: bool = False


@dataclass
class PolicyResults:
    allowed: bool
    granting: list[str] = field(default_factory=list)


@dataclass
class AuthInfo:
    """logical.Auth as the audit log sees it (the caller's, or the one a response issues)."""

    client_token: str = ""
    accessor: str = ""
    display_name: str = ""
    policies: list[str] = field(default_factory=list)
    token_policies: list[str] = field(default_factory=list)
    identity_policies: list[str] = field(default_factory=list)
    no_default_policy: bool = False
    policy_results: PolicyResults | None = None
    metadata: dict[str, str] | None = None
    num_uses: int = 0
    entity_id: str = ""
    entity_created: bool = False
    token_type: str = ""
    ttl: int = 0
    issue_time: float = 0.0


@dataclass
class RequestInfo:
    id: str = ""
    client_id: str = ""
    operation: str = ""
    mount_point: str = ""
    mount_type: str = ""
    mount_accessor: str = ""
    mount_running_version: str = ""
    mount_class: str = ""
    client_token: str = ""
    client_token_accessor: str = ""
    path: str = ""
    data: dict[str, Any] | None = None
    remote_address: str = ""
    remote_port: int = 0
    wrap_ttl: int = 0
    remaining_uses: int = 0


@dataclass
class WrapInfoView:
    ttl: int = 0
    token: str = ""
    accessor: str = ""
    creation_time: str = ""
    creation_path: str = ""
    wrapped_accessor: str = ""


@dataclass
class ResponseInfo:
    auth: AuthInfo | None = None
    lease_id: str | None = None  # None: no secret; "" would be a secret without a lease
    data: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    redirect: str = ""
    wrap_info: WrapInfoView | None = None


@dataclass
class LogInput:
    """logical.LogInput: what the core hands the broker for one audit line."""

    request: RequestInfo
    auth: AuthInfo | None = None
    response: ResponseInfo | None = None
    error: str = ""
    type: str = ""
    non_hmac_request_keys: list[str] = field(default_factory=list)
    non_hmac_response_keys: list[str] = field(default_factory=list)


Hasher = Callable[[str], str]


def _sorted(value: Any) -> Any:
    """Go marshals maps with sorted keys."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """``omitempty``: zero values (and empty maps and slices) are left out."""
    if value is None or value is False:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return
    if isinstance(value, (str, list, dict)) and not value:
        return
    out[key] = value


def _hash_auth(auth: AuthInfo, fn: Hasher | None, hmac_accessor: bool) -> AuthInfo:
    if fn is None:
        return auth
    out = copy.copy(auth)
    if out.client_token:
        out.client_token = fn(out.client_token)
    if hmac_accessor and out.accessor:
        out.accessor = fn(out.accessor)
    return out


def _auth_json(auth: AuthInfo, *, entry: str, remaining_uses: int = 0) -> dict[str, Any]:
    """AuditAuth. ``entry`` says which struct is filled: "request", "response" or "issued"."""
    out: dict[str, Any] = {}
    _put(out, "client_token", auth.client_token)
    _put(out, "accessor", auth.accessor)
    _put(out, "display_name", auth.display_name)
    _put(out, "policies", list(auth.policies))
    _put(out, "token_policies", list(auth.token_policies))
    _put(out, "identity_policies", list(auth.identity_policies))
    _put(out, "no_default_policy", auth.no_default_policy)
    if entry != "issued" and auth.policy_results is not None:
        results: dict[str, Any] = {"allowed": auth.policy_results.allowed}
        if auth.policy_results.granting:
            results["granting_policies"] = [
                {"name": name, "namespace_id": "root", "type": "acl"} for name in auth.policy_results.granting
            ]
        out["policy_results"] = results
    _put(out, "metadata", _sorted(dict(auth.metadata)) if auth.metadata else None)
    if entry == "issued":
        _put(out, "num_uses", auth.num_uses)
    else:
        _put(out, "remaining_uses", remaining_uses)
    _put(out, "entity_id", auth.entity_id)
    if entry == "response":
        _put(out, "entity_created", auth.entity_created)
    out["token_type"] = auth.token_type or "default"
    _put(out, "token_ttl", int(auth.ttl))
    if auth.issue_time:
        out["token_issue_time"] = rfc3339_seconds(auth.issue_time)
    return out


def _request_json(req: RequestInfo, data: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "id", req.id)
    _put(out, "client_id", req.client_id)
    _put(out, "operation", req.operation)
    _put(out, "mount_point", req.mount_point)
    _put(out, "mount_type", req.mount_type)
    _put(out, "mount_accessor", req.mount_accessor)
    _put(out, "mount_running_version", req.mount_running_version)
    _put(out, "mount_class", req.mount_class)
    _put(out, "client_token", req.client_token)
    _put(out, "client_token_accessor", req.client_token_accessor)
    out["namespace"] = {"id": "root"}
    _put(out, "path", req.path)
    _put(out, "data", _sorted(data) if data else None)
    _put(out, "remote_address", req.remote_address)
    _put(out, "remote_port", req.remote_port)
    _put(out, "wrap_ttl", req.wrap_ttl)
    return out


def _hashed_request(inp: LogInput, fn: Hasher | None, cfg: FormatConfig) -> tuple[RequestInfo, Any]:
    req = copy.copy(inp.request)
    data = inp.request.data
    if fn is not None:
        if req.client_token:
            req.client_token = fn(req.client_token)
        if cfg.hmac_accessor and req.client_token_accessor:
            req.client_token_accessor = fn(req.client_token_accessor)
        if data is not None:
            data = hash_structure(json_copy(data), fn, inp.non_hmac_request_keys)
    return req, data


def format_request(inp: LogInput, cfg: FormatConfig, fn: Hasher | None) -> dict[str, Any]:
    """AuditRequestEntry for ``inp`` (``fn`` is the device's HMAC, None when logging raw)."""
    fn = None if cfg.raw else fn
    auth = _hash_auth(inp.auth or AuthInfo(), fn, cfg.hmac_accessor)
    req, data = _hashed_request(inp, fn, cfg)
    out: dict[str, Any] = {}
    if not cfg.omit_time:
        out["time"] = now_rfc3339_nano()
    out["type"] = inp.type or "request"
    out["auth"] = _auth_json(auth, entry="request", remaining_uses=req.remaining_uses)
    out["request"] = _request_json(req, data)
    _put(out, "error", inp.error)
    return out


def format_response(inp: LogInput, cfg: FormatConfig, fn: Hasher | None) -> dict[str, Any]:
    """AuditResponseEntry for ``inp``: the request again, then what was answered."""
    fn = None if cfg.raw else fn
    auth = _hash_auth(inp.auth or AuthInfo(), fn, cfg.hmac_accessor)
    req, req_data = _hashed_request(inp, fn, cfg)
    resp = inp.response or ResponseInfo()
    elide = cfg.elide_list_responses and req.operation == "list"
    resp_data = resp.data
    if resp_data is not None:
        resp_data = json_copy(resp_data)
        if elide:
            elide_list_data(resp_data)
        if fn is not None:
            hash_structure(resp_data, fn, inp.non_hmac_response_keys)
    out: dict[str, Any] = {}
    if not cfg.omit_time:
        out["time"] = now_rfc3339_nano()
    out["type"] = inp.type or "response"
    out["auth"] = _auth_json(auth, entry="response", remaining_uses=req.remaining_uses)
    out["request"] = _request_json(req, req_data)
    body: dict[str, Any] = {}
    if resp.auth is not None:
        body["auth"] = _auth_json(_hash_auth(resp.auth, fn, cfg.hmac_accessor), entry="issued")
    _put(body, "mount_point", req.mount_point)
    _put(body, "mount_type", req.mount_type)
    _put(body, "mount_accessor", req.mount_accessor)
    _put(body, "mount_running_plugin_version", req.mount_running_version)
    _put(body, "mount_class", req.mount_class)
    if resp.lease_id is not None:
        body["secret"] = {"lease_id": resp.lease_id} if resp.lease_id else {}
    _put(body, "data", _sorted(resp_data) if resp_data else None)
    _put(body, "warnings", list(resp.warnings))
    _put(body, "redirect", resp.redirect)
    if resp.wrap_info is not None:
        body["wrap_info"] = _wrap_json(resp.wrap_info, fn, cfg.hmac_accessor)
    out["response"] = body
    _put(out, "error", inp.error)
    return out


def _wrap_json(info: WrapInfoView, fn: Hasher | None, hmac_accessor: bool) -> dict[str, Any]:
    token, accessor, wrapped = info.token, info.accessor, info.wrapped_accessor
    if fn is not None:
        token = fn(token)
        if hmac_accessor:
            accessor = fn(accessor)
            if wrapped:
                wrapped = fn(wrapped)
    out: dict[str, Any] = {}
    _put(out, "ttl", info.ttl)
    _put(out, "token", token)
    _put(out, "accessor", accessor)
    _put(out, "creation_time", info.creation_time)
    _put(out, "creation_path", info.creation_path)
    _put(out, "wrapped_accessor", wrapped)
    return out

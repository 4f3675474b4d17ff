"""The audit trail of one request: what Core.handle_request reports to the broker, and when.

Vault audits a request once its token is resolved and its ACL decided, before the backend runs
(failing closed: no device recorded it, no backend runs), and audits the answer, errors and
denials included. The core calls ``token`` after resolving the caller, ``log_request`` just
before the backend, then ``respond`` or ``failed``; everything the lines need (mount facts,
policy results, client ID, what an error looks like in Vault's terms) is worked out here.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Any, Protocol

import orjson

from .. import __version__
from ..core.host import Host
from ..framework import Operation, Request, Response
from ..framework.errors import (
    CodedError,
    ErrorResponse,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    SealedError,
    UnsupportedOperation,
    UnsupportedPath,
    VaultError,
    multierror,
)
from ..framework.fields import FieldError
from ..gocompat.times import parse_rfc3339
from ..policy.acl import ACLResult
from ..tokens.common import identity_policies
from ..tokens.entry import TokenEntry
from .formatter import AuthInfo, LogInput, PolicyResults, RequestInfo, ResponseInfo, WrapInfoView
from .granting import decided_by, granting_policies
from .hashing import json_copy

log = logging.getLogger("tessera.audit")

RUNNING_VERSION = f"v{__version__}+builtin.tessera"
INVALID_REQUEST = multierror("invalid request")
# Where an ErrorResponse usually comes with logical.ErrInvalidRequest in Vault (see _paired_error).
INVALID_REQUEST_MODULES = (
    "tessera.auth.token",
    "tessera.tokens.",
    "tessera.secrets.kv.",
    "tessera.secrets.transit.",
    "tessera.system.mounts",
    "tessera.system.mount_tune",
)
_UNMATCHED = object()  # a trail's route before it is looked up
CUBBYHOLE_REFUSED = "cubbyhole operations are only supported by 'service' type tokens"
# ErrorResponses whose text Vault also returns as the error (handleError with a coded error).
CODED_MESSAGES = ("path is already in use",)
# Login failures Vault's auth methods return with logical.ErrInvalidCredentials.
INVALID_CREDENTIALS = frozenset({"invalid username or password", "invalid credentials"})


def client_id(entry: Any) -> str:
    """TokenEntry.CreateClientID: the entity, else SHA-256 of the sorted policies and namespace."""
    if entry.entity_id:
        return str(entry.entity_id)
    text = "".join("\x7f" + p for p in sorted(entry.policies)) + "\x00" + (entry.namespace_id or "root")
    return base64.b64encode(hashlib.sha256(text[1:].encode()).digest()).decode()


def _failure() -> CodedError:
    """What a client sees when no device could record its request: 500 ``internal error``."""
    return CodedError(500, "internal error")


class AuditSink(Protocol):
    """Where a trail sends its lines (the AuditBroker): True when some device recorded one."""

    def log_request(self, inp: LogInput) -> bool: ...

    def log_response(self, inp: LogInput) -> bool: ...


class Trail:
    """One request's audit record, built as the core pipeline goes."""

    def __init__(self, core: Host, broker: AuditSink, req: Request) -> None:
        self.core = core
        self.broker = broker
        self.req = req
        self.started = time.time()
        self.stage = "start"  # start → token (caller known) → logged (request line written)
        self.entry: Any = None
        self.remaining_uses = 0
        self.info: RequestInfo | None = None
        self.auth: AuthInfo | None = None
        self.non_hmac_request: list[str] = []
        self.non_hmac_response: list[str] = []
        self._route: Any = _UNMATCHED

    # -- hooks the core calls ---------------------------------------------------------------
    def token(self, entry: Any) -> None:
        """The caller's token, resolved (or None); noted before a use is counted."""
        self.entry = entry
        self.remaining_uses = int(entry.num_uses) if entry is not None and entry.num_uses > 0 else 0
        self.stage = "token"

    def log_request(self, granted: ACLResult | None = None) -> None:
        """The request passed the token and ACL checks (``granted``: the ACL's answer): record it
        or refuse it (500)."""
        if self._cubbyhole_refused() and self.req.operation in (Operation.CREATE, Operation.UPDATE):
            self._cubbyhole_quirk()
        self.auth = self._caller_auth(allowed=True, granted=granted)
        inp = self._input(self.auth)
        self.stage = "logged"
        if not self.broker.log_request(inp):
            raise _failure()

    def respond(self, resp: Response | None) -> Response | None:
        """Record the answer; when no device can, the client gets a 500 instead."""
        self._routed()
        inp = self._input(self._response_auth(resp))
        inp.response = self._response_info(resp)
        if not self.broker.log_response(inp):
            raise _failure()
        return resp

    def failed(self, exc: BaseException) -> None:
        """The request ended in an error: record what Vault would (raises 500 if it cannot)."""
        if isinstance(exc, SealedError):
            return
        if self.stage == "start":
            if not (isinstance(exc, CodedError) and exc.message.startswith("no handler for route")):
                return  # e.g. an invalid wrapping token: refused before Vault's audit point
            self._unrouted(exc)
            return
        if self.stage == "token":
            self._refused(exc)
            return
        self._routed()
        data, error, login_failed = self._error_view(exc)
        auth = None if login_failed else self.auth
        inp = self._input(auth)
        inp.error = error
        inp.response = ResponseInfo(data=data)
        if not self.broker.log_response(inp):
            raise _failure() from None

    def _routed(self) -> None:
        """The backend saw the request: from now on lines name the mount's accessor."""
        info = self._request_info()
        if info.mount_point and self.req.mount_accessor and not self._cubbyhole_refused():
            info.mount_accessor = self.req.mount_accessor

    # -- the failure paths ------------------------------------------------------------------
    def _refused(self, exc: BaseException) -> None:
        """Refused before the backend (bad token, ACL denial, a failed existence check)."""
        message = _message(exc)
        if isinstance(exc, PermissionDenied) and exc.wrapped:
            auth: AuthInfo | None = self._caller_auth(allowed=False)
            outer = message
        elif isinstance(exc, PermissionDenied):
            auth, outer = None, multierror(message)
        else:
            auth, outer = None, INVALID_REQUEST
        inp = self._input(auth)
        inp.error = message
        self.broker.log_request(inp)  # Vault only logs a failure to record a refusal
        self.stage = "logged"
        inp.error = outer
        inp.response = ResponseInfo(data={"error": message})
        if not self.broker.log_response(inp):
            raise _failure() from None

    def _cubbyhole_quirk(self) -> None:
        """Vault's router refuses a non-service token's cubbyhole write in the existence check,
        before the audit point, and leaves the request's path relative to the mount."""
        info = self._request_info()
        info.path = self.req.path
        info.client_id = ""
        info.operation = "update"
        raise ErrorResponse(CUBBYHOLE_REFUSED)

    def _unrouted(self, exc: VaultError) -> None:
        """No mount matched: Vault still audits the request (with the caller) and its 404."""
        if self.req.client_token:
            self.entry = self.core.resolve_token(self.req.client_token)
            if self.entry is not None and self.entry.num_uses > 0:
                self.remaining_uses = int(self.entry.num_uses)
        self.auth = self._caller_auth(allowed=True) if self.entry is not None else None
        inp = self._input(self.auth)
        if not self.broker.log_request(inp):
            raise _failure() from None
        inp.error = multierror("unsupported path")
        inp.response = ResponseInfo(data={"error": exc.message})
        if not self.broker.log_response(inp):
            raise _failure() from None

    def _error_view(self, exc: BaseException) -> tuple[dict[str, Any] | None, str, bool]:
        """(response data, outer error text, login failed) of an error raised by the backend."""
        if isinstance(exc, NotFound):
            return None, "", False
        outer = getattr(exc, "outer_error", None)
        if isinstance(exc, ErrorResponse) and outer is not None:
            return {"error": exc.message}, str(outer), False
        if isinstance(exc, ErrorResponse):
            if isinstance(exc.__context__, FieldError):
                return {"error": exc.message}, INVALID_REQUEST, False
            if self.req.unauthenticated and exc.message in INVALID_CREDENTIALS:
                return {"error": exc.message}, "invalid credentials", True
            return {"error": exc.message}, _paired_error(exc), False
        if isinstance(exc, (InvalidRequest, UnsupportedPath, UnsupportedOperation)):
            return None, exc.errors()[0] if exc.errors() else INVALID_REQUEST, False
        # handleRequest wraps a backend's error in a multierror; handleLoginRequest does not.
        wrap = (lambda text: text) if self.req.unauthenticated else multierror
        if isinstance(exc, VaultError):
            data = dict(exc.data) if isinstance(exc.data, dict) else None
            return data, wrap(exc.message or "internal error"), False
        return None, wrap("internal error"), False

    # -- building blocks --------------------------------------------------------------------
    def _request_info(self) -> RequestInfo:
        if self.info is not None:
            return self.info
        req = self.req
        full_path = req.full_path or req.path
        info = RequestInfo(
            id=req.request_id,
            operation=req.operation.value,
            client_token=req.client_token,
            path=full_path,
            remote_address=req.remote_addr,
            remote_port=int(getattr(req, "remote_port", 0) or 0),
            wrap_ttl=int(req.wrap_ttl or 0),
        )
        route = self._mount()
        if route is not None:
            mount = route.entry
            info.mount_point = mount.route_prefix
            info.mount_type = mount.type
            info.mount_running_version = RUNNING_VERSION
            info.mount_class = "auth" if mount.table == "auth" else "secret"
            self.non_hmac_request = list(mount.config.audit_non_hmac_request_keys)
            self.non_hmac_response = list(mount.config.audit_non_hmac_response_keys)
            if req.operation in (Operation.CREATE, Operation.UPDATE) and not self._cubbyhole_refused():
                info.mount_accessor = mount.accessor  # the existence check went through the router
        if self.entry is not None:
            info.client_id = client_id(self.entry)
            info.client_token_accessor = self.entry.accessor or ""
        info.remaining_uses = self.remaining_uses
        info.data = _request_data(req.data)
        self.info = info
        return info

    def _mount(self) -> Any:
        """The request's route (None when no mount matches), looked up once."""
        if self._route is _UNMATCHED:
            self._route = self.core.router.match(self.req.full_path or self.req.path)
        return self._route

    def _cubbyhole_refused(self) -> bool:
        """A caller without a service token that entered a mount only service tokens may use."""
        if not self.req.mount_point or (self.entry is not None and self.entry.type == "service"):
            return False
        route = self._mount()
        return route is not None and bool(route.backend.service_tokens_only)

    def _input(self, auth: AuthInfo | None) -> LogInput:
        return LogInput(
            request=self._request_info(),
            auth=auth,
            non_hmac_request_keys=self.non_hmac_request,
            non_hmac_response_keys=self.non_hmac_response,
        )

    def _caller_auth(self, *, allowed: bool, granted: ACLResult | None = None) -> AuthInfo:
        """CheckToken's Auth: the caller's token facts and the policy decision."""
        req, entry = self.req, self.entry
        auth = AuthInfo(client_token=req.client_token)
        granting: list[str] = []
        if entry is not None:
            ident = identity_policies(self.core, entry.entity_id)
            auth.accessor = entry.accessor or ""
            auth.token_policies = list(entry.policies)
            auth.identity_policies = ident
            auth.policies = sorted(set(entry.policies) | set(ident))
            auth.metadata = dict(entry.meta) if entry.meta else None
            auth.display_name = entry.display_name
            auth.entity_id = entry.entity_id
            auth.token_type = entry.type
            auth.ttl = int(entry.creation_ttl or entry.ttl or 0)  # te.TTL: as issued, not as renewed
            auth.issue_time = float(entry.creation_time or 0)
            if allowed and not req.unauthenticated:
                granting = granting_policies(entry, req, granted or self._decided(entry))
        auth.policy_results = PolicyResults(allowed=allowed, granting=granting)
        return auth

    def _decided(self, entry: TokenEntry) -> ACLResult | None:
        """The ACL's answer for a request the pipeline did not check itself (e.g. unrouted)."""
        try:
            return decided_by(self.core.acl_for(entry), self.req)
        except Exception:
            return None

    def _response_auth(self, resp: Response | None) -> AuthInfo | None:
        """A login's line carries the token it issued as its auth; others the caller's."""
        if (
            resp is not None
            and resp.auth is not None
            and resp.auth.client_token
            and resp.wrap_info is None
            and self.req.unauthenticated
            and self.req.full_path.startswith("auth/")
        ):
            issued = self._issued_auth(resp.auth)
            issued.entity_created = self._entity_created(issued.entity_id)
            return issued
        return self.auth

    def _issued_auth(self, auth: Any) -> AuthInfo:
        return AuthInfo(
            client_token=auth.client_token,
            accessor=auth.accessor,
            display_name=auth.display_name,
            policies=list(auth.policies),
            token_policies=list(auth.token_policies),
            identity_policies=list(auth.identity_policies),
            metadata=dict(auth.metadata) if auth.metadata else None,
            num_uses=int(auth.num_uses or 0),
            entity_id=auth.entity_id,
            token_type=auth.token_type,
            ttl=int(auth.lease_duration or auth.ttl or 0),
        )

    def _entity_created(self, entity_id: str) -> bool:
        """Whether this login created the entity (its creation time is within this request)."""
        if not entity_id:
            return False
        route = self.core.router.get("identity/")
        store = getattr(route.backend, "identity", None) if route is not None else None
        getter = getattr(store, "entity", None)
        if getter is None:
            return False
        try:
            doc = getter(entity_id)
            created = parse_rfc3339(doc["creation_time"]) if doc else 0.0
        except Exception:
            return False
        return created >= self.started - 0.001

    def _response_info(self, resp: Response | None) -> ResponseInfo:
        if resp is None:
            return ResponseInfo()
        if resp.wrap_info is not None:
            w = resp.wrap_info
            view = WrapInfoView(
                ttl=int(w.ttl),
                token=w.token,
                accessor=w.accessor,
                creation_time=w.creation_time,
                creation_path=w.creation_path,
                wrapped_accessor=w.wrapped_accessor,
            )
            return ResponseInfo(wrap_info=view, warnings=list(resp.warnings))
        if resp.raw_body is not None:
            return self._raw_response(resp)
        out = ResponseInfo(data=resp.data, warnings=list(resp.warnings))
        if resp.auth is not None:
            out.auth = self._issued_auth(resp.auth)
            if self.req.full_path.startswith("auth/token/renew") and resp.auth.client_token:
                renewed = self.core.resolve_token(resp.auth.client_token)
                out.auth.issue_time = float(renewed.creation_time or 0) if renewed is not None else 0.0
        if resp.secret is not None:
            out.lease_id = resp.secret.lease_id
        elif self._kv_v1_read(resp):
            out.lease_id = ""  # the passthrough backend answers reads as a (lease-less) secret
        return out

    def _kv_v1_read(self, resp: Response) -> bool:
        if self.req.operation != Operation.READ or resp.data is None or not self.req.mount_point:
            return False
        route = self._mount()
        return route is not None and bool(route.backend.reads_as_secrets)

    def _raw_response(self, resp: Response) -> ResponseInfo:
        """An unwrapped answer is logged as the response it wraps; other raw bodies as Vault's
        http_raw_body data."""
        body = resp.raw_body
        if self.req.full_path == "sys/wrapping/unwrap" and isinstance(body, dict):
            out = ResponseInfo(data=body.get("data"), warnings=list(body.get("warnings") or []))
            if body.get("lease_id"):
                out.lease_id = str(body["lease_id"])
            raw_auth = body.get("auth")
            if isinstance(raw_auth, dict):
                out.auth = AuthInfo(
                    client_token=str(raw_auth.get("client_token") or ""),
                    accessor=str(raw_auth.get("accessor") or ""),
                    policies=list(raw_auth.get("policies") or []),
                    token_policies=list(raw_auth.get("token_policies") or []),
                    identity_policies=list(raw_auth.get("identity_policies") or []),
                    metadata=raw_auth.get("metadata") or None,
                    entity_id=str(raw_auth.get("entity_id") or ""),
                    token_type=str(raw_auth.get("token_type") or ""),
                    ttl=int(raw_auth.get("lease_duration") or 0),
                )
            return out
        if isinstance(body, bytes):  # a certificate or CRL: Go's JSON writes []byte as base64
            content_type = resp.headers.get("Content-Type", "application/octet-stream")
            raw_text = base64.b64encode(body).decode()
        else:
            content_type, raw_text = "application/json", orjson.dumps(body).decode()
        return ResponseInfo(
            data={
                "http_content_type": content_type,
                "http_raw_body": raw_text,
                "http_status_code": resp.status or 200,
            },
            warnings=list(resp.warnings),
        )


def _paired_error(exc: BaseException) -> str:
    """The error Vault returns next to this ErrorResponse, guessed from where it was raised.

    Vault's handlers return ``logical.ErrorResponse(msg)`` with either ``nil`` or
    ``logical.ErrInvalidRequest``; the token store, KV, transit and most sys handlers do the
    latter. Code that knows better sets ``outer_error`` on the exception.
    """
    tb = exc.__traceback__
    module = ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    message = exc.message if isinstance(exc, VaultError) else ""
    if message.startswith(CODED_MESSAGES):
        return multierror(message)
    if module.startswith(INVALID_REQUEST_MODULES):
        return INVALID_REQUEST
    return ""


def _message(exc: BaseException) -> str:
    if isinstance(exc, VaultError):
        errors = exc.errors()
        return errors[0] if errors else exc.message
    return "internal error"


def _request_data(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The request's data as it stood when audited (handlers may change it later)."""
    if not data:
        return None
    copied = json_copy(data)
    return copied if isinstance(copied, dict) else None

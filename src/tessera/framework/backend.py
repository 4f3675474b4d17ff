"""Declarative backends: a list of paths, each a regex with typed fields and a handler per operation.

One declaration serves routing, validation, ``?help=1`` and the OpenAPI document, the way
Vault's sdk/framework does.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ErrorResponse, UnsupportedOperation, UnsupportedPath
from .fields import Field, FieldData, FieldError
from .logical import Operation, RawRequest, RawResponse, Request, Response

if TYPE_CHECKING:
    from ..storage.base import Storage

_ROUTE_CACHE_SIZE = 4096

Handler = Callable[[Request, FieldData], Response | None]
ExistenceCheck = Callable[[Request, FieldData], bool]
# Lease callbacks get the request and the secret's internal data (what the backend stored at issue).
SecretCallback = Callable[[Request, dict[str, Any]], Response | None]
# A raw path's handler gets the server it runs on (the HTTP layer's host, typed by the backend that
# declares it) and the HTTP request; None hands the request on to the logical pipeline.
RawHandler = Callable[[Any, RawRequest], Awaitable[RawResponse | None]]
# The key of a raw handler that serves every HTTP method.
ANY_METHOD = "*"


@dataclass
class SecretType:
    """A kind of leased secret a backend issues, with how to renew and revoke it."""

    type: str
    revoke: SecretCallback | None = None
    renew: SecretCallback | None = None


def match_all(name: str) -> str:
    """A named segment that may contain slashes (framework.MatchAllRegex)."""
    return f"(?P<{name}>.*)"


def generic_name(name: str) -> str:
    """A named segment matching Vault's GenericNameRegex."""
    return rf"(?P<{name}>\w(([\w\-.]+)?\w)?)"


def opt_trailing_slash() -> str:
    return "/?"


@dataclass
class Path:
    pattern: str
    fields: dict[str, Field] = field(default_factory=dict)
    operations: dict[Operation, Handler] = field(default_factory=dict)
    existence_check: ExistenceCheck | None = None
    synopsis: str = ""
    description: str = ""
    # Paths whose input is arbitrary (KV v1): no unknown-parameter warning.
    takes_arbitrary_input: bool = False
    # Operation-specific summaries for OpenAPI.
    summaries: dict[Operation, str] = field(default_factory=dict)
    # Needs no token (Vault's PathsSpecial.Unauthenticated) / needs sudo (PathsSpecial.Root).
    unauthenticated: bool = False
    sudo: bool = False
    # The special-path pattern for the two flags above ('*' prefix, '+' segment), when the
    # regex does not say it plainly; derived from the regex otherwise (see special_pattern).
    special: tuple[str, ...] = ()
    # Answered by the HTTP layer before the logical pipeline, as bare JSON with its own status
    # (sys/health, sys/init, ...): HTTP method (or ANY_METHOD) -> handler; other methods get a 405.
    raw: dict[str, RawHandler] = field(default_factory=dict)
    # A raw path that works while sealed. Otherwise its request is first checked as a logical
    # request would be, and refused while sealed (OpenBao's key ceremonies).
    sealed_ok: bool = False

    def __post_init__(self) -> None:
        self._regex = re.compile("^" + self.pattern + "$")
        if self.unauthenticated or self.sudo:
            self.special = self.special or (special_pattern(self.pattern),)

    def raw_handler(self, method: str) -> RawHandler | None:
        """The raw handler for an HTTP method, or None when the path has none for it."""
        return self.raw.get(method) or self.raw.get(ANY_METHOD)

    def match(self, path: str) -> re.Match[str] | None:
        return self._regex.match(path)


@dataclass(frozen=True, slots=True)
class PreparedLogin:
    """A login a backend serves on its prepared lane (``Backend.prepared_login``): a body whose
    keys are all in ``fields``, each value a string, handed to ``handler`` as it is (the fields
    the body leaves out are the handler's to default, as its declared Path's defaults say).

    ``path`` is one segment (``login``). The Request the handler gets is routed (mount, storage,
    remote address, ``unauthenticated``) but carries no headers, token or TLS state: a login
    that reads them declares none until the lane hands them over."""

    path: str
    fields: frozenset[str]
    handler: Callable[[Request, dict[str, str]], Response]


@dataclass
class Backend:
    """A mounted backend (secrets engine or auth method) built from path declarations.

    Everything the core, audit, tokens and system backend need to know about a backend type is
    said here, so that none of them names a type and a new engine or method is a package plus
    one line in core/registry.py:

    - special paths: ``Path.unauthenticated`` / ``Path.sudo`` (listed here only for Vault paths
      the backend does not serve);
    - lifecycle: ``cleanup``, ``periodic``, ``invalidate``; leases: ``secrets``;
    - logins: ``login_alias`` (user lockout: ``locks_out_users``), ``resolve_role`` (role quotas);
    - tokens: ``batch_token_issuers`` (sys/token-issuers), ``wrapped_accessor_field`` (wrapping);
    - audit: ``service_tokens_only``, ``reads_as_secrets``.
    """

    paths: list[Path] = field(default_factory=list)
    help: str = ""
    # Paths needing sudo (glob with trailing '*'), and those needing no token.
    root_paths: list[str] = field(default_factory=list)
    unauthenticated_paths: list[str] = field(default_factory=list)
    backend_type: str = ""
    # 'logical' for secrets engines, 'credential' for auth methods.
    kind: str = "logical"
    # Leased secret types by name; responses name theirs in Secret.internal_data["secret_type"].
    secrets: dict[str, SecretType] = field(default_factory=dict)
    # Called when the mount is removed or the server seals (close connections, stop threads).
    cleanup: Callable[[], None] | None = None
    # Called by the core's background ticker about once a second (timers such as auto-rotation).
    periodic: Callable[[], None] | None = None
    # Called in a worker process when the active process wrote a key of this mount (the key
    # relative to the mount's storage): the backend drops what it keeps of it in memory, like
    # Vault's InvalidateFunc. None means the backend cannot say, and the worker reloads it all.
    invalidate: Callable[[str], None] | None = None
    # An auth method's alias look-ahead for user lockout (core/lockout.py): the name a login
    # request is for (a username, a role ID), or None when the request is no login. Methods
    # without one are never locked out.
    login_alias: Callable[[Request], str | None] | None = None
    # An auth method's role look-ahead for role-based quotas (Vault's ResolveRoleOperation): the
    # role a login request acts for, "" when none. Methods without one take no role quotas.
    resolve_role: Callable[[Request], str] | None = None
    # An auth method's paths that mint batch tokens (relative to the mount, e.g. AppRole's
    # ``role/<name>``), read from the mount's storage, for sys/token-issuers. None: it names none.
    batch_token_issuers: Callable[[Storage], list[str]] | None = None
    # The response data field naming the accessor of a credential this backend hands out that is
    # no token (AppRole's secret_id_accessor): a wrapped response shows it as wrap_info.accessor.
    wrapped_accessor_field: str = ""
    # Only service tokens may use it (the cubbyhole: storage per token). Vault's router refuses
    # other callers' writes before the backend, so their audit lines name no mount accessor.
    service_tokens_only: bool = False
    # Reads answer as a lease-less secret (Vault's passthrough backend, KV v1): their audit line
    # shows an empty lease_id.
    reads_as_secrets: bool = False
    # A backend of one catch-all path (KV v1) may serve a plain read (no query, no wrapping) of
    # a non-empty key without a Request (core/prepared.py): (storage, path relative to the mount,
    # the mount's route prefix) -> exactly what its READ handler answers for that request.
    prepared_read: Callable[[Storage, str, str], Response | None] | None = None
    # An auth method's login that a plain body may reach without the framework's dispatch
    # (core/prepared.py): its path relative to the mount, its fields (string-typed, each value
    # given as a string) and the handler given the routed Request and those values, answering
    # exactly as the declared UPDATE handler does for the same request.
    prepared_login: PreparedLogin | None = None
    # _lookup's memo: request path -> the matching path and its captures.
    _route_cache: dict[str, tuple[Path, dict[str, str]] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """The special paths are the listed ones (Vault paths without a declaration here) and
        those the declarations flag."""
        self.root_paths = _merged(self.root_paths, [s for p in self.paths if p.sudo for s in p.special])
        self.unauthenticated_paths = _merged(
            self.unauthenticated_paths, [s for p in self.paths if p.unauthenticated for s in p.special]
        )

    @property
    def locks_out_users(self) -> bool:
        """Whether user lockout applies to this method's logins (and its mounts may tune it)."""
        return self.login_alias is not None

    @staticmethod
    def keeps_nothing(key: str) -> None:
        """``invalidate`` of a backend that keeps nothing of its storage in memory."""

    def secret_type(self, internal: dict[str, Any]) -> SecretType | None:
        name = internal.get("secret_type", "")
        if name in self.secrets:
            return self.secrets[name]
        if len(self.secrets) == 1:
            return next(iter(self.secrets.values()))
        return None

    # -- routing ---------------------------------------------------------------------
    def _lookup(self, path: str) -> tuple[Path, dict[str, str]] | None:
        """The matching path and every named capture ("" for an unmatched optional group, as Go).

        Results are memoised per request path: routing runs for the existence check and again for
        dispatch, and hot paths (transit/encrypt/<key>, secret/data/<name>) repeat.
        """
        cache = self._route_cache
        hit = cache.get(path, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        found = None
        for p in self.paths:
            m = p.match(path)
            if m:
                found = (p, {k: ("" if v is None else v) for k, v in m.groupdict().items()})
                break
        if len(cache) >= _ROUTE_CACHE_SIZE:
            cache.clear()
        cache[path] = found
        return found

    def route(self, path: str) -> tuple[Path, dict[str, str]] | None:
        found = self._lookup(path)
        return None if found is None else (found[0], dict(found[1]))

    def existence(self, req: Request) -> tuple[bool, bool]:
        """(has a check, item exists) for the request's path."""
        routed = self._lookup(req.path)
        if routed is None:
            return False, False
        path, captures = routed
        check = path.existence_check
        if check is None:
            return False, False
        data = FieldData({**req.data, **captures}, path.fields)
        try:
            data.validate()  # Vault converts fields during the existence check: a bad value is a bare 400
        except FieldError as exc:
            raise ErrorResponse(str(exc)) from None
        exists = bool(check(req, data))
        req.checked_fields = (path, req.data, data)
        return True, exists

    def handle_request(self, req: Request) -> Response | None:
        routed = self._lookup(req.path)  # shared: read, never changed here
        if req.operation == Operation.HELP:
            return self.help_response(req.path, routed[0] if routed else None)
        if routed is None:
            raise UnsupportedPath()
        path, captures = routed
        handler = path.operations.get(req.operation)
        if handler is None and req.operation == Operation.CREATE:
            handler = path.operations.get(Operation.UPDATE)
        if handler is None:
            raise UnsupportedOperation()
        # Captures from the URL take priority over body fields of the same name, with a warning.
        # (Sorted only for the warning: most requests replace nothing.)
        replaced = [k for k in captures if req.data.get(k) is not None] if captures else []
        checked, req.checked_fields = req.checked_fields, None
        if checked is not None and checked[0] is path and checked[1] is req.data:
            data = checked[2]  # the existence check converted the same input a moment ago
        else:
            raw = dict(req.data)
            if captures:
                raw.update(captures)
            data = FieldData(raw, path.fields)
            try:
                data.validate()
            except FieldError as exc:
                raise ErrorResponse(f"Field validation failed: {exc}") from None
        resp = handler(req, data)
        ignored: list[str] = []
        if not path.takes_arbitrary_input and not path.fields.keys() >= req.data.keys():
            # Reads and lists too: Vault also warns about unknown query parameters.
            ignored = sorted(k for k in req.data if k not in path.fields)
        # Vault warns only on a non-empty response: a handler returning nothing still gives 204.
        # Answers with an explicit status (RespondWithStatusCode) are rendered before Vault adds it.
        if ignored and resp is not None and resp.status is None:
            resp.add_warning("Endpoint ignored these unrecognized parameters: [" + " ".join(ignored) + "]")
        if replaced and resp is not None:
            resp.add_warning(
                "Endpoint replaced the value of these parameters with the values captured from the "
                f"endpoint's path: [{' '.join(sorted(replaced))}]"
            )
        return resp

    # -- help and OpenAPI ------------------------------------------------------------
    def help_response(self, rel_path: str, path: Path | None) -> Response:
        text = self.help or ""
        if path is not None:
            text = f"Request:        {rel_path}\nMatching Route: ^{path.pattern}$\n\n{path.synopsis}\n\n"
            if path.fields:
                text += "## PARAMETERS\n\n"
                for name, spec in sorted(path.fields.items()):
                    text += f"{name} ({spec.type.value})\n\n    {spec.description}\n\n"
            text += f"## DESCRIPTION\n\n{path.description or path.synopsis}\n"
        return Response(data={"help": text, "openapi": self.openapi(prefix="")})

    def openapi(self, prefix: str) -> dict[str, Any]:
        """OpenAPI path items for this backend mounted at ``prefix``."""
        out: dict[str, Any] = {}
        for p in self.paths:
            api_path, params = _pattern_to_openapi(p.pattern)
            if api_path is None:
                continue
            item: dict[str, Any] = {"description": p.synopsis}
            item["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "description": p.fields[name].description if name in p.fields else "",
                    "schema": {"type": "string"},
                }
                for name in params
            ]
            body_fields = {n: f for n, f in p.fields.items() if n not in params}
            methods: list[tuple[str | None, Operation | None, str]] = [
                (_OP_METHOD.get(op), op, p.summaries.get(op, p.synopsis)) for op in p.operations
            ]
            # A raw handler of any method stands in for the logical operations, where a path has none.
            raw = [m for m in p.raw if m != ANY_METHOD or not p.operations]
            methods += [(_RAW_METHOD.get(m), None, p.synopsis) for m in raw]
            for method, op, summary in methods:
                if method is None or (method in item and op in (Operation.LIST, None)):
                    continue
                spec: dict[str, Any] = {
                    "summary": summary,
                    "operationId": _operation_id(prefix + api_path, method),
                    "responses": {"200": {"description": "OK"}, "204": {"description": "empty body"}},
                }
                if method in ("post", "patch") and body_fields:
                    spec["requestBody"] = _request_body(body_fields)
                if op == Operation.LIST:
                    spec["parameters"] = [_LIST_PARAMETER]
                item[method] = spec
            out["/" + prefix + api_path] = item
        return out


def _request_body(fields: dict[str, Field]) -> dict[str, Any]:
    properties = {n: f.openapi() for n, f in fields.items()}
    return {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "properties": properties}}},
    }


_LIST_PARAMETER = {
    "name": "list",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "enum": ["true"]},
}
# A raw path's HTTP methods as OpenAPI operations (one that takes any method is documented as post).
_RAW_METHOD = {
    "GET": "get",
    "HEAD": "head",
    "POST": "post",
    "PUT": "post",
    "DELETE": "delete",
    ANY_METHOD: "post",
}

_OP_METHOD = {
    Operation.READ: "get",
    Operation.LIST: "get",
    Operation.CREATE: "post",
    Operation.UPDATE: "post",
    Operation.PATCH: "patch",
    Operation.DELETE: "delete",
}


def _named_groups(pattern: str) -> tuple[str, list[str]]:
    """Replace each top-level ``(?P<name>...)`` (balancing nested parentheses) with ``{name}``."""
    out: list[str] = []
    params: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("(?P<", i):
            end_name = pattern.index(">", i)
            name = pattern[i + 4 : end_name]
            depth, j = 0, i
            while j < len(pattern):
                ch = pattern[j]
                if ch == "\\":
                    j += 2
                    continue
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            params.append(name)
            out.append("{" + name + "}")
            i = j + 1
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out), params


_MATCH_ALL_TAIL = re.compile(r"\(\?P<\w+>\.[*+]\)$")
_REGEX_SYNTAX = set("()[]*+?\\|{}^$")


def special_pattern(pattern: str) -> str:
    """A declared pattern as a special path (Vault's PathsSpecial): exact, a '*' prefix for a
    trailing match-all capture, '+' for a capture spanning one segment. Anything else is an error
    at declaration: such a path says its special pattern itself (``Path.special``)."""
    text = pattern.removesuffix("$").removesuffix("/?")
    tail = ""
    star = _MATCH_ALL_TAIL.search(text)
    if star is not None:
        text, tail = text[: star.start()], "*"
    text, params = _named_groups(text)
    captures = {"{" + name + "}" for name in params}
    segments = ["+" if seg in captures else seg for seg in text.split("/")]
    if any(_REGEX_SYNTAX & set(seg) for seg in segments if seg != "+"):
        raise ValueError(f"no special-path form for {pattern!r}: declare Path.special")
    return "/".join(segments) + tail


def _merged(listed: list[str], declared: list[str]) -> list[str]:
    """Both lists, in order, each pattern once."""
    return list(dict.fromkeys([*listed, *declared]))


def _pattern_to_openapi(pattern: str) -> tuple[str | None, list[str]]:
    """Turn ``keys/(?P<name>\\w+)/rotate`` into ``keys/{name}/rotate`` (best effort, like Vault)."""
    text, params = _named_groups(pattern)
    text = text.replace("/?$", "").replace("$", "").replace("^", "")
    # Optional wrappers around a parameter, e.g. "(/{name})?" → "/{name}"; other optional parts drop.
    text = re.sub(r"\((/?\{\w+\})\)\?", r"\1", text)
    text = re.sub(r"\(\?:[^()]*\)\??", "", text)
    text = text.replace("/?", "")
    if any(c in text for c in "()[]*+?\\|"):
        return None, []
    return text, params


def _operation_id(path: str, method: str) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-")
    return f"{method}-{words}" if words else method

"""``login``: verify the JWT's signature and claims against the role, name the caller from its
claims, and hand the core an ``Auth`` shaped by the role's ``token_*`` fields (batch included).

Every refusal uses the reference's words and issues nothing; the token itself is never logged.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from typing import Any

from ...framework import (
    Auth,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    Operation,
    Path,
    PermissionDenied,
    Request,
    Response,
)
from ...framework.backend import PreparedLogin
from ...gocompat.types import json_kind
from ...storage.base import Storage
from ..parsed import ParsedDocs
from ..tokenutil import ip_in_cidrs, login_entity
from .claims import BoundClaims, group_names, mapped_metadata, user_alias
from .config import JWTConfig
from .keys import RemoteKeys, SignatureError, StaticKeys
from .role import Role

INVALID = "error validating token: "


class JWTAuth:
    """What one mount's handlers share: the core, and the key source built from the config."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.lock = threading.Lock()
        self._keys: tuple[str, StaticKeys | RemoteKeys] | None = None
        self._docs = ParsedDocs()

    # -- storage ------------------------------------------------------------------------------
    def config(self, storage: Storage) -> JWTConfig | None:
        return self._docs.get(storage, "config", JWTConfig.from_json)  # type: ignore[no-any-return]

    def role(self, storage: Storage, name: str) -> Role | None:
        return self._docs.get(storage, "role/" + name.lower(), Role.from_json)  # type: ignore[no-any-return]

    def key_source(self, cfg: JWTConfig) -> StaticKeys | RemoteKeys:
        """The config's keys, built once per config (a JWKS keeps its cache between logins)."""
        fingerprint = cfg.fingerprint()
        cached = self._keys
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        with self.lock:
            if self._keys is None or self._keys[0] != fingerprint:
                self._keys = (fingerprint, cfg.key_source(self.local_fetch))
            return self._keys[1]

    def local_fetch(self, url: str) -> Any:
        """This server's own public documents (its OIDC issuer) without a network round trip.

        A request fetching from its own listener would wait on itself: requests are served by one
        runner thread (server/dispatch.py). None for any other URL, which is fetched normally.
        """
        api_addr = str(getattr(getattr(self.core, "config", None), "api_addr", "") or "")
        if not api_addr or not same_origin(url, api_addr):
            return None
        path = urllib.parse.urlsplit(url).path
        if not path.startswith("/v1/"):
            return None
        try:
            resp = self.core.handle_request(Request(operation=Operation.READ, path=path[len("/v1/") :]))
        except Exception:
            return None
        if resp is None:
            return None
        return resp.raw_body if resp.raw_body is not None else resp.data

    def forget_keys(self) -> None:
        self._keys = None

    # -- checks -------------------------------------------------------------------------------
    def verify(self, cfg: JWTConfig, role: Role, token: str) -> dict[str, Any]:
        """Signature, then the claims as the role asks (``RoleChecks``)."""
        try:
            claims, alg = self.key_source(cfg).verify(token)
        except SignatureError as exc:
            raise ErrorResponse(f"{INVALID}error verifying token signature: {exc}") from None
        RoleChecks.of(cfg, role).check(claims, alg)
        return claims

    # -- handlers -----------------------------------------------------------------------------
    def login(self, req: Request, data: FieldData) -> Response:
        return self.authenticate(req, data.get("role"), data.get("jwt"))

    def prepared_login(self, req: Request, body: dict[str, str]) -> Response:
        """``login`` of a body of strings (core/prepared.py): the declared fields' default ("")
        without a ``FieldData`` (``authenticate`` lowercases the role, as its field type does)."""
        return self.authenticate(req, body.get("role", ""), body.get("jwt", ""))

    def authenticate(self, req: Request, role_name: str, token: str) -> Response:
        """The login of ``token`` against the role ``role_name`` names: the Auth to issue."""
        storage = req.storage
        assert storage is not None
        cfg = self.config(storage)
        if cfg is None:
            raise ErrorResponse("could not load configuration")
        name = (role_name or cfg.default_role).lower()
        if not name:
            raise ErrorResponse("missing role")
        role = self.role(storage, name)
        if role is None:
            raise ErrorResponse(f'role "{name}" could not be found')
        if not token:
            raise ErrorResponse("missing token")
        if role.role_type == "oidc":
            raise ErrorResponse("role with oidc role_type is not allowed")
        cidrs = role.token_bound_cidrs or role.bound_cidrs
        if cidrs and not ip_in_cidrs(req.remote_addr, cidrs):
            raise PermissionDenied()
        return self.respond(req, name, role, self.verify(cfg, role, token))

    def respond(self, req: Request, name: str, role: Role, claims: dict[str, Any]) -> Response:
        """The login's ``Auth`` from verified claims: alias, metadata, groups and the role's token fields."""
        alias = user_alias(claims, role.user_claim)
        metadata = {"role": name}
        if role.claim_mappings:  # a mapped "role" replaces the name, in first place
            metadata.update(mapped_metadata(claims, role.claim_mappings))
        groups = group_names(claims, role.groups_claim) if role.groups_claim else []
        # What Auth(...) and populate_token_auth give, in fewer steps (tokenutil.py token_auth).
        auth = role.token_auth(req, metadata=metadata, internal_data={"role": name}, alias_name=alias)
        auth.display_name = alias
        auth.entity_id = login_entity(self.core, req, alias, dict(metadata))
        if role.groups_claim:
            self._sync_groups(req, auth.entity_id, groups)
        return Response(auth=auth)

    def _sync_groups(self, req: Request, entity_id: str, groups: list[str]) -> None:
        route = self.core.router.get("identity/") if self.core is not None else None
        sync = getattr(route.backend, "sync_external_groups", None) if route is not None else None
        if sync is not None:
            sync(entity_id, req.mount_accessor, groups)

    def renew(self, req: Request, auth: Auth) -> Auth | None:
        """pathLoginRenew: the role must still exist; its current TTLs apply (policies are not re-checked)."""
        storage = req.storage
        assert storage is not None
        name = str((auth.internal_data or {}).get("role") or (auth.metadata or {}).get("role", ""))
        role = self.role(storage, name)
        if role is None:
            raise InternalError(f"failed to renew entry: role {name} does not exist during renewal")
        return role.renew_auth(auth)


class RoleChecks:
    """What a role, under the mount's config, asks of a verified token's claims: prepared once
    per stored version of both and kept on the role object with the config it was made with.

    A login reads its config and role from storage every time, and ``ParsedDocs`` hands back the
    same objects while the stored bytes are unchanged; a change to either is a new object, so
    the checks are made again. The checks and their order are the reference's: the registered
    claims' JSON types, the algorithm, issuer, subject and audience, the times with the role's
    leeway, an audience no role asked for, then the bound claims.
    """

    __slots__ = ("algs", "audiences", "bound", "issuer", "leeway", "subject")

    def __init__(self, cfg: JWTConfig, role: Role) -> None:
        self.algs = frozenset(cfg.jwt_supported_algs or ())
        self.issuer = cfg.bound_issuer
        self.subject = role.bound_subject
        self.audiences = frozenset(role.bound_audiences or ())
        self.leeway = role.leeway()
        self.bound = (
            BoundClaims(role.bound_claims, role.bound_claims_type == "glob") if role.bound_claims else None
        )

    @classmethod
    def of(cls, cfg: JWTConfig, role: Role) -> RoleChecks:
        """The role's checks under ``cfg``, made now if the role or the config changed."""
        kept = role.checks
        if kept is not None and kept[0] is cfg and isinstance(kept[1], RoleChecks):
            return kept[1]
        checks = cls(cfg, role)
        role.checks = (cfg, checks)
        return checks

    def check(self, claims: dict[str, Any], alg: str, now: float | None = None) -> None:
        """Refuse the claims as the reference would; times against ``now`` (default: the clock).
        Each registered claim is read once, for its type and for the check that uses it."""
        get = claims.get
        iss, sub, aud = get("iss"), get("sub"), get("aud")
        exp, nbf, iat = get("exp"), get("nbf"), get("iat")
        registered_types(iss, sub, get("jti"), aud, exp, nbf, iat)
        if self.algs and alg not in self.algs:
            raise ErrorResponse(
                f"{INVALID}invalid algorithm (alg) header parameter: token signed with unexpected algorithm"
            )
        if self.issuer and iss != self.issuer:
            raise ErrorResponse(f"{INVALID}invalid issuer (iss) claim")
        if self.subject and sub != self.subject:
            raise ErrorResponse(f"{INVALID}invalid subject (sub) claim")
        if self.audiences and not self._audience_bound(aud):
            raise ErrorResponse(
                f"{INVALID}invalid audience (aud) claim: audience claim does not match any expected audience"
            )
        time_window(exp, nbf, iat, self.leeway, now)
        if not self.audiences and aud:
            raise ErrorResponse("audience claim found in JWT but no audiences bound to the role")
        if self.bound is not None:
            self.bound.check(claims)

    def _audience_bound(self, aud: Any) -> bool:
        """Whether ``aud`` (a string or a list, types checked before) names a bound audience."""
        if type(aud) is str:
            return aud in self.audiences
        if type(aud) is list:
            for one in aud:
                if one in self.audiences:  # each a string
                    return True
        return False


def registered_types(iss: Any, sub: Any, jti: Any, aud: Any, exp: Any, nbf: Any, iat: Any) -> None:
    """The registered claims (their values; None: absent) must have their JSON types, or the
    reference cannot unmarshal them. (Spelled out claim by claim: loops and generators cost a
    third of a login's claim checks.)"""
    if (
        (iss is not None and type(iss) is not str)
        or (sub is not None and type(sub) is not str)
        or (jti is not None and type(jti) is not str)
    ):
        _not_a_string(iss, sub, jti)
    if (
        aud is not None
        and type(aud) is not str
        and not (type(aud) is list and all(type(a) is str for a in aud))
    ):
        raise ErrorResponse(
            f"{INVALID}go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience"
        )
    if (  # exactly an int or a float, as orjson makes them: a bool is no number
        (exp is not None and type(exp) is not int and type(exp) is not float)
        or (nbf is not None and type(nbf) is not int and type(nbf) is not float)
        or (iat is not None and type(iat) is not int and type(iat) is not float)
    ):
        raise ErrorResponse(f"{INVALID}go-jose/go-jose/jwt: expected number value to unmarshal NumericDate")


def _not_a_string(iss: Any, sub: Any, jti: Any) -> None:
    """The refusal of the first of iss, sub and jti that is not a string."""
    for name, value in (("iss", iss), ("sub", sub), ("jti", jti)):
        if value is not None and type(value) is not str:
            raise ErrorResponse(
                f"{INVALID}json: cannot unmarshal {json_kind(value)} into Go struct field Claims.{name} of type string"
            )


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def same_origin(url: str, other: str) -> bool:
    """Same scheme and port, and the same host (all loopback names counting as one)."""
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(other)
    hosts = {a.hostname, b.hostname}
    same_host = a.hostname == b.hostname or hosts <= _LOOPBACK
    return a.scheme == b.scheme and a.port == b.port and same_host


def time_window(exp: Any, nbf: Any, iat: Any, leeway: int, now: float | None = None) -> None:
    """exp, and nbf (or iat when nbf is absent), each with ``leeway`` seconds of skew; all optional
    (None: absent). Their types were checked before (``registered_types``): ints or floats."""
    now = time.time() if now is None else now
    not_before = iat if nbf is None else nbf
    if exp is not None and now - leeway > exp:
        raise ErrorResponse(f"{INVALID}invalid expiration time (exp) claim: token is expired")
    if not_before is not None and now + leeway < not_before:
        raise ErrorResponse(f"{INVALID}invalid not before (nbf) claim: token not yet valid")


def prepared_login(handler: JWTAuth) -> PreparedLogin:
    """The login's prepared lane (``Backend.prepared_login``): its path and string fields."""
    return PreparedLogin("login", frozenset(("role", "jwt")), handler.prepared_login)


def login_paths(handler: JWTAuth) -> list[Path]:
    return [
        Path(
            "login$",
            fields={
                "role": Field(FieldType.LOWERCASE_STRING, "The role to log in against."),
                "jwt": Field(FieldType.STRING, "The signed JWT to validate."),
            },
            operations={Operation.UPDATE: handler.login},
            synopsis="Authenticates to OpenBao using a JWT (or OIDC) token.",
            unauthenticated=True,
        )
    ]

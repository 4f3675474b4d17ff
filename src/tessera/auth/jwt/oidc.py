"""OIDC's browser flow: ``oidc/auth_url`` sends the user to the provider, ``oidc/callback`` takes
the authorization code back, exchanges it for an ID token and logs in with that token's claims.

The state of a flow (nonce, PKCE verifier, role, redirect URI) is kept for ten minutes, in the
mount's storage (behind the barrier) rather than in memory as the reference does, so that with
worker processes the callback finds it; a callback with an unknown or expired state is refused. The ID token must
be signed by a key of the provider's JWKS, name the provider as ``iss``, the client ID in ``aud``
and carry the flow's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from ...framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from .claims import check_bound_claims
from .keys import FETCH_TIMEOUT, RemoteKeys, SignatureError, fetch_json, tls_context

STATE_TTL = 600.0
STATE_PREFIX = "oidc_state/"
_STATE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
LOGIN_FAILED = "Vault login failed."


@dataclass
class FlowState:
    role: str
    redirect_uri: str
    nonce: str
    verifier: str
    client_nonce: str
    created: float


class OIDCFlow:
    """The browser flow of one mount; ``auth`` is the mount's ``JWTAuth`` (storage, claims, tokens)."""

    def __init__(self, auth: Any) -> None:
        self.auth = auth

    def _provider(self, cfg: Any) -> dict[str, Any]:
        """The provider's discovery document (issuer checked)."""
        url = cfg.oidc_discovery_url.rstrip("/") + "/.well-known/openid-configuration"
        doc = fetch_json(url, tls_context(cfg.oidc_discovery_ca_pem), self.auth.local_fetch)
        if not isinstance(doc, dict) or doc.get("issuer") != cfg.oidc_discovery_url:
            raise SignatureError("oidc: issuer did not match the issuer returned by provider")
        return doc

    @staticmethod
    def _remember(storage: Any, state: str, flow: FlowState) -> None:
        """Keep the flow in storage: a write, so with worker processes both halves of the flow
        run in the active process; expired flows are dropped on the way."""
        now = time.time()
        for key in storage.list(STATE_PREFIX):
            doc = storage.get_json(STATE_PREFIX + key)
            if doc is None or now - float(doc.get("created", 0)) > STATE_TTL:
                storage.delete(STATE_PREFIX + key)
        storage.put_json(STATE_PREFIX + state, asdict(flow))

    @staticmethod
    def _take(storage: Any, state: str) -> FlowState | None:
        """The flow of ``state``, once: it is deleted as it is read."""
        if not state or not _STATE_RE.fullmatch(state):
            return None
        doc = storage.get_json(STATE_PREFIX + state)
        if doc is None:
            return None
        storage.delete(STATE_PREFIX + state)
        flow = FlowState(**doc)
        return None if time.time() - flow.created > STATE_TTL else flow

    # -- handlers -----------------------------------------------------------------------------
    def auth_url(self, req: Request, data: FieldData) -> Response:
        assert req.storage is not None
        cfg = self.auth.config(req.storage)
        if cfg is None:
            raise ErrorResponse("could not load configuration")
        if not (cfg.oidc_discovery_url and cfg.oidc_client_id):
            raise ErrorResponse("OIDC login is not configured for this mount")
        name = (data.get("role") or cfg.default_role).lower()
        if not name:
            raise ErrorResponse("missing role")
        redirect_uri = data.get("redirect_uri")
        if not redirect_uri:
            raise ErrorResponse("missing redirect_uri")
        role = self.auth.role(req.storage, name)
        if role is None:
            raise ErrorResponse(f'role "{name}" could not be found')
        if redirect_uri not in (role.allowed_redirect_uris or []):
            return Response(data={"auth_url": ""})  # the reference logs "unauthorized redirect_uri"
        try:
            provider = self._provider(cfg)
        except SignatureError:
            return Response(data={"auth_url": ""})  # the reference logs and answers an empty URL
        state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": cfg.oidc_client_id,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": nonce,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(["openid", *(role.oidc_scopes or [])]),
            "state": state,
        }
        if cfg.oidc_response_mode:
            params["response_mode"] = cfg.oidc_response_mode
        if role.max_age > 0:
            params["max_age"] = str(role.max_age)
        flow = FlowState(name, redirect_uri, nonce, verifier, data.get("client_nonce"), time.time())
        self._remember(req.storage, state, flow)
        endpoint = str(provider.get("authorization_endpoint", ""))
        joiner = "&" if "?" in endpoint else "?"
        return Response(data={"auth_url": endpoint + joiner + urllib.parse.urlencode(sorted(params.items()))})

    def callback(self, req: Request, data: FieldData) -> Response:
        assert req.storage is not None
        flow = self._take(req.storage, _first(data.get("state")))
        if flow is None:
            raise ErrorResponse(f"{LOGIN_FAILED} Expired or missing OAuth state.")
        cfg = self.auth.config(req.storage)
        role = self.auth.role(req.storage, flow.role) if cfg is not None else None
        if cfg is None or role is None:
            raise ErrorResponse(f"{LOGIN_FAILED} Role could not be found")
        if flow.client_nonce and not _same(flow.client_nonce, _first(data.get("client_nonce"))):
            raise ErrorResponse(f"{LOGIN_FAILED} Client nonce mismatch")
        code = _first(data.get("code"))
        if not code:
            raise ErrorResponse(f"{LOGIN_FAILED} No code or id_token received.")
        try:
            provider = self._provider(cfg)
            raw = self._exchange(cfg, provider, flow, code)
            claims = self._verify(cfg, provider, raw)
        except SignatureError as exc:
            raise ErrorResponse(f"{LOGIN_FAILED} Error exchanging oidc code: {exc}") from None
        if not _same(claims.get("nonce", ""), flow.nonce):
            raise ErrorResponse(f"{LOGIN_FAILED} Invalid ID token nonce.")
        if role.bound_subject and claims.get("sub") != role.bound_subject:
            raise ErrorResponse("sub claim does not match bound subject")
        if role.bound_claims:
            check_bound_claims(claims, role.bound_claims, role.bound_claims_type == "glob")
        return self.auth.respond(req, flow.role, role, claims)

    def _exchange(self, cfg: Any, provider: dict[str, Any], flow: FlowState, code: str) -> str:
        """The authorization code for an ID token at the provider's token endpoint."""
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": flow.redirect_uri,
                "code_verifier": flow.verifier,
            }
        ).encode()
        basic = base64.b64encode(
            f"{urllib.parse.quote(cfg.oidc_client_id)}:{urllib.parse.quote(cfg.oidc_client_secret)}".encode()
        ).decode()
        request = urllib.request.Request(
            str(provider.get("token_endpoint", "")),
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
        )
        try:
            with urllib.request.urlopen(
                request, timeout=FETCH_TIMEOUT, context=tls_context(cfg.oidc_discovery_ca_pem)
            ) as answer:
                doc = orjson.loads(answer.read(1024 * 1024))
        except urllib.error.HTTPError as exc:
            raise SignatureError(f"oauth2: cannot fetch token: {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
            raise SignatureError(f"oauth2: cannot fetch token: {exc}") from None
        token = doc.get("id_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise SignatureError("No id_token found in response.")
        return token

    def _verify(self, cfg: Any, provider: dict[str, Any], token: str) -> dict[str, Any]:
        keys = RemoteKeys(str(provider.get("jwks_uri", "")), cfg.oidc_discovery_ca_pem, self.auth.local_fetch)
        claims, _alg = keys.verify(token)
        if claims.get("iss") != provider.get("issuer"):
            raise SignatureError("oidc: id token issued by a different provider")
        aud = claims.get("aud")
        if cfg.oidc_client_id not in (aud if isinstance(aud, list) else [aud]):
            raise SignatureError(f'oidc: expected audience "{cfg.oidc_client_id}"')
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp < time.time() - 60:
            raise SignatureError("oidc: token is expired")
        return claims


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def oidc_paths(flow: OIDCFlow) -> list[Path]:
    return [
        Path(
            "oidc/auth_url$",
            fields={
                "role": Field(
                    FieldType.LOWERCASE_STRING, "The role to issue an OIDC authorization URL against."
                ),
                "redirect_uri": Field(
                    FieldType.STRING, "The OAuth redirect_uri to use in the authorization URL."
                ),
                "client_nonce": Field(
                    FieldType.STRING,
                    "Optional client-provided nonce that must match the client_nonce value provided during a subsequent request to the callback API.",
                ),
            },
            operations={Operation.UPDATE: flow.auth_url},
            synopsis="Request an authorization URL to start an OIDC login flow.",
            unauthenticated=True,
        ),
        Path(
            "oidc/callback$",
            fields={
                "state": Field(FieldType.STRING, "The OAuth state"),
                "code": Field(FieldType.STRING, "The OAuth authorization code"),
                "id_token": Field(FieldType.STRING, "The ID token if the OIDC response mode is form_post"),
                "client_nonce": Field(FieldType.STRING, "The client nonce"),
            },
            operations={Operation.READ: flow.callback, Operation.UPDATE: flow.callback},
            synopsis="Callback endpoint to complete an OIDC login.",
            unauthenticated=True,
        ),
    ]


def _same(given: object, expected: str) -> bool:
    """Nonces compared in constant time (as text of any kind: a claim may be of any JSON type)."""
    return hmac.compare_digest(str(given).encode(), expected.encode())

"""A local OIDC provider for JWT auth tests: signing keys made here, a JWKS and a discovery
document served over HTTPS on 127.0.0.1 with a CA of its own, and tokens signed on demand.

The provider only publishes keys; tests sign tokens with ``sign`` and hand them to the servers.
``rotate`` adds a key with a new ``kid`` (what a real provider does before signing with it), and
``stop`` takes the endpoint down for the "JWKS unreachable" cases. For OIDC's browser flow it also
answers ``/authorize`` (at once, redirecting to the client with a code: the user always consents)
and ``/token`` (the code for an ID token naming ``user`` with the request's nonce).
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .pki import Issuer

# A CI deploy role for GitHub Actions-style tokens (audience, a glob on the repository, claims
# mapped to metadata, batch tokens): the JWT benchmark's and the prepared login lane's tests'.
GITHUB_DEPLOY_ROLE: dict[str, Any] = {
    "role_type": "jwt",
    "user_claim": "sub",
    "bound_audiences": "https://github.com/acme",
    "bound_claims_type": "glob",
    "bound_claims": {"repository": "acme/*"},
    "claim_mappings": {"repository": "repository", "workflow": "workflow"},
    "token_type": "batch",
    "token_ttl": "10m",
    "token_policies": "ci-deploy",
}


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class Provider:
    """Keys, a JWKS endpoint and a discovery document on ``https://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self.codes: dict[str, dict[str, str]] = {}  # authorization code -> the authorize request
        self.user = "alice"
        self._dir = tempfile.TemporaryDirectory(prefix="jwks-")
        ca = Issuer.root(Path(self._dir.name), "jwks test CA")
        self.ca_pem = ca.pem
        leaf = ca.server()
        cert_file, key_file = leaf.cert, leaf.key
        self.rotate()
        self.rotate(ec.generate_private_key(ec.SECP256R1()))
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/token":
                    self.send_error(404)
                    return
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                grant = provider.codes.pop((form.get("code") or [""])[0], None)
                if grant is None:
                    self.send_error(400)
                    return
                id_token = provider.sign(
                    provider.claims(
                        aud=grant["client_id"], nonce=grant["nonce"], sub=provider.user, email="a@x"
                    )
                )
                self._json({"access_token": "at", "token_type": "Bearer", "id_token": id_token})

            def do_GET(self) -> None:
                if self.path.startswith("/authorize?"):
                    query = {k: v[0] for k, v in parse_qs(self.path.split("?", 1)[1]).items()}
                    code = uuid.uuid4().hex
                    provider.codes[code] = query
                    self.send_response(302)
                    target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                    self.send_header("Location", target)
                    self.end_headers()
                    return
                if self.path == "/keys":
                    provider.fetches += 1
                    body = provider.jwks()
                elif self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": provider.url,
                        "jwks_uri": provider.url + "/keys",
                        "authorization_endpoint": provider.url + "/authorize",
                        "token_endpoint": provider.url + "/token",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    }
                else:
                    self.send_error(404)
                    return
                self._json(body)

            def _json(self, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def rotate(self, key: Any = None) -> str:
        """Publish a new key (RSA unless given) and return its kid."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = key or rsa_key()
        return kid

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[self.alg(kid)].to_jwk(key.public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": self.alg(kid)})
        return {"keys": out}

    def alg(self, kid: str) -> str:
        return "ES256" if isinstance(self.keys[kid], ec.EllipticCurvePrivateKey) else "RS256"

    def kid(self, index: int = 0) -> str:
        return list(self.keys)[index]

    def sign(self, claims: dict[str, Any], kid: str | None = None, alg: str | None = None) -> str:
        kid = kid or self.kid()
        return jwt.encode(claims, self.keys[kid], algorithm=alg or self.alg(kid), headers={"kid": kid})

    def claims(self, **extra: Any) -> dict[str, Any]:
        """GitHub Actions-like claims, valid for five minutes."""
        now = int(time.time())
        return {
            "iss": self.url,
            "aud": "tessera",
            "sub": "repo:acme/app:ref:refs/heads/main",
            "repository": "acme/app",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "actor": "octocat",
            "workflow": "deploy",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            **extra,
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._dir.cleanup()

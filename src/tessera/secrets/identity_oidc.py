"""Identity tokens (``identity/oidc/*``): the server as an OIDC issuer for its own entities.

A named key signs, a role names the key, a client ID (the audience) and a TTL; an entity-bearing
token reads ``oidc/token/:role`` and gets a signed ID token. ``.well-known/openid-configuration``
and ``.well-known/keys`` are public, so a ``jwt`` auth mount (here or elsewhere) can verify these
tokens by discovery: a workload proves "I am entity X of this server" to another system.

Private keys live in the identity mount's storage (behind the barrier); rotation is not automatic.
"""

from __future__ import annotations

import json
import secrets
import string
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..storage.base import Storage

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA")
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
ISSUER_WARNING = (
    'If "issuer" is set explicitly, all tokens must be validated against that address, including those '
    'issued by secondary clusters. Setting issuer to "" will restore the default behavior of using the '
    "cluster's api_addr as the issuer."
)
DAY = 86400


def _new_private_key(alg: str) -> Any:
    if alg.startswith("RS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in _CURVES:
        return ec.generate_private_key(_CURVES[alg]())
    return ed25519.Ed25519PrivateKey.generate()


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _client_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


class OIDCIssuer:
    """Handlers of the ``oidc/`` paths, keeping everything in the identity mount's storage."""

    def __init__(self, core: Any) -> None:
        self.core = core

    def issuer(self, storage: Storage) -> str:
        """``<issuer>/v1/identity/oidc``: the configured issuer, else the server's API address."""
        base = (storage.get_json("oidc/config") or {}).get("issuer", "")
        if not base:
            base = str(getattr(getattr(self.core, "config", None), "api_addr", "") or "http://127.0.0.1:8200")
        return base.rstrip("/") + "/v1/identity/oidc"

    # -- config -------------------------------------------------------------------------------
    def read_config(self, req: Request, data: FieldData) -> Response:
        return Response(data={"issuer": (_storage(req).get_json("oidc/config") or {}).get("issuer", "")})

    def write_config(self, req: Request, data: FieldData) -> Response | None:
        issuer = data.get("issuer")
        _storage(req).put_json("oidc/config", {"issuer": issuer})
        return Response(warnings=[ISSUER_WARNING]) if issuer else None

    # -- keys ---------------------------------------------------------------------------------
    def write_key(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        name = data.get("name")
        doc = storage.get_json("oidc/key/" + name) or {}
        alg = data.get("algorithm") if data.has("algorithm") else doc.get("algorithm", "RS256")
        if alg not in ALGORITHMS:
            raise ErrorResponse(f"unknown signing algorithm {json.dumps(alg)}")
        if not doc or alg != doc.get("algorithm"):
            doc["kid"] = str(uuid.uuid4())
            doc["private_pem"] = _pem(_new_private_key(alg))
        doc["algorithm"] = alg
        for field, default in (("rotation_period", DAY), ("verification_ttl", DAY)):
            doc[field] = data.get(field) if data.has(field) else doc.get(field, default)
        if data.has("allowed_client_ids"):
            doc["allowed_client_ids"] = data.get("allowed_client_ids")
        doc.setdefault("allowed_client_ids", [])
        storage.put_json("oidc/key/" + name, doc)

    def read_key(self, req: Request, data: FieldData) -> Response | None:
        doc = _storage(req).get_json("oidc/key/" + data.get("name"))
        if doc is None:
            return None
        keys = ("algorithm", "allowed_client_ids", "rotation_period", "verification_ttl")
        return Response(data={k: doc[k] for k in keys})

    def delete_key(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        name = data.get("name")
        for role in storage.list("oidc/role/"):
            if (storage.get_json("oidc/role/" + role) or {}).get("key") == name:
                raise ErrorResponse(
                    f"unable to delete key {json.dumps(name)} because it is currently referenced by these roles: {role}"
                )
        storage.delete("oidc/key/" + name)

    def list_keys(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": sorted(_storage(req).list("oidc/key/"))})

    # -- roles --------------------------------------------------------------------------------
    def write_role(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        name = data.get("name")
        doc = storage.get_json("oidc/role/" + name) or {"client_id": _client_id(), "ttl": DAY, "template": ""}
        if data.has("key"):
            doc["key"] = data.get("key")
        if not doc.get("key"):
            raise ErrorResponse("the key parameter is required")
        if storage.get_json("oidc/key/" + doc["key"]) is None:
            raise ErrorResponse(f"cannot find key {json.dumps(doc['key'])}")
        for field in ("ttl", "template", "client_id"):
            if data.has(field) and data.get(field) != "":
                doc[field] = data.get(field)
        storage.put_json("oidc/role/" + name, doc)

    def read_role(self, req: Request, data: FieldData) -> Response | None:
        doc = _storage(req).get_json("oidc/role/" + data.get("name"))
        if doc is None:
            return None
        return Response(data={k: doc[k] for k in ("client_id", "key", "template", "ttl")})

    def delete_role(self, req: Request, data: FieldData) -> None:
        _storage(req).delete("oidc/role/" + data.get("name"))

    def list_roles(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": sorted(_storage(req).list("oidc/role/"))})

    # -- tokens -------------------------------------------------------------------------------
    def token(self, req: Request, data: FieldData) -> Response:
        storage = _storage(req)
        name = data.get("name")
        role = storage.get_json("oidc/role/" + name)
        if role is None:
            raise ErrorResponse(f"role {json.dumps(name)} not found")
        key = storage.get_json("oidc/key/" + role["key"])
        if key is None:
            raise ErrorResponse(f"key {json.dumps(role['key'])} not found")
        allowed = key.get("allowed_client_ids") or []
        if "*" not in allowed and role["client_id"] not in allowed:
            raise ErrorResponse(
                f'the key "{role["key"]}" does not list the client ID of the role "{name}" as an allowed client ID'
            )
        entity_id = req.entity_id or getattr(req.token_entry, "entity_id", "")
        if not entity_id:
            raise ErrorResponse("no entity associated with the request's token")
        now = int(time.time())
        claims = {
            "aud": role["client_id"],
            "exp": now + int(role["ttl"]),
            "iat": now,
            "iss": self.issuer(storage),
            "namespace": "root",
            "sub": entity_id,
        }
        private = serialization.load_pem_private_key(key["private_pem"].encode(), password=None)
        token = jwt.encode(claims, private, algorithm=key["algorithm"], headers={"kid": key["kid"]})  # type: ignore[arg-type]
        return Response(data={"client_id": role["client_id"], "token": token, "ttl": int(role["ttl"])})

    # -- public documents ---------------------------------------------------------------------
    def discovery(self, req: Request, data: FieldData) -> Response:
        issuer = self.issuer(_storage(req))
        return Response(
            raw_body={
                "issuer": issuer,
                "jwks_uri": issuer + "/.well-known/keys",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": list(ALGORITHMS),
            },
            headers={"Content-Type": "application/json", "Cache-Control": "max-age=3600"},
        )

    def jwks(self, req: Request, data: FieldData) -> Response:
        storage = _storage(req)
        out = []
        for name in sorted(storage.list("oidc/key/")):
            doc = storage.get_json("oidc/key/" + name)
            if doc is None:
                continue
            private = serialization.load_pem_private_key(doc["private_pem"].encode(), password=None)
            family = "EdDSA" if doc["algorithm"] == "EdDSA" else doc["algorithm"]
            algo = jwt.algorithms.get_default_algorithms()[family]
            jwk = json.loads(algo.to_jwk(private.public_key()))  # type: ignore[attr-defined]
            out.append({"use": "sig", **jwk, "kid": doc["kid"], "alg": doc["algorithm"]})
        return Response(raw_body={"keys": out}, headers={"Content-Type": "application/json"})


def oidc_paths(core: Any) -> list[Path]:
    issuer = OIDCIssuer(core)
    name = {"name": Field(FieldType.STRING, "Name of the key or role.")}
    return [
        Path(
            "oidc/config$",
            fields={
                "issuer": Field(FieldType.STRING, "Issuer URL to be used in the iss claim of the token.")
            },
            operations={Operation.READ: issuer.read_config, Operation.UPDATE: issuer.write_config},
            synopsis="OIDC configuration",
        ),
        Path("oidc/key/?$", operations={Operation.LIST: issuer.list_keys}, synopsis="List OIDC keys"),
        Path(
            r"oidc/key/(?P<name>\w(([\w\-.]+)?\w)?)$",
            fields={
                **name,
                "rotation_period": Field(FieldType.DURATION, "How often to generate a new keypair."),
                "verification_ttl": Field(
                    FieldType.DURATION,
                    "Controls how long the public portion of a key will be available for verification after being rotated.",
                ),
                "algorithm": Field(FieldType.STRING, "Signing algorithm to use. This will default to RS256."),
                "allowed_client_ids": Field(
                    FieldType.COMMA_STRING_SLICE,
                    'Comma separated string or array of role client ids allowed to use this key for signing. If empty no roles are allowed. If "*" all roles are allowed.',
                ),
            },
            operations={
                Operation.CREATE: issuer.write_key,
                Operation.UPDATE: issuer.write_key,
                Operation.READ: issuer.read_key,
                Operation.DELETE: issuer.delete_key,
            },
            synopsis="CRUD operations for OIDC keys.",
        ),
        Path(
            "oidc/role/?$",
            operations={Operation.LIST: issuer.list_roles},
            synopsis="List configured OIDC roles",
        ),
        Path(
            r"oidc/role/(?P<name>\w(([\w\-.]+)?\w)?)$",
            fields={
                **name,
                "key": Field(
                    FieldType.STRING,
                    "The OIDC key to use for generating tokens. The specified key must already exist.",
                ),
                "template": Field(
                    FieldType.STRING,
                    "The template string to use for generating tokens. This may be in string-ified JSON or base64 format.",
                ),
                "ttl": Field(FieldType.DURATION, "TTL of the tokens generated against the role."),
                "client_id": Field(FieldType.STRING, "Optional client_id"),
            },
            operations={
                Operation.CREATE: issuer.write_role,
                Operation.UPDATE: issuer.write_role,
                Operation.READ: issuer.read_role,
                Operation.DELETE: issuer.delete_role,
            },
            synopsis="CRUD operations on OIDC Roles",
        ),
        Path(
            r"oidc/token/(?P<name>\w(([\w\-.]+)?\w)?)$",
            fields=name,
            operations={Operation.READ: issuer.token},
            synopsis="Generate an OIDC token",
        ),
        Path(
            r"oidc/\.well-known/openid-configuration/?$",
            unauthenticated=True,
            special=("oidc/.well-known/*",),
            operations={Operation.READ: issuer.discovery},
            synopsis="Query OIDC configurations",
        ),
        Path(
            r"oidc/\.well-known/keys/?$",
            unauthenticated=True,
            special=("oidc/.well-known/*",),
            operations={Operation.READ: issuer.jwks},
            synopsis="Retrieve public keys",
        ),
    ]

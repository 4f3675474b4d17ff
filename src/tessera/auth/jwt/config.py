"""The mount's ``config``: where keys come from (exactly one source), the issuer every token must
name, the default role, and the OIDC client settings the browser flow would use."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from ...framework import ErrorResponse, Field, FieldData, FieldType
from .keys import (
    ALGORITHMS,
    LocalFetch,
    RemoteKeys,
    SignatureError,
    StaticKeys,
    discover_jwks_url,
    parse_pem_keys,
    tls_context,
)

SOURCES_ERROR = (
    "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', "
    "or 'provider_config' must be set"
)


@mypyc_attr(native_class=False)
@dataclass
class JWTConfig:
    oidc_discovery_url: str = ""
    oidc_discovery_ca_pem: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_response_mode: str = ""
    oidc_response_types: list[str] = field(default_factory=list)
    jwks_url: str = ""
    jwks_ca_pem: str = ""
    jwt_validation_pubkeys: list[str] = field(default_factory=list)
    jwt_supported_algs: list[str] = field(default_factory=list)
    bound_issuer: str = ""
    default_role: str = ""
    namespace_in_state: bool = True
    override_allowed_server_names: list[str] = field(default_factory=list)
    provider_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> JWTConfig:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in doc.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """What decides the key source: a change rebuilds it."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = self.__dict__["_fingerprint"] = self._fingerprint()
        return cached

    def _fingerprint(self) -> str:
        return json.dumps(
            [
                self.jwt_validation_pubkeys,
                self.jwks_url,
                self.jwks_ca_pem,
                self.oidc_discovery_url,
                self.oidc_discovery_ca_pem,
            ]
        )

    def read(self) -> dict[str, Any]:
        return {
            "bound_issuer": self.bound_issuer,
            "default_role": self.default_role,
            "jwks_ca_pem": self.jwks_ca_pem,
            "jwks_url": self.jwks_url,
            "jwt_supported_algs": list(self.jwt_supported_algs),
            "jwt_validation_pubkeys": list(self.jwt_validation_pubkeys),
            "namespace_in_state": self.namespace_in_state,
            "oidc_client_id": self.oidc_client_id,
            "oidc_discovery_ca_pem": self.oidc_discovery_ca_pem,
            "oidc_discovery_url": self.oidc_discovery_url,
            "oidc_response_mode": self.oidc_response_mode,
            "oidc_response_types": list(self.oidc_response_types),
            "override_allowed_server_names": list(self.override_allowed_server_names),
            "provider_config": dict(self.provider_config),
            "status": "valid",
        }

    def key_source(self, local: LocalFetch | None = None) -> StaticKeys | RemoteKeys:
        if self.jwt_validation_pubkeys:
            return StaticKeys(self.jwt_validation_pubkeys)
        if self.jwks_url:
            return RemoteKeys(self.jwks_url, self.jwks_ca_pem, local)
        jwks = discover_jwks_url(self.oidc_discovery_url, self.oidc_discovery_ca_pem, local)
        return RemoteKeys(jwks, self.oidc_discovery_ca_pem, local)


CONFIG_FIELDS = {
    "oidc_discovery_url": Field(
        FieldType.STRING,
        'OIDC Discovery URL, without any .well-known component (base path). Cannot be used with "jwks_url" or "jwt_validation_pubkeys".',
    ),
    "oidc_discovery_ca_pem": Field(
        FieldType.STRING,
        "The CA certificate or chain of certificates, in PEM format, to use to validate connections to the OIDC Discovery URL. If not set, system certificates are used.",
    ),
    "oidc_client_id": Field(FieldType.STRING, "The OAuth Client ID configured with your OIDC provider."),
    "oidc_client_secret": Field(
        FieldType.STRING, "The OAuth Client Secret configured with your OIDC provider."
    ),
    "oidc_response_mode": Field(
        FieldType.STRING,
        "The response mode to be used in the OAuth2 request. Allowed values are 'query' and 'form_post'.",
    ),
    "oidc_response_types": Field(
        FieldType.COMMA_STRING_SLICE,
        "The response types to request. Allowed values are 'code' and 'id_token'. Defaults to 'code'.",
    ),
    "jwks_url": Field(
        FieldType.STRING,
        'JWKS URL to use to authenticate signatures. Cannot be used with "oidc_discovery_url" or "jwt_validation_pubkeys".',
    ),
    "jwks_ca_pem": Field(
        FieldType.STRING,
        "The CA certificate or chain of certificates, in PEM format, to use to validate connections to the JWKS URL. If not set, system certificates are used.",
    ),
    "jwks_pairs": Field(
        FieldType.SLICE, "Set of JWKS Url and CA certificate (or chain of certificates) pairs."
    ),
    "default_role": Field(
        FieldType.LOWERCASE_STRING,
        "The default role to use if none is provided during login. If not set, a role is required during login.",
    ),
    "jwt_validation_pubkeys": Field(
        FieldType.COMMA_STRING_SLICE,
        'A list of PEM-encoded public keys to use to authenticate signatures locally. Cannot be used with "jwks_url" or "oidc_discovery_url".',
    ),
    "jwt_supported_algs": Field(
        FieldType.COMMA_STRING_SLICE, "A list of supported signing algorithms. Defaults to RS256."
    ),
    "bound_issuer": Field(
        FieldType.STRING, "The value against which to match the 'iss' claim in a JWT. Optional."
    ),
    "provider_config": Field(FieldType.MAP, "Provider-specific configuration. Optional."),
    "namespace_in_state": Field(
        FieldType.BOOL,
        "Pass namespace in the OIDC state parameter instead of as a separate query parameter. With this setting, the allowed redirect URL(s) in Vault and on the provider side should not contain a namespace query parameter. This means only one redirect URL entry needs to be maintained on the provider side for all vault namespaces that will be authenticating against it. Defaults to true for new configs.",
    ),
    "override_allowed_server_names": Field(
        FieldType.COMMA_STRING_SLICE,
        "A list of hostnames to accept when performing TLS validation, which applies both to communicating with the OIDC provider and the JWKS URL. Defaults to the hostname in the URL.",
    ),
}


def parse_config(data: FieldData, local: LocalFetch | None = None) -> JWTConfig:
    """pathConfigWrite's checks, in its order; keys are fetched now so a bad URL fails here."""
    cfg = JWTConfig()
    for name in JWTConfig.__dataclass_fields__:
        if name in data.schema and data.has(name):
            setattr(cfg, name, data.get(name))
    cfg.jwt_validation_pubkeys = [k for k in cfg.jwt_validation_pubkeys if k.strip()]
    sources = [
        bool(cfg.jwt_validation_pubkeys),
        bool(cfg.jwks_url),
        bool(data.get("jwks_pairs")),
        bool(cfg.oidc_discovery_url),
        bool(cfg.provider_config),
    ]
    if sum(sources) != 1:
        raise ErrorResponse(SOURCES_ERROR)
    if data.get("jwks_pairs") or cfg.provider_config:
        raise ErrorResponse("'jwks_pairs' and 'provider_config' are not supported by this server")
    for alg in cfg.jwt_supported_algs:
        if alg not in ALGORITHMS:
            raise ErrorResponse(f'invalid jwt_supported_algs: unsupported signing algorithm "{alg}"')
    if cfg.jwt_validation_pubkeys:
        parse_pem_keys(cfg.jwt_validation_pubkeys)
    elif cfg.jwks_url:
        if cfg.jwks_ca_pem:
            tls_context(cfg.jwks_ca_pem)
        try:
            RemoteKeys(cfg.jwks_url, cfg.jwks_ca_pem, local).refresh()
        except SignatureError:
            raise ErrorResponse("error checking jwks URL") from None  # the reference gives no detail
    else:
        try:
            discover_jwks_url(cfg.oidc_discovery_url, cfg.oidc_discovery_ca_pem, local)
        except SignatureError as exc:
            raise ErrorResponse(f"error checking oidc discovery URL: {exc}") from None
    return cfg

"""Where a PKI mount keeps things, all inside the barrier (the mount's storage view).

``config/issuer/<id>`` and ``config/key/<id>`` hold issuers and their keys (Vault 1.11+ layout),
``config/issuers`` / ``config/keys`` the defaults, ``certs/<serial>`` every stored certificate,
``revoked/<serial>`` revocations, ``crls/<issuer id>`` the last CRL built per issuer.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509

from ...framework import CodedError, ErrorResponse, Request
from ...storage.base import Storage
from . import x509util

ISSUER_PREFIX = "config/issuer/"
KEY_PREFIX = "config/key/"
DEFAULT_USAGE = "crl-signing,issuing-certificates,ocsp-signing,read-only"

URL_DEFAULTS: dict[str, Any] = {
    "crl_distribution_points": [],
    "delta_crl_distribution_points": [],
    "enable_templating": False,
    "issuing_certificates": [],
    "ocsp_servers": [],
}
CRL_DEFAULTS: dict[str, Any] = {
    "allow_expired_cert_revocation": False,
    "auto_rebuild": False,
    "auto_rebuild_grace_period": "12h",
    "delta_rebuild_interval": "15m",
    "disable": False,
    "enable_delta": False,
    "expiry": "72h",
    "ocsp_disable": False,
    "ocsp_expiry": "12h",
}


@dataclass
class Issuer:
    id: str
    name: str
    key_id: str
    certificate: str
    ca_chain: list[str] = field(default_factory=list)
    leaf_not_after_behavior: str = "err"
    usage: str = DEFAULT_USAGE
    manual_chain: list[str] | None = None
    revocation_signature_algorithm: str = ""
    issuing_certificates: list[str] = field(default_factory=list)
    crl_distribution_points: list[str] = field(default_factory=list)
    ocsp_servers: list[str] = field(default_factory=list)
    revoked: bool = False
    revocation_time: int = 0
    revocation_time_rfc3339: str = ""

    @property
    def cert(self) -> x509.Certificate:
        return x509util.load_cert(self.certificate)  # parsed once per PEM (x509util caches)

    @property
    def serial(self) -> str:
        return x509util.format_serial(self.cert.serial_number)


@dataclass
class Key:
    id: str
    name: str
    type: str
    private_key: str


def storage_of(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage  # type: ignore[return-value]


class PKIStore:
    """The mount's issuers, keys, certificates and settings, read and written per request."""

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    # -- issuers ---------------------------------------------------------------------
    def issuer_ids(self) -> list[str]:
        return sorted(self.s.list(ISSUER_PREFIX))

    def issuers(self) -> list[Issuer]:
        return [i for i in (self.issuer(iid) for iid in self.issuer_ids()) if i is not None]

    def issuer(self, issuer_id: str) -> Issuer | None:
        raw = self.s.get_json(ISSUER_PREFIX + issuer_id)
        return None if raw is None else Issuer(**raw)

    def put_issuer(self, issuer: Issuer) -> None:
        self.s.put_json(ISSUER_PREFIX + issuer.id, asdict(issuer))

    def delete_issuer(self, issuer_id: str) -> None:
        self.s.delete(ISSUER_PREFIX + issuer_id)
        self.s.delete("crls/" + issuer_id)
        cfg = self.issuers_config()
        if cfg["default"] == issuer_id:
            cfg["default"] = ""
            self.s.put_json("config/issuers", cfg)

    def issuers_config(self) -> dict[str, Any]:
        return self.s.get_json("config/issuers") or {"default": "", "default_follows_latest_issuer": False}

    def set_default_issuer(self, issuer_id: str) -> None:
        cfg = self.issuers_config()
        cfg["default"] = issuer_id
        self.s.put_json("config/issuers", cfg)

    def resolve_issuer(self, ref: str) -> Issuer:
        """An issuer by ``default``, ID or name; an unknown one is a 404 with Vault's text (the
        reference answers 500 here, as if the server had failed)."""
        found = self.find_issuer(ref)
        if found is None:
            raise CodedError(404, f"unable to find PKI issuer for reference: {ref}")
        return found

    def find_issuer(self, ref: str) -> Issuer | None:
        if ref in ("", "default"):
            default = self.issuers_config()["default"]
            return self.issuer(default) if default else None
        by_id = self.issuer(ref)
        if by_id is not None:
            return by_id
        for issuer in self.issuers():
            if issuer.name == ref:
                return issuer
        return None

    def name_in_use(self, name: str, except_id: str = "") -> bool:
        return bool(name) and any(i.name == name and i.id != except_id for i in self.issuers())

    def signing_issuer(self, ref: str) -> tuple[Issuer, Key]:
        """The issuer that signs for a role or request, with its key."""
        issuer = self.find_issuer(ref)
        if issuer is None:
            if ref in ("", "default"):
                raise ErrorResponse("no default issuer currently configured")
            raise ErrorResponse(f"unable to find PKI issuer for reference: {ref}")
        if "issuing-certificates" not in issuer.usage.split(","):
            raise ErrorResponse(
                f"error fetching CA certificate: error while attempting to use issuer {issuer.id}: requested "
                f"usage issuing-certificates for issuer [id:{issuer.id} / name:{issuer.name}] but only had "
                f"usage {issuer.usage}"
            )
        key = self.key(issuer.key_id) if issuer.key_id else None
        if key is None:
            raise ErrorResponse(
                "unable to fetch corresponding key for issuer "
                f"{issuer.id}; unable to use this issuer for signing"
            )
        return issuer, key

    # -- keys ------------------------------------------------------------------------
    def key_ids(self) -> list[str]:
        return sorted(self.s.list(KEY_PREFIX))

    def all_keys(self) -> list[Key]:
        return [k for k in (self.key(kid) for kid in self.key_ids()) if k is not None]

    def key(self, key_id: str) -> Key | None:
        raw = self.s.get_json(KEY_PREFIX + key_id)
        return None if raw is None else Key(**raw)

    def put_key(self, key: Key) -> None:
        self.s.put_json(KEY_PREFIX + key.id, asdict(key))

    def keys_config(self) -> dict[str, Any]:
        return self.s.get_json("config/keys") or {"default": ""}

    def resolve_key(self, ref: str) -> Key:
        found = self.find_key(ref)
        if found is None:
            raise CodedError(404, f"unable to find PKI key for reference: {ref}")
        return found

    def find_key(self, ref: str) -> Key | None:
        if ref in ("", "default"):
            default = self.keys_config()["default"]
            return self.key(default) if default else None
        return self.key(ref) or next((k for k in self.all_keys() if k.name == ref), None)

    def add_key(self, private_key: x509util.PrivateKey, name: str = "") -> Key:
        """Store a key, or return the stored one with the same public key."""
        der = x509util.public_der(private_key)
        for existing in self.all_keys():
            if x509util.public_der(x509util.load_private_key(existing.private_key)) == der:
                return existing
        key = Key(
            id=str(uuid.uuid4()),
            name=name,
            type=x509util.key_type_of(private_key),
            private_key=x509util.private_key_pem(private_key, "pkcs8"),
        )
        self.put_key(key)
        if not self.keys_config()["default"]:
            self.s.put_json("config/keys", {"default": key.id})
        return key

    def key_for_public(self, public_der: bytes) -> Key | None:
        for key in self.all_keys():
            if x509util.public_der(x509util.load_private_key(key.private_key)) == public_der:
                return key
        return None

    # -- certificates ----------------------------------------------------------------
    def store_cert(self, cert: x509.Certificate) -> str:
        serial = x509util.format_serial(cert.serial_number)
        self.s.put_json("certs/" + serial.replace(":", "-"), {"certificate": x509util.cert_pem(cert)})
        return serial

    def cert_pem(self, serial: str) -> str | None:
        raw = self.s.get_json("certs/" + x509util.normalize_serial(serial).replace(":", "-"))
        return None if raw is None else str(raw["certificate"])

    def cert_serials(self) -> list[str]:
        return [k.replace("-", ":") for k in self.s.list("certs/")]

    def delete_cert(self, serial: str) -> None:
        self.s.delete("certs/" + serial.replace(":", "-"))

    def revocation(self, serial: str) -> dict[str, Any] | None:
        return self.s.get_json("revoked/" + x509util.normalize_serial(serial).replace(":", "-"))  # type: ignore[no-any-return]

    def put_revocation(self, serial: str, info: dict[str, Any]) -> None:
        self.s.put_json("revoked/" + serial.replace(":", "-"), info)

    def revoked_serials(self) -> list[str]:
        return [k.replace("-", ":") for k in self.s.list("revoked/")]

    def delete_revocation(self, serial: str) -> None:
        self.s.delete("revoked/" + serial.replace(":", "-"))

    # -- settings --------------------------------------------------------------------
    def urls(self) -> dict[str, Any]:
        return {**URL_DEFAULTS, **(self.s.get_json("config/urls") or {})}

    def crl_config(self) -> dict[str, Any]:
        return {**CRL_DEFAULTS, **(self.s.get_json("config/crl") or {})}

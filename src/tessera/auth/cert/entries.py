"""Trusted certificate entries (``certs/:name``) and the mount's ``config``, as stored."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509

from ...storage.base import Storage
from ..tokenutil import TokenParams

CERT_PREFIX = "cert/"
CONFIG_KEY = "config"
MAX_OCSP_CACHE = 100000


@dataclass
class CertEntry(TokenParams):
    """One ``certs/:name``: the PEM to trust, the constraints on a client certificate, token fields."""

    name: str = ""
    certificate: str = ""
    display_name: str = ""
    policies: list[str] = field(default_factory=list)
    ttl: int = 0
    max_ttl: int = 0
    period: int = 0
    bound_cidrs: list[str] = field(default_factory=list)
    allowed_names: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    allowed_common_names: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    allowed_dns_sans: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    allowed_email_sans: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    allowed_uri_sans: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    allowed_organizational_units: list[str] | None = (
        None  # None (never set) reads back as null, as Go's nil slice
    )
    required_extensions: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    allowed_metadata_extensions: list[str] | None = (
        None  # None (never set) reads back as null, as Go's nil slice
    )
    ocsp_ca_certificates: str = ""
    ocsp_enabled: bool = False
    ocsp_servers_override: list[str] | None = None  # None (never set) reads back as null, as Go's nil slice
    ocsp_fail_open: bool = False
    ocsp_query_all_servers: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CertEntry:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__ and v is not None}
        entry = cls(**known)
        # Entries written with only the deprecated fields read back through the token_* ones.
        entry.token_ttl = entry.token_ttl or entry.ttl
        entry.token_max_ttl = entry.token_max_ttl or entry.max_ttl
        entry.token_period = entry.token_period or entry.period
        entry.token_policies = entry.token_policies or list(entry.policies)
        entry.token_bound_cidrs = entry.token_bound_cidrs or list(entry.bound_cidrs)
        return entry


@dataclass
class CertConfig:
    disable_binding: bool = False
    enable_identity_alias_metadata: bool = False
    ocsp_cache_size: int = 0


def load_entry(storage: Storage, name: str) -> CertEntry | None:
    doc = storage.get_json(CERT_PREFIX + name.lower())
    return None if doc is None else CertEntry.from_json(doc)


def save_entry(storage: Storage, entry: CertEntry) -> None:
    storage.put_json(CERT_PREFIX + entry.name, entry.to_json())


def load_config(storage: Storage) -> CertConfig:
    return config_from_json(storage.get_json(CONFIG_KEY) or {})


def config_from_json(doc: dict[str, Any]) -> CertConfig:
    return CertConfig(**{k: v for k, v in doc.items() if k in CertConfig.__dataclass_fields__})


def save_config(storage: Storage, config: CertConfig) -> None:
    storage.put_json(CONFIG_KEY, asdict(config))


def parse_pem(text: str) -> list[x509.Certificate]:
    """Every CERTIFICATE block of ``text`` that parses (Go's parsePEM skips the others)."""
    return list(_parse_pem(text)) if text else []


@functools.lru_cache(maxsize=256)
def _parse_pem(text: str) -> tuple[x509.Certificate, ...]:
    """Parsed once per distinct PEM text: every login reads every trusted entry."""
    out: list[x509.Certificate] = []
    marker = "-----BEGIN "
    for chunk in text.split(marker)[1:]:
        block = marker + chunk
        kind = chunk.split("-----", 1)[0]
        if kind not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            continue
        try:
            out.append(
                x509.load_pem_x509_certificate(block.replace("TRUSTED CERTIFICATE", "CERTIFICATE").encode())
            )
        except ValueError:
            continue
    return tuple(out)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False

"""The cert method's login and renewal: the certificate on the connection against the trusted entries."""

from __future__ import annotations

import hmac
import threading
from typing import Any

from ...framework import Auth, ErrorResponse, FieldData, InternalError, PermissionDenied, Request, Response
from ...storage.base import Storage
from ..parsed import ParsedDocs
from ..tokenutil import equivalent_policies, ip_in_cidrs, login_entity
from .crls import PREFIX as CRL_PREFIX
from .crls import RevokedSerials
from .entries import CERT_PREFIX, CONFIG_KEY, CertConfig, CertEntry, config_from_json, load_config, load_entry
from .facts import CertFacts
from .verify import VerifiedLogins, verify_login


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


class CertAuth:
    """What one cert mount's handlers share: the core, the mount entry, and a lock."""

    def __init__(self, core: Any, entry: Any) -> None:
        self.core = core
        self.entry = entry
        self.lock = threading.RLock()
        self._docs = ParsedDocs()  # config and entries as logins read them (never changed)
        self.revoked = RevokedSerials()
        self.verdicts = VerifiedLogins()  # chains that logged in lately, by what decided them

    def _config(self, storage: Storage) -> CertConfig:
        found: CertConfig | None = self._docs.get(storage, CONFIG_KEY, config_from_json)
        return CertConfig() if found is None else found

    def _entry(self, storage: Storage, name: str) -> CertEntry | None:
        found: CertEntry | None = self._docs.get(storage, CERT_PREFIX + name.lower(), CertEntry.from_json)
        return found

    def mount_ttls(self) -> tuple[int, int]:
        if self.core is None:
            return 768 * 3600, 768 * 3600
        default, maximum = self.core.mount_ttls(self.entry)
        return int(default), int(maximum)

    def login(self, req: Request, data: FieldData) -> Response:
        if not req.peer_certificates:  # the reference's alias lookahead answers first, over TLS or not
            raise ErrorResponse("no client certificate found")
        storage = _storage(req)
        config = self._config(storage)
        trusted, client = self.verdicts.verify(
            storage, req.peer_certificates, data.get("name"), self._entry, self.revoked.get
        )
        entry = trusted.entry
        if entry.token_bound_cidrs and not ip_in_cidrs(req.remote_addr, entry.token_bound_cidrs):
            raise PermissionDenied()
        common_name = client.common_name
        metadata = {
            "cert_name": entry.name,
            "common_name": common_name,
            "serial_number": client.serial_text,
            "subject_key_id": client.subject_key_id_hex,
            "authority_key_id": client.authority_key_id_hex,
        }
        if entry.allowed_metadata_extensions:
            metadata.update(_extension_metadata(client, entry.allowed_metadata_extensions))
        auth = Auth(
            metadata=metadata,
            display_name=entry.display_name,
            alias_name=common_name,
            internal_data={
                "subject_key_id": client.subject_key_id_b64,
                "authority_key_id": client.authority_key_id_b64,
                "certificate_sha256": client.sha256,
            },
        )
        entry.populate_token_auth(auth, req)
        alias_meta = metadata if config.enable_identity_alias_metadata else None
        auth.entity_id = login_entity(self.core, req, common_name, alias_meta)
        return Response(auth=auth)

    def invalidate(self, key: str) -> None:
        """Another process wrote ``key`` of this mount: parsed documents check their bytes at
        each read anyway; the revoked serials are computed again after a CRL change."""
        if key.startswith(CRL_PREFIX):
            self.revoked.forget()

    def renew(self, req: Request, auth: Auth) -> Auth | None:
        """pathLoginRenew: the same certificate must be presented, unless ``disable_binding``.

        The reference refuses a different certificate with a 500 that prints both certificates'
        bytes; Tessera gives the same status and the first sentence only.
        """
        storage = _storage(req)
        name = (auth.metadata or {}).get("cert_name", "")
        if not load_config(storage).disable_binding:
            _, client = verify_login(storage, req.peer_certificates, name)
            held = str((auth.internal_data or {}).get("certificate_sha256", ""))
            if not hmac.compare_digest(held, client.sha256):  # OpenBao compares the whole certificate too
                raise InternalError(
                    "failed to renew entry: client identity during renewal not matching client identity used during login"
                )
        entry = load_entry(storage, name)
        if entry is None:
            return None
        if not equivalent_policies(entry.token_policies, auth.token_policies):
            raise InternalError("policies have changed, not renewing")
        return entry.renew_auth(auth)


def _extension_metadata(cert: CertFacts, allowed: list[str] | None) -> dict[str, str]:
    """allowed_metadata_extensions: each present extension as metadata, dots in its OID as dashes."""
    if not allowed:
        return {}
    present = cert.extension_map
    return {oid.replace(".", "-"): present[oid] for oid in allowed if oid in present}

"""Reading certificates and CRLs (mostly unauthenticated), revoking, tidying, and the URL/CRL settings."""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ...gocompat.durations import DurationError, parse_go_duration
from ...gocompat.times import rfc3339_datetime
from . import issuing, revocation, x509util
from .paths_issuers import raw
from .store import CRL_DEFAULTS, URL_DEFAULTS, PKIStore, storage_of

TIDY_NOTHING = (
    "Manual tidy requested but no tidy operations were set. Enable at least one tidy operation to be run "
    "(tidy_cert_store / tidy_revoked_certs / tidy_invalid_certs / tidy_revoked_cert_issuer_associations / "
    "tidy_expired_issuers / tidy_move_legacy_ca_bundle / tidy_acme)."
)
TIDY_STARTED = (
    "Tidy operation successfully started. Any information from the operation will be printed to OpenBao's "
    "server logs."
)


def _store(req: Request) -> PKIStore:
    return PKIStore(storage_of(req))


def _default_issuer(store: PKIStore) -> Any:
    return store.find_issuer("default")


class FetchHandlers:
    """The fetch, CRL and tidy handlers of one mount, with its tidy state."""

    def __init__(self, tidy_state: dict[str, Any]) -> None:
        self.tidy_state = tidy_state
        self.tidy_lock = threading.Lock()

    # -- unauthenticated CA and CRL fetches --------------------------------------------
    def ca_der(self, req: Request, data: FieldData) -> Response:
        issuer = _default_issuer(_store(req))
        body = b"" if issuer is None else issuer.cert.public_bytes(serialization.Encoding.DER)
        return raw(body, "application/pkix-cert")

    def ca_pem(self, req: Request, data: FieldData) -> Response:
        issuer = _default_issuer(_store(req))
        body = b"" if issuer is None else issuer.certificate.encode()
        return raw(body, "application/pem-certificate-chain")

    def ca_chain(self, req: Request, data: FieldData) -> Response:
        issuer = _default_issuer(_store(req))
        body = b"" if issuer is None else _chain_text(issuing.issuer_chain(issuer)).encode()
        return raw(body, "application/pkix-cert")

    def crl(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        issuer = _default_issuer(store)
        der = b"" if issuer is None else revocation.crl_der(store, issuer)
        return raw(der, "application/pkix-crl")

    def crl_pem(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        issuer = _default_issuer(store)
        pem = "" if issuer is None else revocation.crl_pem(revocation.crl_der(store, issuer))
        return raw(pem.encode(), "application/x-pem-file")

    def issuer_crl(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        issuer = store.resolve_issuer(data.get("issuer_ref"))
        der = revocation.crl_der(store, issuer)
        kind = data.get("kind")
        if kind == "/der":
            return raw(der, "application/pkix-crl")
        if kind == "/pem":
            return raw(revocation.crl_pem(der).encode() + b"\n", "application/x-pem-file")
        return Response(data={"crl": revocation.crl_pem(der)})

    def read_cert(self, req: Request, data: FieldData) -> Response | None:
        store = _store(req)
        serial = data.get("serial")
        unrevoked = {"revocation_time": 0, "revocation_time_rfc3339": ""}
        if serial in ("ca", "ca_chain", "crl", "delta-crl"):
            issuer = store.find_issuer("default")
            if issuer is None:
                raise ErrorResponse("no default issuer currently configured")
            if serial == "ca":
                return Response(data={"certificate": issuer.certificate, **unrevoked})
            if serial == "ca_chain":
                chain = _chain_text(issuing.issuer_chain(issuer))
                return Response(data={"ca_chain": chain, "certificate": chain, **unrevoked})
            pem = revocation.crl_pem(revocation.crl_der(store, issuer)) if serial == "crl" else ""
            return Response(data={"certificate": pem, **unrevoked})
        pem = store.cert_pem(serial)
        if pem is None:
            return None
        info = store.revocation(serial)
        if info is None:
            return Response(data={"certificate": pem + "\n", **unrevoked})
        return Response(
            data={
                "certificate": pem + "\n",
                "issuer_id": info.get("issuer_id", ""),
                "revocation_time": info["revocation_time"],
                "revocation_time_rfc3339": info["revocation_time_rfc3339"],
            }
        )

    def list_certs(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": _store(req).cert_serials()})

    def list_revoked(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": _store(req).revoked_serials()})

    # -- revocation ------------------------------------------------------------------
    def revoke(self, req: Request, data: FieldData) -> Response | None:
        store = _store(req)
        serial = data.get("serial_number")
        pem = data.get("certificate")
        if serial and pem:
            raise ErrorResponse("Must provide either the certificate or the serial to revoke; not both.")
        if pem:
            blocks = [der for kind, der in x509util.split_pem_blocks(pem) if kind == "CERTIFICATE"]
            if len(pem.strip()) < 75 or not blocks:
                raise ErrorResponse(
                    "provided certificate data was too short; perhaps a path was passed to the API rather "
                    "than the contents of a PEM file"
                )
            try:
                cert = x509.load_der_x509_certificate(blocks[0])
            except ValueError:
                raise ErrorResponse("certificate could not be parsed") from None
            serial = x509util.format_serial(cert.serial_number)
            stored = store.cert_pem(serial)
            if stored is None or x509util.load_cert(stored) != cert:
                raise ErrorResponse("certificate with serial " + serial + " not found.")
        if not serial:
            raise ErrorResponse("The serial number or certificate to revoke must be provided.")
        try:
            answer = revocation.revoke(store, serial)
        except revocation.ExpiredCertificate as exc:
            return Response(warnings=[str(exc)])
        return Response(data=answer)

    def rotate_crl(self, req: Request, data: FieldData) -> Response:
        revocation.rebuild_crls(_store(req))
        return Response(data={"success": True})

    # -- settings --------------------------------------------------------------------
    def read_urls(self, req: Request, data: FieldData) -> Response:
        return Response(data=_store(req).urls())

    def write_urls(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        urls = store.urls()
        for name in URL_DEFAULTS:
            if data.has(name):
                urls[name] = data.get(name)
        for name in ("issuing_certificates", "crl_distribution_points", "ocsp_servers"):
            for url in urls[name]:
                if not urls["enable_templating"] and "://" not in url:
                    raise ErrorResponse(
                        f"invalid URL found in Authority Information Access (AIA) parameter {name}: {url}"
                    )
        store.s.put_json("config/urls", urls)
        return Response(data=urls)

    def read_crl_config(self, req: Request, data: FieldData) -> Response:
        return Response(data=_store(req).crl_config())

    def write_crl_config(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        cfg = store.crl_config()
        for name in CRL_DEFAULTS:
            if data.has(name):
                cfg[name] = data.get(name)
        for name in ("expiry", "ocsp_expiry", "auto_rebuild_grace_period", "delta_rebuild_interval"):
            try:
                parse_go_duration(cfg[name])
            except DurationError as exc:
                label = "expiry" if name == "expiry" else name.replace("_", " ")
                raise ErrorResponse(f"given {label} could not be decoded: {exc}") from None
        store.s.put_json("config/crl", cfg)
        revocation.rebuild_crls(store)
        return Response(data=cfg)

    # -- features not built: their settings read as disabled, and stay so ----------------
    def read_auto_tidy(self, req: Request, data: FieldData) -> Response:
        return Response(data=dict(AUTO_TIDY_DEFAULTS))

    def write_auto_tidy(self, req: Request, data: FieldData) -> Response:
        if data.get("enabled"):
            raise ErrorResponse(
                "automatic tidy is not supported by this server; call tidy on a schedule instead"
            )
        return Response(data=dict(AUTO_TIDY_DEFAULTS))

    def read_acme(self, req: Request, data: FieldData) -> Response:
        return Response(data=dict(ACME_DEFAULTS))

    def write_acme(self, req: Request, data: FieldData) -> Response:
        if data.get("enabled"):
            raise ErrorResponse("ACME is not supported by this server")
        return Response(data=dict(ACME_DEFAULTS))

    # -- tidy ------------------------------------------------------------------------
    def tidy(self, req: Request, data: FieldData) -> Response:
        ops = {name: data.get(name) for name in TIDY_OPS}
        if not any(ops.values()):
            return Response(warnings=[TIDY_NOTHING], status=202)
        buffer = data.get("safety_buffer")
        store = _store(req)
        started = datetime.datetime.now(datetime.UTC)
        deleted, revoked_deleted = _tidy(store, ops, buffer)
        finished = datetime.datetime.now(datetime.UTC)
        with self.tidy_lock:
            self.tidy_state.update(
                {
                    **ops,
                    "safety_buffer": buffer,
                    "revoked_safety_buffer": buffer,
                    "state": "Finished",
                    "error": None,
                    "time_started": rfc3339_datetime(started),
                    "time_finished": rfc3339_datetime(finished),
                    "last_auto_tidy_finished": rfc3339_datetime(finished),
                    "cert_store_deleted_count": deleted,
                    "revoked_cert_deleted_count": revoked_deleted,
                    "message": None,
                }
            )
        return Response(warnings=[TIDY_STARTED], status=202)

    def tidy_status(self, req: Request, data: FieldData) -> Response:
        with self.tidy_lock:
            return Response(data=dict(self.tidy_state))


_URL_FIELDS = {
    name: Field(FieldType.COMMA_STRING_SLICE, f"The {name.replace('_', ' ')} URLs.")
    for name in (
        "issuing_certificates",
        "crl_distribution_points",
        "delta_crl_distribution_points",
        "ocsp_servers",
    )
} | {"enable_templating": Field(FieldType.BOOL, "Template the URLs.", default=False)}
_CRL_FIELDS: dict[str, Field] = {
    name: Field(FieldType.BOOL if isinstance(default, bool) else FieldType.STRING, f"CRL setting {name}.")
    for name, default in CRL_DEFAULTS.items()
}
_REF = r"(?P<issuer_ref>\w(([\w\-.]+)?\w)?)"


def _fetch_paths(h: FetchHandlers) -> list[Path]:
    return [
        Path(
            "ca",
            operations={Operation.READ: h.ca_der},
            synopsis="Fetch the default CA certificate in DER.",
            unauthenticated=True,
        ),
        Path(
            "ca/pem",
            operations={Operation.READ: h.ca_pem},
            synopsis="Fetch the default CA certificate in PEM.",
            unauthenticated=True,
        ),
        Path(
            "ca_chain",
            operations={Operation.READ: h.ca_chain},
            synopsis="Fetch the CA chain in PEM.",
            unauthenticated=True,
        ),
        Path(
            "crl", operations={Operation.READ: h.crl}, synopsis="Fetch the CRL in DER.", unauthenticated=True
        ),
        Path(
            "crl/pem",
            operations={Operation.READ: h.crl_pem},
            synopsis="Fetch the CRL in PEM.",
            unauthenticated=True,
        ),
        Path("crl/rotate", operations={Operation.READ: h.rotate_crl}, synopsis="Force a rebuild of the CRL."),
        Path(
            "issuer/" + _REF + "/crl(?P<kind>/pem|/der)?",
            fields={
                "issuer_ref": Field(FieldType.STRING, "The issuer."),
                "kind": Field(FieldType.STRING, ""),
            },
            operations={Operation.READ: h.issuer_crl},
            synopsis="Fetch an issuer's CRL.",
            unauthenticated=True,
            special=("issuer/+/crl/der", "issuer/+/crl/pem", "issuer/+/crl"),
        ),
        Path(
            "cert/(?P<serial>ca_chain|[0-9A-Fa-f:_-]+|ca|crl|delta-crl)",
            fields={
                "serial": Field(
                    FieldType.STRING, "Certificate serial number, in colon- or hyphen-separated hex."
                )
            },
            operations={Operation.READ: h.read_cert},
            synopsis="Fetch a CA, CRL or non-revoked certificate.",
            unauthenticated=True,
            special=("cert/*",),
        ),
        Path(
            "certs/?",
            operations={Operation.LIST: h.list_certs},
            synopsis="Fetch a list of all issued certificates.",
        ),
    ]


def _admin_paths(h: FetchHandlers) -> list[Path]:
    return [
        Path(
            "certs/revoked/?",
            operations={Operation.LIST: h.list_revoked},
            synopsis="List all revoked serial numbers within the local cluster.",
        ),
        Path(
            "revoke",
            fields={
                "serial_number": Field(FieldType.STRING, "The serial number of the certificate to revoke."),
                "certificate": Field(FieldType.STRING, "The certificate to revoke, in PEM."),
            },
            operations={Operation.UPDATE: h.revoke},
            synopsis="Revoke a certificate by serial number or with the certificate.",
        ),
        Path(
            "config/urls",
            fields=_URL_FIELDS,
            operations={Operation.READ: h.read_urls, Operation.UPDATE: h.write_urls},
            synopsis="Set the URLs for the issuing CA, CRL distribution points, and OCSP servers.",
        ),
        Path(
            "config/crl",
            fields=_CRL_FIELDS,
            operations={Operation.READ: h.read_crl_config, Operation.UPDATE: h.write_crl_config},
            synopsis="Configure the CRL expiration.",
        ),
        Path(
            "tidy",
            fields={
                **{name: Field(FieldType.BOOL, f"Run {name}.", default=False) for name in TIDY_OPS},
                "safety_buffer": Field(
                    FieldType.DURATION, "How long past expiry before removal.", default=72 * 3600
                ),
                "issuer_safety_buffer": Field(
                    FieldType.DURATION, "Issuer safety buffer.", default=365 * 86400
                ),
                "pause_duration": Field(FieldType.STRING, "Pause between certificates.", default="0s"),
            },
            operations={Operation.UPDATE: h.tidy},
            synopsis="Tidy up the backend by removing expired certificates.",
        ),
        Path(
            "config/auto-tidy",
            fields=_setting_fields(AUTO_TIDY_DEFAULTS, "Auto-tidy"),
            operations={Operation.READ: h.read_auto_tidy, Operation.UPDATE: h.write_auto_tidy},
            synopsis="Automatic tidy (not built: always disabled).",
        ),
        Path(
            "config/acme",
            fields=_setting_fields(ACME_DEFAULTS, "ACME"),
            operations={Operation.READ: h.read_acme, Operation.UPDATE: h.write_acme},
            synopsis="ACME (not built: always disabled).",
        ),
        Path(
            "tidy-status",
            operations={Operation.READ: h.tidy_status},
            synopsis="Status of the last tidy operation.",
        ),
    ]


def build(tidy_state: dict[str, Any]) -> list[Path]:
    h = FetchHandlers(tidy_state)
    return _fetch_paths(h) + _admin_paths(h)


AUTO_TIDY_DEFAULTS: dict[str, Any] = {
    "acme_account_safety_buffer": 2592000,
    "enabled": False,
    "interval_duration": 43200,
    "issuer_safety_buffer": 31536000,
    "maintain_stored_certificate_counts": False,
    "page_size": 1000,
    "pause_duration": "0s",
    "publish_stored_certificate_count_metrics": False,
    "revoked_safety_buffer": 259200,
    "safety_buffer": 259200,
    "tidy_acme": False,
    "tidy_cert_store": False,
    "tidy_expired_issuers": False,
    "tidy_invalid_certs": False,
    "tidy_move_legacy_ca_bundle": False,
    "tidy_revoked_cert_issuer_associations": False,
    "tidy_revoked_certs": False,
}
ACME_DEFAULTS: dict[str, Any] = {
    "allow_role_ext_key_usage": False,
    "allowed_issuers": ["*"],
    "allowed_roles": ["*"],
    "default_directory_policy": "sign-verbatim",
    "dns_resolver": "",
    "eab_policy": "not-required",
    "enabled": False,
}

TIDY_OPS = (
    "tidy_cert_store",
    "tidy_revoked_certs",
    "tidy_invalid_certs",
    "tidy_revoked_cert_issuer_associations",
    "tidy_expired_issuers",
    "tidy_move_legacy_ca_bundle",
    "tidy_acme",
)


def initial_tidy_state() -> dict[str, Any]:
    """tidy-status before any tidy has run, as the reference answers it."""
    return {
        "acme_account_deleted_count": 0,
        "acme_account_revoked_count": 0,
        "acme_account_safety_buffer": 2592000,
        "acme_orders_deleted_count": 0,
        "cert_store_deleted_count": 0,
        "current_cert_store_count": None,
        "current_revoked_cert_count": None,
        "error": None,
        "internal_backend_uuid": str(uuid.uuid4()),
        "issuer_safety_buffer": None,
        "last_auto_tidy_finished": None,
        "message": None,
        "missing_issuer_cert_count": 0,
        "page_size": 1000,
        "pause_duration": None,
        "revoked_cert_deleted_count": 0,
        "revoked_safety_buffer": None,
        "safety_buffer": None,
        "state": "Inactive",
        **dict.fromkeys(TIDY_OPS, None),
        "time_finished": None,
        "time_started": None,
        "total_acme_account_count": 0,
    }


def _tidy(store: PKIStore, ops: dict[str, bool], buffer: int) -> tuple[int, int]:
    """Remove certificates (and revocations) expired longer than ``buffer`` ago; counts of each."""
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=buffer)
    deleted = revoked_deleted = 0
    issuer_serials = {i.serial for i in store.issuers()}
    changed = False
    for serial in store.cert_serials():
        if serial in issuer_serials:
            continue
        pem = store.cert_pem(serial)
        if pem is None:
            continue
        expired = x509util.load_cert(pem).not_valid_after_utc < cutoff
        revoked = store.revocation(serial) is not None
        if not expired:
            continue
        if revoked and ops["tidy_revoked_certs"]:
            store.delete_revocation(serial)
            store.delete_cert(serial)
            revoked_deleted += 1
            changed = True
        elif not revoked and ops["tidy_cert_store"]:
            store.delete_cert(serial)
            deleted += 1
    if changed:
        revocation.rebuild_crls(store)
    return deleted, revoked_deleted


def _chain_text(pems: list[str]) -> str:
    return "\n".join(pems)


def _setting_fields(defaults: dict[str, Any], label: str) -> dict[str, Field]:
    return {
        name: Field(FieldType.BOOL if isinstance(value, bool) else FieldType.ANY, f"{label} setting {name}.")
        for name, value in defaults.items()
    }

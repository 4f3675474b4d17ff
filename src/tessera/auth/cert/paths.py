"""The cert method's paths: ``certs/``, ``certs/:name``, ``config`` and ``login``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography import x509

from ...framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    Operation,
    Path,
    Request,
    Response,
    generic_name,
)
from ...storage.base import Storage
from ..tokenutil import deprecated_token_fields, list_page, token_fields, upgrade_values
from .crls import crl_paths
from .entries import (
    CERT_PREFIX,
    MAX_OCSP_CACHE,
    CertEntry,
    is_ca,
    load_config,
    load_entry,
    parse_pem,
    save_config,
    save_entry,
)

if TYPE_CHECKING:
    from .login import CertAuth

_LISTS = (
    "allowed_names",
    "allowed_common_names",
    "allowed_dns_sans",
    "allowed_email_sans",
    "allowed_uri_sans",
    "allowed_organizational_units",
    "required_extensions",
    "allowed_metadata_extensions",
    "ocsp_servers_override",
)
_SCALARS = (
    "certificate",
    "ocsp_ca_certificates",
    "ocsp_enabled",
    "ocsp_fail_open",
    "ocsp_query_all_servers",
    "display_name",
)
# Deprecated field -> its token_* successor -> the attribute (tokenutil.UpgradeValue).
_UPGRADES = (
    ("policies", "token_policies"),
    ("ttl", "token_ttl"),
    ("max_ttl", "token_max_ttl"),
    ("period", "token_period"),
    ("bound_cidrs", "token_bound_cidrs"),
)


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


class CertHandlers:
    def __init__(self, cert: CertAuth) -> None:
        self.cert = cert

    def list_certs(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": list_page(_storage(req).list(CERT_PREFIX), data)})

    def read(self, req: Request, data: FieldData) -> Response | None:
        entry = load_entry(_storage(req), data.get("name"))
        if entry is None:
            return None
        out: dict[str, Any] = {key: getattr(entry, key) for key in (*_SCALARS, *_LISTS)}
        entry.populate_token_data(out)
        for old in ("ttl", "max_ttl", "period"):
            if getattr(entry, old) > 0:
                out[old] = getattr(entry, old)
        if entry.policies:
            out["policies"] = out["token_policies"]
        if entry.bound_cidrs:
            out["bound_cidrs"] = out["token_bound_cidrs"]
        return Response(data=out)

    def delete(self, req: Request, data: FieldData) -> None:
        _storage(req).delete(CERT_PREFIX + str(data.get("name")).lower())

    def write(self, req: Request, data: FieldData) -> Response | None:
        name = str(data.get("name")).lower()
        storage = _storage(req)
        with self.cert.lock:
            entry = load_entry(storage, name) or CertEntry(name=name)
            for key in (*_SCALARS, *_LISTS):
                value, ok = data.get_ok(key)
                if ok:
                    setattr(entry, key, value)
            entry.parse_token_fields(data)
            _upgrade(data, entry)
            resp = Response()
            self._ttl_warnings(entry, resp)
            if entry.token_max_ttl and entry.token_ttl > entry.token_max_ttl:
                raise ErrorResponse("ttl should be shorter than max_ttl")
            entry.display_name = entry.display_name or name
            _check_certificate(entry.certificate)
            save_entry(storage, entry)
        return resp if resp.warnings else None

    def _ttl_warnings(self, entry: CertEntry, resp: Response) -> None:
        default, maximum = self.cert.mount_ttls()
        if entry.token_ttl > default:
            resp.add_warning(
                f"Given ttl of {entry.token_ttl} seconds is greater than current mount/system default of {default} seconds"
            )
        if entry.token_max_ttl > maximum:
            resp.add_warning(
                f"Given max_ttl of {entry.token_max_ttl} seconds is greater than current mount/system default of {maximum} seconds"
            )
        if entry.token_period > maximum:
            resp.add_warning(
                f"Given period of {entry.token_period} seconds is greater than the backend's maximum TTL of {maximum} seconds"
            )

    def read_config(self, req: Request, data: FieldData) -> Response:
        config = load_config(_storage(req))
        return Response(
            data={
                "disable_binding": config.disable_binding,
                "enable_identity_alias_metadata": config.enable_identity_alias_metadata,
                "ocsp_cache_size": config.ocsp_cache_size,
            }
        )

    def write_config(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        with self.cert.lock:
            config = load_config(storage)
            for key in ("disable_binding", "enable_identity_alias_metadata"):
                value, ok = data.get_ok(key)
                if ok:
                    setattr(config, key, value)
            size, ok = data.get_ok("ocsp_cache_size")
            if ok:
                if size < 2 or size > MAX_OCSP_CACHE:
                    raise ErrorResponse(f"invalid cache size, must be >= 2 and <= {MAX_OCSP_CACHE}")
                config.ocsp_cache_size = size
            save_config(storage, config)


def _upgrade(data: FieldData, entry: CertEntry) -> None:
    """tokenutil.UpgradeValue for each deprecated field, and the older ``lease`` for the TTL."""
    upgrade_values(data, entry, _UPGRADES)
    if not data.has("token_ttl") and not data.has("ttl") and data.has("lease"):
        entry.ttl = entry.token_ttl = int(data.get("lease"))


def _check_certificate(pem: str) -> None:
    parsed = parse_pem(pem)
    if not parsed:
        raise ErrorResponse("failed to parse certificate")
    first = parsed[0]
    if is_ca(first):
        return
    try:
        usages = first.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    allowed = {x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH, x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if not allowed.intersection(usages):
        raise ErrorResponse(
            "nonCA certificates should have TLS client authentication set as an extended key usage"
        )


def _list_fields() -> dict[str, Field]:
    return {
        "after": Field(
            FieldType.STRING, "Optional entry to list begin listing after, not required to exist."
        ),
        "limit": Field(FieldType.INT, "Optional number of entries to return; defaults to all entries."),
    }


def _cert_fields() -> dict[str, Field]:
    s, b, c = FieldType.STRING, FieldType.BOOL, FieldType.COMMA_STRING_SLICE
    fields = {
        "name": Field(s, "The name of the certificate"),
        "certificate": Field(s, "The public certificate that should be trusted. Must be x509 PEM encoded."),
        "ocsp_enabled": Field(b, "Whether to attempt OCSP verification of certificates at login"),
        "ocsp_ca_certificates": Field(
            s, "Any additional CA certificates needed to communicate with OCSP servers"
        ),
        "ocsp_servers_override": Field(c, "A comma-separated list of OCSP server addresses."),
        "ocsp_fail_open": Field(
            b, "If set to true, if an OCSP revocation cannot be made successfully, login will proceed."
        ),
        "ocsp_query_all_servers": Field(b, "If set to true, query all OCSP servers."),
        "allowed_names": Field(
            c, "A comma-separated list of names. At least one must exist in either the Common Name or SANs."
        ),
        "allowed_common_names": Field(
            c, "A comma-separated list of names. At least one must exist in the Common Name."
        ),
        "allowed_dns_sans": Field(
            c, "A comma-separated list of DNS names. At least one must exist in the SANs."
        ),
        "allowed_email_sans": Field(
            c, "A comma-separated list of Email Addresses. At least one must exist in the SANs."
        ),
        "allowed_uri_sans": Field(c, "A comma-separated list of URIs. At least one must exist in the SANs."),
        "allowed_organizational_units": Field(c, "A comma-separated list of Organizational Units names."),
        "required_extensions": Field(
            c, 'A comma-separated string or array of extensions formatted as "oid:value".'
        ),
        "allowed_metadata_extensions": Field(c, "A comma-separated string or array of oid extensions."),
        "display_name": Field(s, "The display name to use for clients using this certificate."),
        **deprecated_token_fields("policies"),
        "lease": Field(FieldType.INT, "Use 'token_ttl' instead.", deprecated=True),
        **deprecated_token_fields("ttl", "max_ttl", "period", "bound_cidrs"),
    }
    return {**fields, **token_fields()}


def cert_paths(cert: CertAuth) -> list[Path]:
    h = CertHandlers(cert)
    return [
        *crl_paths(cert.revoked.forget),
        Path(
            "certs/?$",
            fields=_list_fields(),
            operations={Operation.LIST: h.list_certs},
            synopsis="Manage trusted certificates used for authentication.",
        ),
        Path(
            "certs/" + generic_name("name") + "$",
            fields=_cert_fields(),
            operations={Operation.READ: h.read, Operation.UPDATE: h.write, Operation.DELETE: h.delete},
            synopsis="Manage trusted certificates used for authentication.",
        ),
        Path(
            "config$",
            fields={
                "disable_binding": Field(
                    FieldType.BOOL,
                    "If set, during renewal, skips the matching of presented client identity.",
                    default=False,
                ),
                "enable_identity_alias_metadata": Field(
                    FieldType.BOOL, "If set, certificate metadata is stored in the alias.", default=False
                ),
                "ocsp_cache_size": Field(
                    FieldType.INT, "The size of the in memory OCSP response cache.", default=100
                ),
            },
            operations={Operation.READ: h.read_config, Operation.UPDATE: h.write_config},
            synopsis="Configure the cert auth method.",
        ),
        Path(
            "login$",
            fields={
                "name": Field(FieldType.STRING, "The name of the certificate role to authenticate against.")
            },
            operations={Operation.UPDATE: cert.login},
            synopsis="Log in with a TLS client certificate.",
            unauthenticated=True,
        ),
    ]

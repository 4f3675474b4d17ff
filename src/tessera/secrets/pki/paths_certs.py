"""Paths that issue and sign leaf certificates under roles, and the roles themselves."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

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
    Secret,
)
from ...gocompat.durations import DurationError, parse_duration_second
from . import issuing, roles, x509util
from .store import PKIStore, storage_of
from .subject import SUBJECT_FIELDS, role_subject_extra, template_from

MountTTLs = Callable[[], tuple[int, int]]
SECRET_TYPE = "pki"
NO_DEFAULT_ISSUER_WARNING = (
    "Issuing Certificate was set to default, but no default issuing certificate (configurable at "
    "/config/issuers) is currently set"
)
CN_WARNING = 'the common_name field was provided but the role is set with "use_csr_common_name" set to true'
SANS_WARNING = 'the alt_names field was provided but the role is set with "use_csr_sans" set to true'


def _store(req: Request) -> PKIStore:
    return PKIStore(storage_of(req))


def load_role(req: Request, name: str) -> dict[str, Any] | None:
    return storage_of(req).get_json("role/" + name)  # type: ignore[no-any-return]


def _ext_key_usage(role: dict[str, Any]) -> list[str]:
    """The role's flags first, then its named usages, as the reference adds them."""
    names = [
        eku
        for flag, eku in (
            ("server_flag", "ServerAuth"),
            ("client_flag", "ClientAuth"),
            ("code_signing_flag", "CodeSigning"),
            ("email_protection_flag", "EmailProtection"),
        )
        if role.get(flag)
    ]
    return names + list(role.get("ext_key_usage") or [])


def _verbatim_role() -> dict[str, Any]:
    """The role sign-verbatim signs under when none is named: the defaults (the mount's TTLs)."""
    return roles.role_view({})


class CertHandlers:
    """The role, issue, sign and revoke handlers of one mount, with the mount's TTLs."""

    def __init__(self, mount_ttls: MountTTLs) -> None:
        self.mount_ttls = mount_ttls

    # -- roles -----------------------------------------------------------------------
    def write_role(self, req: Request, data: FieldData) -> Response:
        role = roles.role_from_fields(data)
        _apply_legacy(role, data)
        return self._save_role(req, data, role)

    def patch_role(self, req: Request, data: FieldData) -> Response:
        stored = load_role(req, data.get("name"))
        if stored is None:
            raise ErrorResponse("Unable to fetch role entry to patch")
        return self._save_role(req, data, roles.role_from_fields(data, roles.role_view(stored)))

    def _save_role(self, req: Request, data: FieldData, role: dict[str, Any]) -> Response:
        storage_of(req).put_json("role/" + data.get("name"), role)
        warnings = []
        if role["generate_lease"]:
            warnings.append(roles.GENERATE_LEASE_WARNING)
        if role["issuer_ref"] == "default" and not _store(req).issuers_config()["default"]:
            warnings.append(NO_DEFAULT_ISSUER_WARNING)
        return Response(data=roles.role_view(role), warnings=warnings)

    def read_role(self, req: Request, data: FieldData) -> Response | None:
        role = load_role(req, data.get("name"))
        return None if role is None else Response(data=roles.role_view(role))

    def delete_role(self, req: Request, data: FieldData) -> None:
        storage_of(req).delete("role/" + data.get("name"))

    def list_roles(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": storage_of(req).list("role/")})

    # -- issuing ---------------------------------------------------------------------
    def role_for(self, req: Request, data: FieldData) -> dict[str, Any]:
        name = data.get("role")
        role = load_role(req, name)
        if role is None:
            raise ErrorResponse(f"unknown role: {name}")
        return roles.role_view(role)

    def issue(self, req: Request, data: FieldData) -> Response:
        role = self.role_for(req, data)
        if role["key_type"] == "any":
            if not data.get("key_type") or data.get("key_type") == "any":
                raise ErrorResponse(
                    'role key type "any" not allowed for issuing certificates without providing key_type '
                    "and/or key_bits request parameters"
                )
            role["key_type"] = data.get("key_type")
            role["key_bits"] = x509util.validate_key_params(role["key_type"], data.get("key_bits"))
        return self._sign(req, data, role, None)

    def sign(self, req: Request, data: FieldData) -> Response:
        role = self.role_for(req, data)
        return self._sign(req, data, role, x509util.parse_csr(data.get("csr")))

    def sign_verbatim(self, req: Request, data: FieldData) -> Response:
        role = self.role_for(req, data) if data.get("role") else _verbatim_role()
        csr = x509util.parse_csr(data.get("csr"))
        verbatim = dict(role)
        verbatim.update(
            allow_any_name=True, enforce_hostnames=False, cn_validations=["disabled"], key_type="any"
        )
        verbatim.update(
            allow_ip_sans=True, use_csr_common_name=True, use_csr_sans=True, allowed_uri_sans=["*"]
        )
        # Usages come from the request, not the role (the reference's pathSignVerbatim).
        verbatim.update(
            server_flag=False, client_flag=False, code_signing_flag=False, email_protection_flag=False
        )
        verbatim.update(
            key_usage=data.get("key_usage"),
            ext_key_usage=data.get("ext_key_usage"),
            ext_key_usage_oids=data.get("ext_key_usage_oids"),
        )
        return self._sign(req, data, verbatim, csr, subject_from_csr=True)

    def _sign(
        self,
        req: Request,
        data: FieldData,
        role: dict[str, Any],
        csr: x509.CertificateSigningRequest | None,
        subject_from_csr: bool = False,
    ) -> Response:
        store = _store(req)
        fmt = issuing.check_format(data)
        ref = (
            data.get("issuer_ref")
            if "issuer_ref" in data.schema and data.get("issuer_ref")
            else role["issuer_ref"]
        )
        if store.find_issuer(ref) is None:
            detail = (
                "no default issuer currently configured"
                if ref in ("", "default")
                else (f"unable to find PKI issuer for reference: {ref}")
            )
            raise ErrorResponse(f"could not fetch the CA certificate (was one set?): {detail}")
        issuer, ca_key = store.signing_issuer(ref)
        warnings: list[str] = []
        cn = data.get("common_name")
        t, public_key, private = self._names(data, role, csr, cn, warnings)
        if subject_from_csr and csr is not None:
            t = _verbatim_template(t, csr)
        if not t.common_name and role["require_cn"]:
            raise ErrorResponse(
                'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" '
                'set to true, unless "require_cn" is set to false'
            )
        window = issuing.validity(
            data.get("ttl"),
            role["ttl"],
            role["max_ttl"],
            self.mount_ttls(),
            role["not_before_duration"],
            issuer.cert,
            issuer.leaf_not_after_behavior,
            issuing.requested_not_after(data),
        )
        warnings += window.warnings
        t.not_before, t.not_after = window.not_before, window.not_after
        t.key_usage = list(role["key_usage"])
        t.ext_key_usage = _ext_key_usage(role)
        t.ext_key_usage_oids = list(role["ext_key_usage_oids"])
        t.basic_constraints_for_leaf = role["basic_constraints_valid_for_non_ca"]
        t.policy_identifiers = list(role["policy_identifiers"])
        issuing.aia_template(store, issuer, t)
        signer = x509util.load_private_key(ca_key.private_key)
        cert = x509util.build_certificate(t, public_key, signer, issuer.cert)
        if not role["no_store"]:
            store.store_cert(cert)
        out = issuing.leaf_response(
            cert, issuer, fmt, private, data.get("private_key_format"), data.get("remove_roots_from_chain")
        )
        resp = Response(data=out, warnings=warnings)
        if role["generate_lease"]:
            remaining = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
            resp.secret = Secret(
                ttl=max(1, int(remaining.total_seconds())),
                renewable=False,
                internal_data={"secret_type": SECRET_TYPE, "serial_number": out["serial_number"]},
            )
        return resp

    def _names(
        self,
        data: FieldData,
        role: dict[str, Any],
        csr: x509.CertificateSigningRequest | None,
        cn: str,
        warnings: list[str],
    ) -> tuple[x509util.Template, x509util.PublicKey, x509util.PrivateKey | None]:
        """The certificate's names and key: from the request, the CSR (as the role says), or new."""
        private: x509util.PrivateKey | None = None
        if csr is None:
            private = x509util.generate_key(role["key_type"], role["key_bits"])
            public_key = private.public_key()
        else:
            public_key = csr.public_key()  # type: ignore[assignment]
            _check_csr_key(role, public_key)
            if role["use_csr_common_name"]:
                if cn:
                    warnings.append(CN_WARNING)
                cn = x509util.common_name_of(csr.subject)
        others = data.get("other_sans")
        if others:  # no role allows other SANs here (allowed_other_sans is not built)
            raise ErrorResponse(f"other SAN OID {others[0].split(';', 1)[0]} not allowed by this role")
        t = template_from(data, cn, role_subject_extra(role))
        if csr is not None and role["use_csr_sans"]:
            if data.get("alt_names"):
                warnings.append(SANS_WARNING)
            _names_from_csr(t, csr, cn, data.get("exclude_cn_from_sans"))
        roles.check_names(role, t.common_name, t.dns_names + t.emails, cn_is_san=True)
        roles.check_ip_sans(role, t.ip_addresses)
        if t.uris:
            roles.check_uri_sans(role, t.uris)
        return t, public_key, private  # type: ignore[return-value]


_ROLE_NAME = {"name": Field(FieldType.STRING, "Name of the role.")}
_ROLE_REF = {
    "role": Field(FieldType.STRING, "The role to issue under."),
    "issuer_ref": Field(FieldType.STRING, "The issuer to sign with (instead of the role's)."),
}
_ISSUE_FIELDS = {
    **SUBJECT_FIELDS,
    **_ROLE_REF,
    "key_type": Field(FieldType.STRING, "Key type when the role allows any."),
    "key_bits": Field(FieldType.INT, "Key bits when the role allows any."),
}
_SIGN_FIELDS = {
    **SUBJECT_FIELDS,
    **_ROLE_REF,
    "csr": Field(FieldType.STRING, "The PEM-encoded CSR to sign."),
}
_VERBATIM_FIELDS = {
    **_SIGN_FIELDS,
    "key_usage": roles.ROLE_FIELDS["key_usage"],
    "ext_key_usage": roles.ROLE_FIELDS["ext_key_usage"],
    "ext_key_usage_oids": roles.ROLE_FIELDS["ext_key_usage_oids"],
}
_ROLE_FIELDS = {**_ROLE_NAME, **roles.ROLE_FIELDS, **roles.LEGACY_FIELDS}
_REF = r"(?P<issuer_ref>\w(([\w\-.]+)?\w)?)"
_NAME = r"(?P<role>\w(([\w\-.]+)?\w)?)"


def _issue_paths(h: CertHandlers) -> list[Path]:
    return [
        Path(
            "issue/" + _NAME,
            fields=_ISSUE_FIELDS,
            operations={Operation.UPDATE: h.issue},
            synopsis="Request a certificate using a certain role with the provided details.",
        ),
        Path(
            "issuer/" + _REF + "/issue/" + _NAME,
            fields=_ISSUE_FIELDS,
            operations={Operation.UPDATE: h.issue},
            synopsis="Request a certificate using a certain role with the provided details.",
        ),
        Path(
            "sign/" + _NAME,
            fields=_SIGN_FIELDS,
            operations={Operation.UPDATE: h.sign},
            synopsis="Request certificates using a certain role with the provided details.",
        ),
        Path(
            "issuer/" + _REF + "/sign/" + _NAME,
            fields=_SIGN_FIELDS,
            operations={Operation.UPDATE: h.sign},
            synopsis="Request certificates using a certain role with the provided details.",
        ),
        Path(
            "sign-verbatim(/" + _NAME + ")?",
            fields=_VERBATIM_FIELDS,
            operations={Operation.UPDATE: h.sign_verbatim},
            synopsis="Request a certificate using a CSR, signed as it asks.",
        ),
        Path(
            "issuer/" + _REF + "/sign-verbatim(/" + _NAME + ")?",
            fields=_VERBATIM_FIELDS,
            operations={Operation.UPDATE: h.sign_verbatim},
            synopsis="Request a certificate using a CSR, signed as it asks.",
        ),
    ]


def _role_paths(h: CertHandlers) -> list[Path]:
    return [
        Path(
            "roles/?",
            operations={Operation.LIST: h.list_roles},
            synopsis="List the existing roles in this backend.",
        ),
        Path(
            "roles/" + r"(?P<name>\w(([\w\-.]+)?\w)?)",
            fields=_ROLE_FIELDS,
            operations={
                Operation.READ: h.read_role,
                Operation.CREATE: h.write_role,
                Operation.UPDATE: h.write_role,
                Operation.PATCH: h.patch_role,
                Operation.DELETE: h.delete_role,
            },
            synopsis="Manage the roles that can be created with this backend.",
        ),
    ]


def build(mount_ttls: MountTTLs) -> list[Path]:
    # (lease revocation is wired in __init__, which owns the revocation module's store access)
    h = CertHandlers(mount_ttls)
    return _issue_paths(h) + _role_paths(h)


def _apply_legacy(role: dict[str, Any], data: FieldData) -> None:
    for old, new in (("lease", "ttl"), ("lease_max", "max_ttl")):
        if data.get(old) and not data.has(new):
            try:
                role[new] = parse_duration_second(data.get(old))
            except DurationError as exc:
                raise ErrorResponse(f"invalid {old}: {exc}") from None
    if data.get("allowed_base_domain") and not data.has("allowed_domains"):
        role["allowed_domains"] = [data.get("allowed_base_domain")]
    if data.get("allow_base_domain") and not data.has("allow_bare_domains"):
        role["allow_bare_domains"] = True


def _check_csr_key(role: dict[str, Any], key: Any) -> None:
    want = role["key_type"]
    if want == "any":
        return
    have = x509util.key_type_of(key)
    if have != want:
        raise ErrorResponse(f"role requires keys of type {want}")
    bits = x509util.key_bits_of(key)
    if want == "rsa" and bits < role["key_bits"]:
        raise ErrorResponse(f"RSA key too small: role requires at least {role['key_bits']} bits, got {bits}")
    if want == "ec" and role["key_bits"] and bits != role["key_bits"]:
        raise ErrorResponse(f"role requires a P-{role['key_bits']} EC key, got P-{bits}")


def _names_from_csr(
    t: x509util.Template, csr: x509.CertificateSigningRequest, cn: str, exclude_cn: bool
) -> None:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    for dns in san.get_values_for_type(x509.DNSName):
        if dns not in t.dns_names:
            t.dns_names.append(dns)
    for email in san.get_values_for_type(x509.RFC822Name):
        if email not in t.emails:
            t.emails.append(email)
    for ip in san.get_values_for_type(x509.IPAddress):
        if str(ip) not in t.ip_addresses:
            t.ip_addresses.append(str(ip))
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri not in t.uris:
            t.uris.append(uri)


def _verbatim_template(t: x509util.Template, csr: x509.CertificateSigningRequest) -> x509util.Template:
    """sign-verbatim: the CSR's own subject attributes and alternative names, nothing added."""
    verbatim = x509util.Template(common_name=t.common_name, sans_last=True, subject=csr.subject)
    _names_from_csr(verbatim, csr, t.common_name, True)
    return verbatim

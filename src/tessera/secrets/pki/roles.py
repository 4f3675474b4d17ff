"""PKI roles: what a role may issue, its stored form, and the name policy (Vault's validateNames)."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from typing import Any

from ...framework import ErrorResponse, Field, FieldData, FieldType
from . import x509util

_LIST = FieldType.COMMA_STRING_SLICE


def _f(ftype: FieldType, desc: str, default: Any = None) -> Field:
    return Field(ftype, desc, default=default)


# Every role field with its default, in the order the reference reads them back.
ROLE_FIELDS: dict[str, Field] = {
    "allow_any_name": _f(FieldType.BOOL, "Allow any common name and SAN.", False),
    "allow_bare_domains": _f(FieldType.BOOL, "Allow the allowed domains themselves as names.", False),
    "allow_glob_domains": _f(FieldType.BOOL, "Allowed domains may contain globs.", False),
    "allow_globs_in_identity_templates": _f(FieldType.BOOL, "Globs in templated domains.", False),
    "allow_ip_sans": _f(FieldType.BOOL, "Allow IP subject alternative names.", True),
    "allow_localhost": _f(FieldType.BOOL, "Allow 'localhost' as a name.", True),
    "allow_subdomains": _f(FieldType.BOOL, "Allow subdomains of the allowed domains.", False),
    "allow_token_displayname": _f(FieldType.BOOL, "Allow the token's display name as a name.", False),
    "allow_wildcard_certificates": _f(FieldType.BOOL, "Allow wildcard names.", True),
    "allowed_domains": _f(_LIST, "Domains this role issues for."),
    "allowed_domains_template": _f(FieldType.BOOL, "Allowed domains are identity templates.", False),
    "allowed_ip_sans_cidr": _f(_LIST, "CIDRs IP SANs must fall in."),
    "allowed_other_sans": _f(_LIST, "Allowed other SANs."),
    "allowed_serial_numbers": _f(_LIST, "Allowed subject serial numbers."),
    "allowed_uri_sans": _f(_LIST, "Allowed URI SANs (globs)."),
    "allowed_uri_sans_template": _f(FieldType.BOOL, "URI SANs are identity templates.", False),
    "allowed_user_ids": _f(_LIST, "Allowed user IDs."),
    "basic_constraints_valid_for_non_ca": _f(
        FieldType.BOOL, "Mark Basic Constraints valid on leaves.", False
    ),
    "client_flag": _f(FieldType.BOOL, "Add the client authentication EKU.", True),
    "cn_validations": _f(_LIST, "How to validate the common name.", ["email", "hostname"]),
    "code_signing_flag": _f(FieldType.BOOL, "Add the code signing EKU.", False),
    "country": _f(_LIST, "Subject country."),
    "email_protection_flag": _f(FieldType.BOOL, "Add the email protection EKU.", False),
    "enforce_hostnames": _f(FieldType.BOOL, "Names must be valid hostnames.", True),
    "ext_key_usage": _f(_LIST, "Extended key usages by name."),
    "ext_key_usage_oids": _f(_LIST, "Extended key usages by OID."),
    "generate_lease": _f(FieldType.BOOL, "Give issued certificates a lease.", False),
    "issuer_ref": _f(FieldType.STRING, "The issuer that signs for this role.", "default"),
    "key_bits": _f(FieldType.INT, "Key size in bits.", 0),
    "key_type": _f(FieldType.STRING, "Key type: rsa, ec, ed25519 or any.", "rsa"),
    "key_usage": _f(_LIST, "Key usages.", ["DigitalSignature", "KeyAgreement", "KeyEncipherment"]),
    "locality": _f(_LIST, "Subject locality."),
    "max_ttl": _f(FieldType.DURATION, "Maximum certificate TTL.", 0),
    "no_store": _f(FieldType.BOOL, "Do not store issued certificates.", False),
    "not_after": _f(FieldType.STRING, "Fixed NotAfter (RFC 3339).", ""),
    "not_after_bound": _f(FieldType.STRING, "How NotAfter is bounded.", "permit"),
    "not_before": _f(FieldType.STRING, "Fixed NotBefore (RFC 3339).", ""),
    "not_before_bound": _f(FieldType.STRING, "How NotBefore is bounded.", "permit"),
    "not_before_duration": _f(FieldType.DURATION, "Backdate NotBefore by this much.", 30),
    "organization": _f(_LIST, "Subject organization."),
    "ou": _f(_LIST, "Subject organizational unit."),
    "policy_identifiers": _f(_LIST, "Certificate policy OIDs."),
    "postal_code": _f(_LIST, "Subject postal code."),
    "province": _f(_LIST, "Subject province."),
    "require_cn": _f(FieldType.BOOL, "A common name is required.", True),
    "server_flag": _f(FieldType.BOOL, "Add the server authentication EKU.", True),
    "signature_bits": _f(FieldType.INT, "Signature hash bits.", 0),
    "street_address": _f(_LIST, "Subject street address."),
    "ttl": _f(FieldType.DURATION, "Default certificate TTL.", 0),
    "use_csr_common_name": _f(FieldType.BOOL, "Take the common name from the CSR.", True),
    "use_csr_sans": _f(FieldType.BOOL, "Take the SANs from the CSR.", True),
    "use_pss": _f(FieldType.BOOL, "Sign with RSA-PSS.", False),
}
# Accepted on write for older clients: the reference folds them into the fields above.
LEGACY_FIELDS: dict[str, Field] = {
    "lease": _f(FieldType.STRING, "Deprecated: use ttl."),
    "lease_max": _f(FieldType.STRING, "Deprecated: use max_ttl."),
    "allow_base_domain": _f(FieldType.BOOL, "Deprecated: use allow_bare_domains."),
    "allowed_base_domain": _f(FieldType.STRING, "Deprecated: use allowed_domains."),
}

GENERATE_LEASE_WARNING = (
    "it is encouraged to disable generate_lease and rely on PKI's native capabilities when possible; "
    "this option can cause instance-wide issues with large numbers of issued certificates"
)


def role_from_fields(data: FieldData, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A role as the request describes it: unset fields take their defaults (writes replace), or
    the stored role's values (``base``, for PATCH)."""
    role = {name: data.get(name) for name in ROLE_FIELDS}
    if base is not None:
        role = {name: (role[name] if data.has(name) else base[name]) for name in ROLE_FIELDS}
    key_type = role["key_type"]
    if key_type not in ("rsa", "ec", "ed25519", "any"):
        raise ErrorResponse(f"unknown key type {key_type}")
    role["key_bits"] = x509util.validate_key_params(key_type, role["key_bits"])
    if key_type == "rsa" and not role["key_bits"]:
        role["key_bits"] = 2048
    if role["max_ttl"] and role["ttl"] > role["max_ttl"]:
        raise ErrorResponse('"ttl" value must be less than "max_ttl" value')
    if role["not_before_duration"] < 0:
        raise ErrorResponse('"not_before_duration" value must be greater than 0')
    for oid in role["ext_key_usage_oids"]:
        if not re.fullmatch(r"\d+(\.\d+)+", oid):
            raise ErrorResponse(f"{oid} is not a valid OID")
    return role


def role_view(role: dict[str, Any]) -> dict[str, Any]:
    """The role as a read returns it (stored roles from older versions gain new defaults)."""
    out = {}
    for name, spec in ROLE_FIELDS.items():
        value = role.get(name, spec.default)
        out[name] = list(value) if isinstance(value, list) else ([] if value is None else value)
    return out


# -- name policy -----------------------------------------------------------------------
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def valid_hostname(name: str) -> bool:
    """A DNS name (an optional leading wildcard label allowed), as the reference's hostname check."""
    name = name.rstrip(".")
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    elif "*" in labels[0]:
        labels[0] = labels[0].replace("*", "a", 1)
    return bool(labels) and all(_LABEL.match(label) for label in labels)


def _domain_allowed(role: dict[str, Any], name: str) -> bool:
    lowered = name.lower()
    wildcard = lowered.startswith("*.")
    if wildcard and not role["allow_wildcard_certificates"]:
        return False
    base = lowered[2:] if wildcard else lowered
    for domain in role["allowed_domains"]:
        dom = domain.lower()
        if dom.startswith("*.") and not role["allow_glob_domains"] and role["allow_subdomains"]:
            dom = dom[2:]
        if role["allow_bare_domains"] and lowered == dom:
            return True
        if role["allow_subdomains"] and (base.endswith("." + dom) or (wildcard and base == dom)):
            return True
        if role["allow_glob_domains"] and "*" in dom and fnmatch.fnmatchcase(base, dom):
            return True
        if role["allow_glob_domains"] and "*" in dom and fnmatch.fnmatchcase(lowered, dom):
            return True
    return False


def name_allowed(role: dict[str, Any], name: str) -> bool:
    """Whether ``name`` (a hostname or an email address) may appear in a certificate of ``role``."""
    host = name.split("@", 1)[1] if "@" in name else name
    if role["enforce_hostnames"] and not valid_hostname(host):
        return False
    if role["allow_any_name"]:
        return True
    if role["allow_localhost"] and host.lower() in ("localhost", "localdomain"):
        return True
    return _domain_allowed(role, host)


def check_names(role: dict[str, Any], common_name: str, sans: list[str], cn_is_san: bool) -> None:
    """Refuse the first name the role does not allow, with Vault's wording."""
    if common_name and not _cn_allowed(role, common_name):
        raise ErrorResponse(f"common name {common_name} not allowed by this role")
    for name in sans:
        if cn_is_san and name == common_name:
            continue
        if not name_allowed(role, name):
            kind = "email address" if "@" in name else "subject alternate name"
            raise ErrorResponse(f"{kind} {name} not allowed by this role")


def _cn_allowed(role: dict[str, Any], cn: str) -> bool:
    checks = role.get("cn_validations") or ["email", "hostname"]
    if "disabled" in checks:
        return True
    if "@" in cn:
        return "email" in checks and name_allowed(role, cn)
    return "hostname" in checks and name_allowed(role, cn)


def check_ip_sans(role: dict[str, Any], ips: list[str]) -> None:
    if ips and not role["allow_ip_sans"]:
        raise ErrorResponse(
            "IP Subject Alternative Names are not allowed in this role, but was provided via the API"
        )
    for ip in ips:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise ErrorResponse(f"the value {ip!r} is not a valid IP address".replace("'", '"')) from None
        cidrs = role.get("allowed_ip_sans_cidr") or []
        if cidrs and not any(addr in ipaddress.ip_network(c, strict=False) for c in cidrs):
            raise ErrorResponse(f"IP address {ip} is not allowed by this role")


def check_uri_sans(role: dict[str, Any], uris: list[str]) -> None:
    for uri in uris:
        if not any(fnmatch.fnmatchcase(uri, pat) for pat in role.get("allowed_uri_sans") or []):
            raise ErrorResponse(
                f"URI Subject Alternative Names are not allowed in this role, but was provided {uri}"
            )

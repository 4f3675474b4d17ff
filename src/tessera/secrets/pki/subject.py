"""The subject and alternative-name fields every generating path shares, and their template."""

from __future__ import annotations

import ipaddress
from typing import Any

from ...framework import ErrorResponse, Field, FieldData, FieldType
from . import x509util
from .roles import valid_hostname

_LIST = FieldType.COMMA_STRING_SLICE

SUBJECT_FIELDS: dict[str, Field] = {
    "common_name": Field(FieldType.STRING, "The requested common name."),
    "alt_names": Field(FieldType.STRING, "Comma-separated DNS names and email addresses."),
    "ip_sans": Field(_LIST, "IP subject alternative names."),
    "uri_sans": Field(_LIST, "URI subject alternative names."),
    "other_sans": Field(_LIST, "Other SANs (oid;type:value)."),
    "exclude_cn_from_sans": Field(FieldType.BOOL, "Leave the common name out of the SANs.", default=False),
    "ttl": Field(FieldType.DURATION, "Requested time to live."),
    "not_after": Field(FieldType.STRING, "Fixed NotAfter (RFC 3339)."),
    "format": Field(FieldType.STRING, "pem, der or pem_bundle.", default="pem"),
    "private_key_format": Field(FieldType.STRING, "der (default) or pkcs8.", default="der"),
    "serial_number": Field(FieldType.STRING, "The subject's serialNumber attribute."),
    "remove_roots_from_chain": Field(
        FieldType.BOOL, "Leave self-signed roots out of ca_chain.", default=False
    ),
}

CA_FIELDS: dict[str, Field] = {
    **SUBJECT_FIELDS,
    "key_type": Field(FieldType.STRING, "rsa, ec or ed25519.", default="rsa"),
    "key_bits": Field(FieldType.INT, "Key size in bits.", default=0),
    "key_name": Field(FieldType.STRING, "A name for the new key."),
    "key_ref": Field(FieldType.STRING, "An existing key (the 'existing' type).", default="default"),
    "issuer_name": Field(FieldType.STRING, "A name for the new issuer."),
    "max_path_length": Field(FieldType.INT, "The CA's path length constraint.", default=-1),
    "permitted_dns_domains": Field(_LIST, "Name constraints."),
    "signature_bits": Field(FieldType.INT, "Signature hash bits.", default=0),
    "use_pss": Field(FieldType.BOOL, "Sign with RSA-PSS.", default=False),
    "not_before_duration": Field(FieldType.DURATION, "Backdate NotBefore by this much.", default=30),
    "managed_key_name": Field(FieldType.STRING, "Managed keys are not supported."),
    "managed_key_id": Field(FieldType.STRING, "Managed keys are not supported."),
    "add_basic_constraints": Field(FieldType.BOOL, "Request CA basic constraints in the CSR.", default=False),
    "key_usage": Field(_LIST, "Key usages.", default=["CertSign", "CRLSign"]),
}
for _name in ("ou", "organization", "country", "locality", "province", "street_address", "postal_code"):
    CA_FIELDS[_name] = Field(_LIST, f"Subject {_name}.")


def split_alt_names(text: str) -> tuple[list[str], list[str]]:
    """alt_names into (DNS names, email addresses)."""
    dns, emails = [], []
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        (emails if "@" in name else dns).append(name)
    return dns, emails


def template_from(
    data: FieldData, common_name: str, subject_extra: dict[str, list[str]]
) -> x509util.Template:
    """The names of a certificate from the request; the CN joins the SANs unless excluded."""
    dns, emails = split_alt_names(data.get("alt_names") or "")
    if common_name and not data.get("exclude_cn_from_sans"):
        target = emails if "@" in common_name else dns
        if common_name not in target and (("@" in common_name) or _hostname_like(common_name)):
            target.insert(0, common_name)
    ips = list(data.get("ip_sans") or [])
    for ip in ips:
        _check_ip(ip)
    return x509util.Template(
        common_name=common_name,
        dns_names=dns,
        emails=emails,
        ip_addresses=ips,
        uris=list(data.get("uri_sans") or []),
        subject_extra=subject_extra,
        serial_number_attr=data.get("serial_number") or "",
    )


def _hostname_like(name: str) -> bool:
    return valid_hostname(name)


def _check_ip(ip: str) -> None:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ErrorResponse(f'the value "{ip}" is not a valid IP address') from None


def ca_subject_extra(data: FieldData) -> dict[str, list[str]]:
    return {
        name: list(data.get(name) or [])
        for name in ("ou", "organization", "country", "locality", "province", "street_address", "postal_code")
    }


def role_subject_extra(role: dict[str, Any]) -> dict[str, list[str]]:
    return {
        name: list(role.get(name) or [])
        for name in ("ou", "organization", "country", "locality", "province", "street_address", "postal_code")
    }

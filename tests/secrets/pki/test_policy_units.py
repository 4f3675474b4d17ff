"""The role name policy and the X.509 helpers, in process: cases the differential tests reach only slowly."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509

from tessera.framework import ErrorResponse
from tessera.secrets.pki import issuing, roles, x509util


def role(**overrides: object) -> dict[str, object]:
    base = roles.role_view({})
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("settings", "name", "allowed"),
    [
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "a.example.com", True),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "a.b.example.com", True),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "example.com", False),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "badexample.com", False),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "*.example.com", True),
        (
            {
                "allowed_domains": ["example.com"],
                "allow_subdomains": True,
                "allow_wildcard_certificates": False,
            },
            "*.example.com",
            False,
        ),
        ({"allowed_domains": ["Example.com"], "allow_bare_domains": True}, "example.com", True),
        ({"allowed_domains": ["example.com"], "allow_bare_domains": True}, "a.example.com", False),
        ({"allowed_domains": ["*.glob.com"], "allow_glob_domains": True}, "a.glob.com", True),
        ({"allowed_domains": ["*.glob.com"], "allow_glob_domains": True}, "a.other.com", False),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "user@a.example.com", True),
        ({}, "localhost", True),
        ({"allow_localhost": False}, "localhost", False),
        ({"allow_any_name": True}, "anything.at.all", True),
        ({"allow_any_name": True}, "bad name!", False),
        ({"allow_any_name": True, "enforce_hostnames": False}, "bad name!", True),
    ],
)
def test_name_policy(settings: dict[str, object], name: str, allowed: bool) -> None:
    assert roles.name_allowed(role(**settings), name) is allowed


def test_check_names_reports_the_cn_then_the_first_san() -> None:
    r = role(allowed_domains=["example.com"], allow_subdomains=True)
    with pytest.raises(ErrorResponse, match=r"common name a\.other\.com not allowed by this role"):
        roles.check_names(r, "a.other.com", [], cn_is_san=True)
    with pytest.raises(ErrorResponse, match=r"subject alternate name b\.other\.com not allowed by this role"):
        roles.check_names(r, "a.example.com", ["a.example.com", "b.other.com"], cn_is_san=True)
    roles.check_names(r, "a.example.com", ["a.example.com", "c.example.com"], cn_is_san=True)


def test_ip_sans_and_cidrs() -> None:
    with pytest.raises(ErrorResponse, match="IP Subject Alternative Names are not allowed"):
        roles.check_ip_sans(role(allow_ip_sans=False), ["10.0.0.1"])
    roles.check_ip_sans(role(allowed_ip_sans_cidr=["10.0.0.0/8"]), ["10.1.2.3"])
    with pytest.raises(ErrorResponse, match="not allowed by this role"):
        roles.check_ip_sans(role(allowed_ip_sans_cidr=["10.0.0.0/8"]), ["192.168.0.1"])


@pytest.mark.parametrize(
    ("key_type", "bits", "expected"),
    [("rsa", 0, 2048), ("rsa", 4096, 4096), ("ec", 0, 256), ("ec", 384, 384), ("ed25519", 0, 0)],
)
def test_key_parameters(key_type: str, bits: int, expected: int) -> None:
    assert x509util.validate_key_params(key_type, bits) == expected


@pytest.mark.parametrize(
    ("key_type", "bits", "message"),
    [
        ("rsa", 1024, "RSA keys < 2048 bits are unsafe and not supported: got 1024"),
        ("ec", 255, "unsupported bit length for EC key: 255"),
        ("dsa", 0, "unknown key type dsa"),
    ],
)
def test_key_parameters_refused(key_type: str, bits: int, message: str) -> None:
    with pytest.raises(ErrorResponse) as exc:
        x509util.validate_key_params(key_type, bits)
    assert str(exc.value.errors()[0]) == message


def test_serials_print_as_the_reference_does() -> None:
    assert x509util.format_serial(0x02DE80) == "02:de:80"
    assert x509util.format_serial(1) == "01"
    assert x509util.normalize_serial(" 02-DE-80 ") == "02:de:80"


def test_pem_blocks_skip_text_between_them() -> None:
    text = "junk\n-----BEGIN A-----\nAAEC\n-----END A-----\nmore\n-----BEGIN B KEY-----\nAw==\n-----END B KEY-----\n"
    assert x509util.split_pem_blocks(text) == [("A", b"\x00\x01\x02"), ("B KEY", b"\x03")]


def test_validity_caps_at_the_max_with_the_reference_warning_and_respects_the_ca() -> None:
    window = issuing.validity(0, 0, 3600, (2764800, 2764800), 30, None)
    assert window.warnings == [
        'TTL "768h0m0s" is longer than permitted maxTTL "1h0m0s", so maxTTL is being used'
    ]
    assert 3590 <= (window.not_after - window.not_before).total_seconds() <= 3640
    key = x509util.generate_key("ec", 256)
    t = x509util.Template(common_name="ca", is_ca=True, key_usage=["CertSign"])
    now = datetime.datetime.now(datetime.UTC)
    t.not_before, t.not_after = now, now + datetime.timedelta(hours=1)
    ca = x509util.build_certificate(t, key.public_key(), key, None)
    with pytest.raises(ErrorResponse, match="beyond the expiration of the CA certificate"):
        issuing.validity(7200, 0, 0, (2764800, 2764800), 30, ca)
    truncated = issuing.validity(7200, 0, 0, (2764800, 2764800), 30, ca, "truncate")
    assert truncated.not_after <= ca.not_valid_after_utc
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

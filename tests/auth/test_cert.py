"""The cert auth method, differentially: the same trusted entries, the same client certificates
presented over mutual TLS to the reference and to Tessera, the same answers.

Both servers run from a config file with a TLS listener (certificates made by ``tests/helpers/pki.py``),
so the client certificate travels in the handshake as it does in production.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers.compat import assert_same_shape, normalize
from tests.helpers.pki import Issuer, Pem, start_tls_pair, utf8_string
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer

pytestmark = pytest.mark.reference

_CUSTOM_OID = "1.3.6.1.4.1.311.99.1"


@dataclass
class Pair:
    reference: ServerProcess
    tessera: ServerProcess
    root: Issuer
    ca_file: Path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    reference, tessera, root, ca_file = start_tls_pair(tmp_path_factory.mktemp("cert-auth"))
    try:
        for server in (reference, tessera):
            status, body, _ = server.call("POST", "sys/auth/cert", json={"type": "cert"})
            assert status == 204, body
        yield Pair(reference, tessera, root, ca_file)
    finally:
        reference.cleanup()
        tessera.cleanup()


def send(
    server: ServerProcess,
    ca_file: Path,
    method: str,
    path: str,
    *,
    json: Any = None,
    cert: Pem | None = None,
    token: str | None = "",
) -> tuple[int, Any]:
    headers = {"X-Vault-Token": token or server.root_token or ""} if token is not None else {}
    response = requests.request(
        method,
        f"{server.addr}/v1/{path}",
        json=json,
        headers=headers,
        verify=str(ca_file),
        cert=(str(cert.cert), str(cert.key)) if cert else None,
        timeout=30,
    )
    return response.status_code, (response.json() if response.content else None)


def both(pair: Pair, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
    """The same request to both servers: same status, same shape, same error words."""
    ref_status, ref_body = send(pair.reference, pair.ca_file, method, path, **kwargs)
    tes_status, tes_body = send(pair.tessera, pair.ca_file, method, path, **kwargs)
    where = f"{method} {path}"
    assert ref_status == tes_status, (
        f"{where}: {tes_status} vs reference {ref_status}\n{ref_body}\n{tes_body}"
    )
    assert_same_shape(ref_body, tes_body)
    if isinstance(ref_body, dict) and "errors" in ref_body:
        assert tes_body["errors"] == ref_body["errors"]
    return ref_body, tes_body


def same(pair: Pair, method: str, path: str, **kwargs: Any) -> Any:
    ref, tes = (_comparable(b) for b in both(pair, method, path, **kwargs))
    assert tes == ref, f"{method} {path}\nreference: {ref}\ntessera:   {tes}"
    return tes


def _comparable(body: Any) -> Any:
    """Normalised, without ``mount_type`` (Tessera sends it as Vault 1.12+ does; OpenBao does not)."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "mount_type"}
    return normalize(body)


def login_auth(pair: Pair, cert: Pem | None, name: str = "", *, expect: int = 200) -> dict[str, Any]:
    """Log in to both; the auth blocks must agree but for tokens, accessors and the entity."""
    body = {"name": name} if name else {}
    ref, tes = both(pair, "POST", "auth/cert/login", json=body, cert=cert, token=None)
    if expect != 200:
        return tes
    ignore = ("client_token", "accessor", "entity_id")
    ref_auth = {k: v for k, v in ref["auth"].items() if k not in ignore}
    tes_auth = {k: v for k, v in tes["auth"].items() if k not in ignore}
    assert normalize(tes_auth) == normalize(ref_auth), f"reference: {ref_auth}\ntessera:   {tes_auth}"
    return tes


# -- certs/ and config ------------------------------------------------------------------------------
def test_cert_entry_round_trip(pair: Pair) -> None:
    body = {
        "certificate": pair.root.pem,
        "display_name": "ops",
        "allowed_common_names": "web-*,db",
        "allowed_dns_sans": ["*.example.com"],
        "allowed_organizational_units": "ops",
        "required_extensions": [f"{_CUSTOM_OID}:prod-*"],
        "allowed_metadata_extensions": _CUSTOM_OID,
        "token_policies": "b,a",
        "token_ttl": "1h",
        "token_type": "batch",
    }
    same(pair, "POST", "auth/cert/certs/Round", json=body)
    same(pair, "GET", "auth/cert/certs/round")
    same(
        pair,
        "POST",
        "auth/cert/certs/round",
        json={"policies": "old", "ttl": 60, "max_ttl": "2h", "period": 0},
    )
    same(pair, "GET", "auth/cert/certs/round")
    same(pair, "POST", "auth/cert/certs/round", json={"lease": 120, "bound_cidrs": "10.0.0.0/8"})
    same(pair, "GET", "auth/cert/certs/round")
    same(pair, "LIST", "auth/cert/certs")
    same(pair, "DELETE", "auth/cert/certs/round")
    same(pair, "GET", "auth/cert/certs/round")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"certificate": "not a pem"},
        {"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
        {"token_ttl": "2h", "token_max_ttl": "1h"},
        {"ttl": "2h", "max_ttl": "1h"},
        {"token_type": "batch", "token_period": "1h"},
        {"token_type": "nope"},
        {"token_ttl": "99999h"},
        {"bound_cidrs": "not-an-ip"},
    ],
)
def test_bad_cert_entries(pair: Pair, body: dict[str, Any]) -> None:
    if "certificate" not in body and body:
        body = {**body, "certificate": pair.root.pem}
    same(pair, "POST", "auth/cert/certs/bad", json=body)
    same(pair, "DELETE", "auth/cert/certs/bad")


def test_server_only_certificate_is_refused(pair: Pair) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    server_only = pair.root.issue("srv", usage=ExtendedKeyUsageOID.SERVER_AUTH)
    same(pair, "POST", "auth/cert/certs/srv", json={"certificate": server_only.pem})


def test_config(pair: Pair) -> None:
    same(pair, "GET", "auth/cert/config")
    same(pair, "POST", "auth/cert/config", json={"ocsp_cache_size": 1})
    same(pair, "POST", "auth/cert/config", json={"disable_binding": True, "ocsp_cache_size": 50})
    same(pair, "GET", "auth/cert/config")
    same(pair, "POST", "auth/cert/config", json={"disable_binding": False, "ocsp_cache_size": 100})


# -- login ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trusted(pair: Pair) -> Iterator[dict[str, Any]]:
    """Entries: the root CA with constraints, an intermediate CA, and one pinned self-signed client."""
    inter = pair.root.intermediate("Tessera test intermediate")
    pinned = pair.root.issue("pinned-client", self_signed=True)
    entries = {
        "web": {
            "certificate": pair.root.pem,
            "allowed_common_names": "web-*",
            "allowed_organizational_units": "ops,dev",
            "token_policies": "web",
            "token_ttl": "30m",
        },
        "ext": {
            "certificate": pair.root.pem,
            "allowed_common_names": "ext-*",
            "required_extensions": f"{_CUSTOM_OID}:prod-*",
            "allowed_metadata_extensions": _CUSTOM_OID,
            "token_type": "batch",
            "token_policies": "ext",
        },
        "dns": {
            "certificate": pair.root.pem,
            "allowed_dns_sans": "*.svc.example.com",
            "token_no_default_policy": True,
        },
        "inter": {"certificate": inter.pem, "allowed_common_names": "leaf-*", "token_policies": "inter"},
        "pinned": {"certificate": pinned.pem, "token_policies": "pinned", "display_name": "pin"},
    }
    for name, body in entries.items():
        same(pair, "POST", f"auth/cert/certs/{name}", json=body)
    yield {"inter": inter, "pinned": pinned}
    for name in entries:
        same(pair, "DELETE", f"auth/cert/certs/{name}")


def test_login_with_a_ca_signed_certificate(pair: Pair, trusted: dict[str, Any]) -> None:
    cert = pair.root.issue("web-1", ous=("ops",))
    auth = login_auth(pair, cert)["auth"]
    assert auth["metadata"]["cert_name"] == "web"
    assert auth["metadata"]["common_name"] == "web-1"
    assert auth["policies"] == ["default", "web"]
    assert auth["entity_id"]  # an entity with an alias named after the common name, as the reference


def test_login_batch_token_with_extension_metadata(pair: Pair, trusted: dict[str, Any]) -> None:
    cert = pair.root.issue("ext-1", extensions={_CUSTOM_OID: utf8_string("prod-eu")})
    auth = login_auth(pair, cert)["auth"]
    assert auth["metadata"]["1-3-6-1-4-1-311-99-1"] == "prod-eu"
    assert auth["token_type"] == "batch"
    status, lookup = send(
        pair.tessera, pair.ca_file, "GET", "auth/token/lookup-self", token=auth["client_token"]
    )
    assert status == 200 and lookup["data"]["policies"] == ["default", "ext"]


def test_login_by_dns_san_and_by_name(pair: Pair, trusted: dict[str, Any]) -> None:
    cert = pair.root.issue("anything", dns=("api.svc.example.com",))
    login_auth(pair, cert)
    login_auth(pair, cert, "dns")
    login_auth(pair, cert, "web", expect=400)
    login_auth(pair, cert, "missing", expect=400)


def test_login_through_an_intermediate(pair: Pair, trusted: dict[str, Any]) -> None:
    inter: Issuer = trusted["inter"]
    cert = inter.issue("leaf-1", chain=(inter,))
    assert login_auth(pair, cert)["auth"]["metadata"]["cert_name"] == "inter"


def test_login_with_a_pinned_certificate(pair: Pair, trusted: dict[str, Any]) -> None:
    auth = login_auth(pair, trusted["pinned"])["auth"]
    assert auth["metadata"]["cert_name"] == "pinned"


@pytest.mark.parametrize(
    "case",
    ["untrusted", "wrong-cn", "wrong-ou", "wrong-extension", "no-extension", "no-certificate"],
)
def test_login_refusals(pair: Pair, trusted: dict[str, Any], tmp_path: Path, case: str) -> None:
    stranger = Issuer.root(tmp_path, "stranger")
    certs = {
        "untrusted": stranger.issue("web-1", ous=("ops",)),
        "wrong-cn": pair.root.issue("db-1", ous=("ops",)),
        "wrong-ou": pair.root.issue("web-2", ous=("finance",)),
        "wrong-extension": pair.root.issue("ext-2", extensions={_CUSTOM_OID: utf8_string("staging")}),
        "no-extension": pair.root.issue("ext-3"),
        "no-certificate": None,
    }
    body = login_auth(pair, certs[case], expect=400)
    assert "auth" not in body or body["auth"] is None


def test_login_over_plain_http_needs_tls(tmp_path: Path) -> None:
    """Without TLS there is no certificate: Vault's words, no token."""
    with ReferenceServer() as reference, TesseraServer() as tessera:
        bodies = []
        for server in (reference, tessera):
            server.call("POST", "sys/auth/cert", json={"type": "cert"})
            status, body, _ = server.call("POST", "auth/cert/login", auth=False)
            bodies.append((status, body))
        assert bodies[0] == bodies[1]


def test_login_renewal_keeps_the_certificate_binding(pair: Pair, trusted: dict[str, Any]) -> None:
    cert = pair.root.issue("web-9", ous=("dev",))
    other = pair.root.issue("web-10", ous=("dev",))
    results = []
    for server in (pair.reference, pair.tessera):
        _, body = send(server, pair.ca_file, "POST", "auth/cert/login", cert=cert, token=None)
        token = body["auth"]["client_token"]
        same_cert = send(server, pair.ca_file, "POST", "auth/token/renew-self", cert=cert, token=token)
        other_cert = send(server, pair.ca_file, "POST", "auth/token/renew-self", cert=other, token=token)
        first_line = other_cert[1]["errors"][0].split(":\n")[0].replace("1 error occurred:\n\t* ", "")
        results.append((same_cert[0], other_cert[0], first_line))
    assert results[0] == results[1]
    assert results[1][:2] == (200, 500)


def test_expired_and_future_certificates_get_no_token(pair: Pair, trusted: dict[str, Any]) -> None:
    """The reference answers 500 with Go's x509 text; Tessera a 400 that says why (README's table)."""
    expired = pair.root.issue("web-old", ous=("ops",), not_before=datetime.timedelta(days=-3), days=-1)
    future = pair.root.issue("web-new", ous=("ops",), not_before=datetime.timedelta(days=1), days=3)
    for cert in (expired, future):
        ref_status, _ = send(pair.reference, pair.ca_file, "POST", "auth/cert/login", cert=cert, token=None)
        status, body = send(pair.tessera, pair.ca_file, "POST", "auth/cert/login", cert=cert, token=None)
        assert ref_status >= 400 and status == 400
        assert body["errors"][0].startswith("failed to verify client's certificate: ")
        assert "auth" not in body


def _crl(issuer: Issuer, serials: list[int]) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_crls_revoke_logins(pair: Pair, trusted: dict[str, Any]) -> None:
    revoked = pair.root.issue("web-revoked", ous=("ops",))
    kept = pair.root.issue("web-kept", ous=("ops",))
    same(
        pair,
        "POST",
        "auth/cert/crls/main",
        json={"crl": _crl(pair.root, [revoked.certificate.serial_number])},
    )
    same(pair, "GET", "auth/cert/crls/main")
    same(pair, "LIST", "auth/cert/crls")
    login_auth(pair, revoked, expect=400)
    login_auth(pair, kept)
    same(pair, "DELETE", "auth/cert/crls/main")
    login_auth(pair, revoked)
    for method in ("GET", "DELETE"):
        same(pair, method, "auth/cert/crls/main")  # no such CRL main
    same(pair, "POST", "auth/cert/crls/empty", json={})
    ref_status, _ = send(pair.reference, pair.ca_file, "POST", "auth/cert/crls/bad", json={"crl": "garbage"})
    status, body = send(pair.tessera, pair.ca_file, "POST", "auth/cert/crls/bad", json={"crl": "garbage"})
    assert status == ref_status == 400 and body["errors"][0].startswith("failed to parse CRL: ")

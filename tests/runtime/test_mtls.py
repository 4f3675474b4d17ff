"""Mutual TLS under a CA of our own: what the CA and its leaves are, and that the contexts trust it alone."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.runtime import mtls

NOW = time.time()
CA = mtls.make_ca("test-ca", NOW, years=1)


@contextmanager
def _server(ctx: ssl.SSLContext) -> Iterator[tuple[int, list[BaseException | str]]]:
    """One TLS connection accepted on loopback; what it saw (the peer's common name, or the error)."""
    seen: list[BaseException | str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept() -> None:
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    subject = dict(rdn[0] for rdn in tls.getpeercert()["subject"])  # type: ignore[index]
                    seen.append(str(subject["commonName"]))
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                seen.append(exc)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield listener.getsockname()[1], seen
        thread.join(5)


def _connect(port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1") -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.recv(2)


def test_a_leaf_is_signed_by_the_ca_for_its_host_and_usages() -> None:
    leaf = mtls.issue(CA, "node-1", "10.0.0.11", NOW, 3600, (mtls.CLIENT,), backdate=300)
    leaf.cert.verify_directly_issued_by(CA.cert)
    assert CA.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert not leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    names = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.11"]
    life = leaf.cert.not_valid_after_utc - leaf.cert.not_valid_before_utc
    assert life == datetime.timedelta(seconds=3900)
    assert mtls.general_name("rep-primary") == x509.DNSName("rep-primary")


def test_the_pem_form_round_trips_and_refuses_a_key_that_is_not_ecdsa() -> None:
    again = mtls.Pair.from_pem(CA.cert_pem(), CA.key_pem())
    assert again.cert == CA.cert and again.key.private_numbers() == CA.key.private_numbers()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="not an ECDSA key"):
        mtls.Pair.from_pem(CA.cert_pem(), rsa_pem)
    der = CA.cert.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert mtls.fingerprint(CA.cert_pem()) == digest.finalize().hex()


def test_a_client_of_the_ca_is_served_and_names_itself() -> None:
    server = mtls.server_context(CA.cert_pem(), mtls.issue(CA, "server", "127.0.0.1", NOW, 3600))
    client = mtls.client_context(CA.cert_pem(), mtls.issue(CA, "node-7", "127.0.0.1", NOW, 3600))
    with _server(server) as (port, seen):
        assert _connect(port, client) == b"ok"
    assert seen == ["node-7"]


def test_a_client_of_another_ca_is_refused_and_a_server_of_another_ca_too() -> None:
    other = mtls.make_ca("other-ca", NOW, years=1)
    server = mtls.server_context(CA.cert_pem(), mtls.issue(CA, "server", "127.0.0.1", NOW, 3600))
    stranger = mtls.client_context(CA.cert_pem(), mtls.issue(other, "stranger", "127.0.0.1", NOW, 3600))
    with _server(server) as (port, seen), pytest.raises(ssl.SSLError):
        _connect(port, stranger)  # TLS 1.3: the server's refusal arrives on the first read
    assert isinstance(seen[0], ssl.SSLError) and "certificate verify failed" in str(seen[0])
    impostor = mtls.server_context(other.cert_pem(), mtls.issue(other, "impostor", "127.0.0.1", NOW, 3600))
    client = mtls.client_context(CA.cert_pem(), mtls.issue(CA, "node-7", "127.0.0.1", NOW, 3600))
    with _server(impostor) as (port, _), pytest.raises(ssl.SSLCertVerificationError):
        _connect(port, client)


def test_the_host_name_is_checked_unless_the_caller_pins_the_ca_alone() -> None:
    server = mtls.server_context(CA.cert_pem(), mtls.issue(CA, "server", "127.0.0.1", NOW, 3600))
    mine = mtls.issue(CA, "client", "127.0.0.1", NOW, 3600)
    with _server(server) as (port, _), pytest.raises(ssl.SSLCertVerificationError):
        _connect(port, mtls.client_context(CA.cert_pem(), mine), host="10.1.2.3")
    pinned = mtls.client_context(CA.cert_pem(), mine, check_hostname=False)
    with _server(server) as (port, seen):
        assert _connect(port, pinned, host="10.1.2.3") == b"ok"
    assert seen == ["client"]


def test_a_leaf_issued_without_the_leaf_extensions_still_passes() -> None:
    """Replication secondaries activated before the CA work was shared hold client certificates
    with an extended key usage and a DNS name only: they keep working."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rep-secondary-old")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(CA.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("rep-secondary-old")]), critical=False)
        .sign(CA.key, hashes.SHA256())
    )
    server = mtls.server_context(CA.cert_pem(), mtls.issue(CA, "rep-primary", "rep-primary", NOW, 3600))
    client = mtls.client_context(CA.cert_pem(), mtls.Pair(cert, key), check_hostname=False)
    with _server(server) as (port, seen):
        assert _connect(port, client) == b"ok"
    assert seen == ["rep-secondary-old"]

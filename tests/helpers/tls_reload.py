"""A TLS listener's certificate files for reload tests: certificates A and B from one CA, the
listener's files (A to begin with) replaced as an operator renews them, and what a new TLS
connection sees (shared by ``tests/server/test_reload.py`` and ``tests/compat/test_reload_compat.py``)."""

from __future__ import annotations

import shutil
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .pki import Issuer, Pem
from .servers import free_port, hcl_config

WAIT = 30.0  # seconds: a busy machine starts a granian server slowly


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the serial is what the tests read, not trust
    return ctx


def served_serial(address: str) -> int | None:
    """The serial of the certificate a new TLS connection to ``address`` sees (None: no handshake)."""
    host, _, port = address.rpartition(":")
    try:
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            client_context().wrap_socket(raw) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def serves(address: str, pem: Pem, times: int = 5) -> bool:
    """``times`` new connections in a row all see ``pem`` (no old server left to answer)."""
    return all(served_serial(address) == pem.certificate.serial_number for _ in range(times))


def install(pem: Pem, cert: Path, key: Path) -> None:
    """As an operator renews: new files moved over the configured paths."""
    for source, target in ((pem.cert, cert), (pem.key, key)):
        staged = target.with_suffix(".new")
        shutil.copyfile(source, staged)
        staged.replace(target)


class CertFiles:
    """Certificates A and B, and the listener's files at ``cert``/``key`` (A's at first)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.ca = Issuer.root(directory)
        self.a = self._server_cert("server-a")
        self.b = self._server_cert("server-b")
        self.cert, self.key = directory / "listener.pem", directory / "listener.key"
        install(self.a, self.cert, self.key)
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"

    def _server_cert(self, name: str) -> Pem:
        return self.ca.issue(name, ips=("127.0.0.1",), usage=ExtendedKeyUsageOID.SERVER_AUTH)

    def config(self, **options: str) -> str:
        return hcl_config(self.port, tls_cert_file=self.cert, tls_key_file=self.key, **options)

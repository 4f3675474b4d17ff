"""Hostile clients, for tests and ``bench/hostile.py``: sockets that hold a server's resources.

A :class:`Crowd` opens many connections to one address and keeps them in one of the states an
attacker (or a broken client) leaves them in: a body announced and never sent, headers never
finished, nothing sent at all, or a keep-alive connection left idle after one request. Closing
the crowd closes every socket. Traffic goes to loopback only.
"""

from __future__ import annotations

import datetime
import ipaddress
import resource
import select
import socket
import ssl
import time
from pathlib import Path
from types import TracebackType

SLOW_BODY = b"POST /v1/sys/unseal HTTP/1.1\r\nHost: tessera\r\nContent-Length: 1000\r\n\r\n{"
PARTIAL_HEADERS = b"GET /v1/sys/health HTTP/1.1\r\nHost: tessera\r\n"
ONE_REQUEST = b"GET /v1/sys/health HTTP/1.1\r\nHost: tessera\r\n\r\n"


def raise_open_file_limit(needed: int) -> None:
    """This process's soft RLIMIT_NOFILE up to ``needed`` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def client_tls() -> ssl.SSLContext:
    """A client context that accepts the test's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Crowd:
    """Connections held open to ``host:port`` until :meth:`close`."""

    def __init__(self, host: str, port: int, *, tls: bool = False) -> None:
        self.host = host
        self.port = port
        self.tls = client_tls() if tls else None
        self.sockets: list[socket.socket] = []

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock)
        self.sockets.append(sock)
        return sock

    def slow_bodies(self, count: int) -> Crowd:
        """Requests that announce 1,000 body bytes and send 1."""
        for _ in range(count):
            self._connect().sendall(SLOW_BODY)
        return self

    def partial_headers(self, count: int) -> Crowd:
        """Requests whose headers never end."""
        for _ in range(count):
            self._connect().sendall(PARTIAL_HEADERS)
        return self

    def silent(self, count: int) -> Crowd:
        """Connections that send nothing."""
        for _ in range(count):
            self._connect()
        return self

    def idle_keepalive(self, count: int) -> Crowd:
        """Connections that made one request, read its answer and stay open."""
        for _ in range(count):
            sock = self._connect()
            sock.sendall(ONE_REQUEST)
            if not sock.recv(65536).startswith(b"HTTP/1.1 "):
                raise AssertionError("no answer to the keep-alive request")
        return self

    def closed_by_server(self) -> int:
        """How many of the sockets the server has closed (they read as end of file)."""
        closed = 0
        poller = select.poll()
        for sock in self.sockets:
            poller.register(sock, select.POLLIN)
        readable = {fd for fd, _ in poller.poll(0)}
        for sock in self.sockets:
            if sock.fileno() not in readable:
                continue
            try:
                sock.setblocking(False)
                data = sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except OSError:
                closed += 1
                continue
            finally:
                sock.setblocking(True)
            if data == b"" or data.startswith(b"HTTP/1.1 4"):  # EOF, or an error answer then EOF
                closed += 1
        return closed

    def wait_closed_by_server(self, timeout: float, at_least: int | None = None) -> int:
        """Waits until the server has closed ``at_least`` sockets (default: all) or ``timeout``
        passes; returns how many it closed."""
        wanted = len(self.sockets) if at_least is None else at_least
        deadline = time.monotonic() + timeout
        while True:
            closed = self.closed_by_server()
            if closed >= wanted or time.monotonic() > deadline:
                return closed
            time.sleep(0.1)

    def close(self) -> None:
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        self.sockets.clear()

    def __enter__(self) -> Crowd:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (``cert.pem``, ``key.pem`` in ``directory``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path

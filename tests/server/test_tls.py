"""The TLS listener: HTTPS for real clients (hvac, the bao CLI), mTLS, a minimum version, and no
plain HTTP unless the configuration says ``tls_disable`` itself. The dev server stays on loopback.

Certificates come from ``tests/helpers/pki.py``: a CA, a server certificate for 127.0.0.1, and a
client certificate for mTLS.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tessera.server.command import parse_flags
from tests.helpers.pki import Issuer
from tests.helpers.servers import TesseraServer, find_bao, free_port


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = Issuer.root(tmp_path_factory.mktemp("pki"), "Tessera test CA")
    server, client = root.server(), root.issue("client")
    return Pki(root.write_ca(), server.cert, server.key, client.cert, client.key)


def _config(tmp: Path, port: int, listener: str) -> Path:
    path = tmp / f"server-{port}.hcl"
    path.write_text(
        f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n{listener}}}\n'
    )
    return path


def _tls(pki: Pki, extra: str = "") -> str:
    return f'  tls_cert_file = "{pki.cert}"\n  tls_key_file = "{pki.key}"\n{extra}'


@pytest.fixture(scope="module")
def https_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    config = _config(tmp_path_factory.mktemp("tls"), free_port(), _tls(pki))
    with TesseraServer(config=config, ca_cert=pki.ca) as server:
        server.init(1, 1)
        server.unseal()
        yield server


def _bao(
    server: TesseraServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    base.update({"BAO_ADDR": server.addr, "HOME": str(server.workdir), **(env or {})})
    return subprocess.run([find_bao(), *args], capture_output=True, text=True, env=base, timeout=60)


def test_hvac_over_https(https_server: TesseraServer, pki: Pki) -> None:
    assert https_server.addr.startswith("https://")
    client = https_server.hvac_client()
    assert client.sys.read_health_status(method="GET")["sealed"] is False
    client.sys.enable_secrets_engine("kv", path="kv-tls", options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret("app", secret={"k": "v"}, mount_point="kv-tls")
    read = client.secrets.kv.v2.read_secret_version(
        "app", mount_point="kv-tls", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"k": "v"}
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{https_server.addr}/v1/sys/health", timeout=10)  # not trusted without the CA
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{https_server.port}/v1/sys/health", timeout=10)  # no plain HTTP


def test_bao_cli_over_https(https_server: TesseraServer, pki: Pki) -> None:
    env = {"BAO_CACERT": str(pki.ca), "BAO_TOKEN": str(https_server.root_token)}
    status = _bao(https_server, "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "Sealed" in status.stdout and "false" in status.stdout
    enable = _bao(https_server, "secrets", "enable", "-path=kv-cli", "-version=2", "kv", env=env)
    assert enable.returncode == 0, enable.stderr
    put = _bao(https_server, "kv", "put", "-mount=kv-cli", "app", "k=v", env=env)
    assert put.returncode == 0, put.stderr
    got = _bao(https_server, "kv", "get", "-mount=kv-cli", "-field=k", "app", env=env)
    assert got.returncode == 0 and got.stdout.strip() == "v", got.stderr
    untrusted = _bao(https_server, "status", env={"BAO_TOKEN": "x"})
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr.lower()


def test_mtls_refuses_a_client_without_a_certificate(pki: Pki, tmp_path: Path) -> None:
    extra = f'  tls_client_ca_file = "{pki.ca}"\n  tls_require_and_verify_client_cert = true\n'
    config = _config(tmp_path, free_port(), _tls(pki, extra))
    server = TesseraServer(config=config, ca_cert=pki.ca)
    server._answers = lambda: _answers_with_cert(server, pki)  # type: ignore[method-assign]
    with server:
        url = f"{server.addr}/v1/sys/health"
        answer = requests.get(
            url, verify=str(pki.ca), cert=(str(pki.client_cert), str(pki.client_key)), timeout=10
        )
        assert answer.status_code == 501  # uninitialised: the request got through
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.get(url, verify=str(pki.ca), timeout=10)
        env = {"BAO_CACERT": str(pki.ca)}
        assert _bao(server, "status", env=env).returncode == 1
        env |= {"BAO_CLIENT_CERT": str(pki.client_cert), "BAO_CLIENT_KEY": str(pki.client_key)}
        with_cert = _bao(server, "status", env=env)
        assert with_cert.returncode == 2 and "Initialized" in with_cert.stdout, with_cert.stderr  # 2: sealed


def _answers_with_cert(server: TesseraServer, pki: Pki) -> bool:
    try:
        requests.get(
            f"{server.addr}/v1/sys/health",
            verify=str(pki.ca),
            cert=(str(pki.client_cert), str(pki.client_key)),
            timeout=2,
        )
    except requests.RequestException:
        return False
    return True


def _handshake(port: int, ca: Path, version: ssl.TLSVersion) -> str:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ctx.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        return str(tls.version())


def test_min_version_tls13_refuses_tls12(pki: Pki, tmp_path: Path) -> None:
    config = _config(tmp_path, free_port(), _tls(pki, '  tls_min_version = "tls13"\n'))
    with TesseraServer(config=config, ca_cert=pki.ca) as server:
        assert _handshake(server.port, pki.ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            _handshake(server.port, pki.ca, ssl.TLSVersion.TLSv1_2)


def test_default_min_version_accepts_tls12(https_server: TesseraServer, pki: Pki) -> None:
    assert _handshake(https_server.port, pki.ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


@pytest.mark.parametrize(
    ("listener", "message"),
    [
        ("", "tls_cert_file and tls_key_file are required unless tls_disable = true"),
        (
            '  tls_disable = false\n  tls_cert_file = "/nonexistent.pem"\n',
            "tls_cert_file and tls_key_file are required",
        ),
        (
            '  tls_cert_file = "c"\n  tls_key_file = "k"\n  tls_min_version = "tls10"\n',
            "unsupported tls_min_version",
        ),
    ],
)
def test_listener_without_tls_needs_an_explicit_tls_disable(
    tmp_path: Path, listener: str, message: str
) -> None:
    config = _config(tmp_path, free_port(), listener)
    proc = subprocess.run(
        [sys.executable, "-m", "tessera", "server", f"-config={config}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert message in proc.stderr


def test_dev_server_listens_on_loopback_only(fresh_tessera: TesseraServer) -> None:
    assert parse_flags(["-dev"]).dev_listen_address == "127.0.0.1:8200"
    outward = _outward_address()
    if outward is None:
        pytest.skip("no non-loopback address on this machine")
    with pytest.raises(OSError), socket.create_connection((outward, fresh_tessera.port), timeout=5):
        pass


def _outward_address() -> str | None:
    """This machine's address on its default route (nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address

"""``login -method=cert`` over mutual TLS: Tessera's CLI and the bao CLI, each against both servers.

The client certificate travels in the TLS handshake (``-client-cert``/``-client-key``); the token the
login returns is stored in the token helper (``~/.vault-token``) and works for the next request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.pki import Issuer, Pem, start_tls_pair
from tests.helpers.servers import ServerProcess, find_bao

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[ServerProcess], Issuer, Path]]:
    reference, tessera, root, ca_file = start_tls_pair(tmp_path_factory.mktemp("cli-cert"))
    try:
        for server in (reference, tessera):
            server.call("POST", "sys/auth/cert", json={"type": "cert"})
            server.call(
                "POST",
                "auth/cert/certs/ci",
                json={"certificate": root.pem, "token_policies": "ci", "allowed_common_names": "job-*"},
            )
        yield [reference, tessera], root, ca_file
    finally:
        reference.cleanup()
        tessera.cleanup()


def _cli(kind: str) -> list[str]:
    return [find_bao()] if kind == "bao" else [sys.executable, "-m", "tessera"]


def _run(
    kind: str, server: ServerProcess, home: Path, ca: Path, cert: Pem, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(HOME=str(home), VAULT_ADDR=server.addr, BAO_ADDR=server.addr)
    flags = [f"-ca-cert={ca}", f"-client-cert={cert.cert}", f"-client-key={cert.key}"]
    words = 2 if args[0] == "token" else 1  # the subcommand, then flags, then arguments
    command = [*_cli(kind), *args[:words], *flags, *args[words:]]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("kind", ["tessera", "bao"])
@pytest.mark.parametrize("target", [0, 1], ids=["reference", "tessera"])
def test_login_method_cert_stores_a_working_token(
    setup: tuple[list[ServerProcess], Issuer, Path], tmp_path: Path, kind: str, target: int
) -> None:
    servers, root, ca_file = setup
    server = servers[target]
    cert = root.issue("job-42")
    done = _run(kind, server, tmp_path, ca_file, cert, "login", "-method=cert", "name=ci")
    assert done.returncode == 0, done.stderr
    assert "Success! You are now authenticated." in done.stdout
    token = (tmp_path / ".vault-token").read_text().strip()
    lookup = _run(kind, server, tmp_path, ca_file, cert, "token", "lookup", "-format=json")
    assert lookup.returncode == 0, lookup.stderr
    assert token in lookup.stdout and '"ci"' in lookup.stdout


@pytest.mark.parametrize("kind", ["tessera", "bao"])
def test_login_method_cert_refused_for_an_untrusted_certificate(
    setup: tuple[list[ServerProcess], Issuer, Path], tmp_path: Path, kind: str
) -> None:
    servers, root, ca_file = setup
    stranger = root.issue("someone-else")  # right CA, but allowed_common_names says job-*
    outputs = []
    for server in servers:
        done = _run(kind, server, tmp_path, ca_file, stranger, "login", "-method=cert")
        outputs.append((done.returncode, done.stderr.replace(server.addr, "ADDR")))
        assert not (tmp_path / ".vault-token").exists()
    assert outputs[0][0] == outputs[1][0] == 2
    assert "no chain matching all constraints could be found for this login certificate" in outputs[1][1]

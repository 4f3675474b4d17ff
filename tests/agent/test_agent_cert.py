"""The agent's ``method "cert"``: auto-auth over mutual TLS, with the client certificate given in the
method's config or in the ``vault`` block, and a batch token replaced before it expires."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.helpers import AgentProcess, ok, read_text, wait_for
from tests.helpers.pki import Issuer, tls_config
from tests.helpers.servers import TesseraServer, free_port


@pytest.fixture(scope="module")
def tls_tessera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TesseraServer, Issuer, Path]]:
    directory = tmp_path_factory.mktemp("agent-cert")
    root = Issuer.root(directory)
    ca_file = root.write_ca()
    with TesseraServer(config=tls_config(directory, free_port(), root.server()), ca_cert=ca_file) as server:
        server.init(1, 1)
        server.unseal()
        ok(server, "POST", "sys/auth/cert", {"type": "cert"})
        for name, token_type in (("agents", "batch"), ("other", "service")):
            ok(
                server,
                "POST",
                f"auth/cert/certs/{name}",
                {
                    "certificate": root.pem,
                    "token_type": token_type,
                    "token_ttl": "4s",
                    "token_policies": name,
                },
            )
        yield server, root, ca_file


@pytest.mark.parametrize("where", ["method", "vault"])
def test_cert_auto_auth_writes_and_replaces_batch_tokens(
    tls_tessera: tuple[TesseraServer, Issuer, Path],
    tmp_path: Path,
    start_agent: Callable[..., AgentProcess],
    where: str,
) -> None:
    server, root, ca_file = tls_tessera
    cert = root.issue(f"agent-{where}")
    files = f'client_cert = "{cert.cert}"\n client_key = "{cert.key}"\n'
    vault = f'vault {{\n address = "{server.addr}"\n ca_cert = "{ca_file}"\n{files if where == "vault" else ""}}}\n'
    method_config = f'name = "agents"\n{files if where == "method" else ""}'
    sink = tmp_path / "token"
    agent = start_agent(
        f"{vault}auto_auth {{\n"
        f'method "cert" {{\n config = {{\n{method_config} }}\n}}\n'
        f'sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
    )
    first = wait_for(lambda: read_text(sink), 15, "the sink to be written")
    assert first.startswith("hvb.")
    data = ok(server, "GET", "auth/token/lookup-self", token=first)["data"]
    assert data["meta"]["cert_name"] == "agents"  # name = "agents" chose the entry
    assert data["meta"]["common_name"] == f"agent-{where}"
    assert data["policies"] == ["agents", "default"]
    second = wait_for(lambda: (t := read_text(sink)) != first and t, 8, "a new batch token in the sink")
    assert second.startswith("hvb.")
    assert agent.count("renewed auth token") == 0


def test_cert_auto_auth_without_a_certificate_backs_off(
    tls_tessera: tuple[TesseraServer, Issuer, Path], tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    server, _, ca_file = tls_tessera
    sink = tmp_path / "token"
    agent = start_agent(
        f'vault {{\n address = "{server.addr}"\n ca_cert = "{ca_file}"\n}}\n'
        'auto_auth {\nmethod "cert" {\n config = {}\n}\n'
        f'sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
    )
    wait_for(lambda: agent.count("error authenticating") >= 1, 15, "a failed login")
    assert "no client certificate found" in agent.log()
    assert not sink.exists()

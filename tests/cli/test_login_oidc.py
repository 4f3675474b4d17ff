"""``login -method=oidc`` end to end: the CLI's callback listener, a local OIDC provider, Tessera.

The provider (tests/helpers/jwks.py) plays the user's browser too: it consents at once and
redirects to the CLI's listener, which hands the code to the server. Run with Tessera's CLI and
with the real ``bao`` CLI, both against Tessera: the server side must satisfy either client.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.cli.golden import TESSERA
from tests.helpers.jwks import Provider
from tests.helpers.servers import TesseraServer, find_bao, free_port


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


@pytest.mark.parametrize("cli", ["tessera", "bao"])
def test_oidc_login_through_the_callback_listener(
    cli: str, tessera: TesseraServer, provider: Provider, tmp_path: Path
) -> None:
    mount = "oidc" + uuid.uuid4().hex[:6]
    port = free_port()
    redirect = f"http://localhost:{port}/oidc/callback"
    for method, path, body in (
        ("POST", f"sys/auth/{mount}", {"type": "oidc"}),
        (
            "POST",
            f"auth/{mount}/config",
            {
                "oidc_discovery_url": provider.url,
                "oidc_discovery_ca_pem": provider.ca_pem,
                "oidc_client_id": "cli",
                "oidc_client_secret": "s3cret",
                "default_role": "dev",
            },
        ),
        ("POST", f"auth/{mount}/role/dev", {"user_claim": "email", "allowed_redirect_uris": [redirect]}),
    ):
        status, answer, _ = tessera.call(method, path, json=body)
        assert status == 204, answer
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(provider.ca_pem)
    binary = TESSERA if cli == "tessera" else find_bao()
    env = {
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
        "VAULT_ADDR": tessera.addr,
        "BAO_ADDR": tessera.addr,
        "NO_COLOR": "1",
    }
    proc = subprocess.Popen(
        [binary, "login", "-method=oidc", f"-path={mount}", f"port={port}", "skip_browser=true"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        for _ in range(50):  # the prompt is a handful of lines
            line = proc.stderr.readline()
            if line.strip().startswith(provider.url):
                url = line.strip()
                break
        assert url, "no authorization URL printed"
        # provider -> 302 -> the CLI's listener. Only the status is read: the CLI may exit (closing its
        # listener) before a client has read the whole page, as Vault's does.
        with requests.get(url, verify=str(ca_file), timeout=30, stream=True) as page:
            assert page.status_code == 200
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Success! You are now authenticated." in out
    token = (tmp_path / ".vault-token").read_text().strip()
    status, looked, _ = tessera.call("GET", "auth/token/lookup-self", token=token)
    assert status == 200 and looked["data"]["meta"] == {"role": "dev"}
    assert looked["data"]["display_name"] == f"{mount}-a@x"

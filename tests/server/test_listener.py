"""A second server on a taken address fails fast, as Vault does, instead of sharing the port."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.servers import TesseraServer


def test_second_server_on_same_address_is_refused(tessera: TesseraServer) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tessera", "server", "-dev", f"-dev-listen-address=127.0.0.1:{tessera.port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"listen tcp 127.0.0.1:{tessera.port}: bind: address already in use" in proc.stderr
    status, body, _ = tessera.call("GET", "sys/health", auth=False)
    assert status == 200 and body["sealed"] is False


def test_negative_wrap_ttl_is_refused(tessera: TesseraServer) -> None:
    status, body, _ = tessera.call("POST", "auth/token/create", json={}, headers={"X-Vault-Wrap-TTL": "-5"})
    assert (status, body["errors"]) == (400, ["requested wrap ttl cannot be negative"])

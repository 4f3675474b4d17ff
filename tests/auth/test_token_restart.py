"""Tokens outlive a restart on SQLite, and expiry keeps working afterwards (the heap is rebuilt).

A real Tessera process with SQLite storage is initialised, given tokens (long-lived service,
batch, a parent/child pair, a short-lived one), stopped and started again.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.servers import TesseraServer, tessera_on_sqlite


def _create(server: TesseraServer, **body: object) -> dict:
    status, answer, _ = server.call("POST", "auth/token/create", json=body)
    assert status == 200, answer
    return answer["auth"]


def _alive(server: TesseraServer, token: str) -> bool:
    status, _, _ = server.call("GET", "auth/token/lookup-self", token=token)
    return status == 200


@pytest.mark.slow
def test_tokens_survive_restart_and_expire_after_it(tmp_path: Path) -> None:
    server = tessera_on_sqlite(tmp_path).start()
    try:
        server.init()
        server.unseal()
        status, body, _ = server.call("GET", "auth/token/lookup-self")
        assert status == 200, body
        assert (body["data"]["path"], body["data"]["display_name"]) == ("auth/token/root", "root")
        assert body["data"]["policies"] == ["root"] and body["data"]["expire_time"] is None
        long_lived = _create(server, policies=["default"], ttl="1h", meta={"k": "v"})
        parent = _create(server, policies=["root"], ttl="1h")
        status, child, _ = server.call(
            "POST", "auth/token/create", token=parent["client_token"], json={"policies": ["default"]}
        )
        assert status == 200, child
        batch = _create(server, policies=["default"], type="batch", ttl="1h")
        short = _create(server, policies=["default"], ttl="4s")
        server.call("POST", "cubbyhole/x", token=long_lived["client_token"], json={"a": "b"})

        server.restart()
        server.unseal()

        for tok in (long_lived, parent, child["auth"], batch):
            assert _alive(server, tok["client_token"]), tok
        status, body, _ = server.call("GET", "cubbyhole/x", token=long_lived["client_token"])
        assert status == 200 and body["data"] == {"a": "b"}
        status, body, _ = server.call("POST", "auth/token/revoke", json={"token": parent["client_token"]})
        assert status == 204, body
        assert not _alive(server, child["auth"]["client_token"])

        # The short-lived token expires after the restart and is cleaned up with its accessor.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            _, body, _ = server.call("LIST", "auth/token/accessors")
            if short["accessor"] not in body["data"]["keys"]:
                break
            time.sleep(0.3)
        assert short["accessor"] not in body["data"]["keys"]
        assert not _alive(server, short["client_token"])
        assert long_lived["accessor"] in body["data"]["keys"]
    finally:
        server.cleanup()

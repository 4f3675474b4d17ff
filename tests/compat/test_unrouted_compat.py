"""Requests for paths nothing is mounted at, and sys/ha-status, side by side with the reference.

Vault checks the caller's token (and its ACL) before routing, so only a caller allowed at a path
learns that nothing is mounted there; ``bao login -method=userpass`` without the mount shows it.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.helpers.compat import compare
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer


def _token(server: ReferenceServer | TesseraServer, **body: Any) -> str:
    status, answer, _ = call(server.addr, "POST", "auth/token/create", "root", json=body)
    assert status == 200, answer
    return str(answer["auth"]["client_token"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "nope/x"),
        ("LIST", "nope/x"),
        ("PUT", "auth/userpass/login/bob"),
        ("DELETE", "auth/nope/x"),
    ],
)
def test_unrouted_paths(reference: ReferenceServer, tessera: TesseraServer, method: str, path: str) -> None:
    """No token or a bad one: 403; a token the ACL keeps out: the ACL's 403; root: the router's 404."""
    compare(reference.addr, tessera.addr, method, path, token=None)
    compare(reference.addr, tessera.addr, method, path, token="bogus")
    compare(
        reference.addr,
        tessera.addr,
        method,
        path,
        reference_token=_token(reference, policies=["default"]),
        tessera_token=_token(tessera, policies=["default"]),
    )
    compare(reference.addr, tessera.addr, method, path)


def test_unrouted_request_spends_a_use(reference: ReferenceServer, tessera: TesseraServer) -> None:
    """The token check comes first, so a limited-use token loses a use even on a 404."""
    uses = []
    for server in (reference, tessera):
        token = _token(server, policies=["root"], num_uses=3)
        assert call(server.addr, "GET", "nope/x", token)[0] == 404
        status, body, _ = call(server.addr, "GET", "auth/token/lookup-self", token)
        assert status == 200, body
        uses.append(body["data"]["num_uses"])
    assert uses == [1, 1]


def test_ha_status(reference: ReferenceServer, tessera: TesseraServer) -> None:
    """One active node, this one; Tessera names no cluster address (it has no cluster listener)."""
    ref, tes = compare(reference.addr, tessera.addr, "GET", "sys/ha-status")
    assert len(ref["nodes"]) == len(tes["nodes"]) == 1
    node = tes["data"]["nodes"][0]
    assert node == {
        **ref["data"]["nodes"][0],
        "api_address": tessera.addr,
        "cluster_address": "",
        "version": node["version"],
    }
    assert node["hostname"] == socket.gethostname() and node["active_node"] is True
    compare(reference.addr, tessera.addr, "POST", "sys/ha-status")
    compare(reference.addr, tessera.addr, "LIST", "sys/ha-status")
    compare(reference.addr, tessera.addr, "GET", "sys/ha-status", token=None)
    compare(
        reference.addr,
        tessera.addr,
        "GET",
        "sys/ha-status",
        reference_token=_token(reference, policies=["default"]),
        tessera_token=_token(tessera, policies=["default"]),
    )

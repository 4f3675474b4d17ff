"""Small hostile inputs side by side with the reference: a clear 4xx where there was a 500 or a redirect.

- a policy nested hundreds of levels deep: 400 (it was a RecursionError, a 500 and a traceback);
- a JSON body with 100k copies of one key: refused as too complex, as the reference (it was merged
  into one key and accepted);
- ``%2e%2e``, ``..%2f`` and a leading ``//`` in the request path: the reference's 400 ``relative paths
  not supported`` or 404 (it was a 307 to the cleaned path);
- ``sys/leader`` and ``sys/step-down`` on a sealed server without HA storage: 200 and 204, as the
  reference with storage that has no HA (its 503 comes from raft's HA lock, which Tessera has not).

Known difference: Tessera refuses nesting past 100 levels with its own message (the reference parses
any depth and then reports the first invalid key); literal dot segments (which HTTP clients remove
before sending) get the 400 too, where the reference redirects, as Tessera's HTTP server hands it the
path already decoded.
"""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config

pytestmark = pytest.mark.reference


def _raw(addr: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any, str]:
    """One request with the path sent exactly as given (no client-side cleaning); status, body, Location."""
    url = urlsplit(addr)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        headers = {"X-Vault-Token": "root", "Content-Type": "application/json"}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        parsed = orjson.loads(text) if text.startswith((b"{", b"[")) else text.decode(errors="replace")
        return resp.status, parsed, resp.getheader("Location") or ""
    finally:
        conn.close()


def _nested(depth: int) -> str:
    return 'path "a" {' * depth + "}" * depth


@pytest.mark.parametrize("depth", [50, 100])
def test_nested_policies_within_the_limit_answer_as_the_reference(
    reference: ReferenceServer, tessera: TesseraServer, depth: int
) -> None:
    answers = [
        call(s.addr, "PUT", f"sys/policies/acl/nest{depth}", "root", json={"policy": _nested(depth)})[:2]
        for s in (reference, tessera)
    ]
    assert answers[0] == answers[1]
    assert answers[0][0] == 400


@pytest.mark.parametrize("depth", [101, 500, 5000])
def test_deeper_policies_are_a_clear_400_never_a_500(
    reference: ReferenceServer, tessera: TesseraServer, depth: int
) -> None:
    body = {"policy": _nested(depth)}
    assert call(reference.addr, "PUT", "sys/policies/acl/deep", "root", json=body)[0] == 400
    status, out, _ = call(tessera.addr, "PUT", "sys/policies/acl/deep", "root", json=body)
    assert (status, out) == (400, {"errors": ["failed to parse policy: nested more than 100 levels deep"]})
    assert "RecursionError" not in tessera.output()


DUPLICATES = [
    b"{" + b",".join([b'"a":"1"'] * 100_000) + b"}",
    b"{" + b",".join([b'"a":"1"'] * 501) + b"}",
    b"{" + b",".join([b'"a":"1"'] * 500) + b"}",
    b'{"a":"1","a":"2"}',
]


@pytest.mark.parametrize("body", DUPLICATES, ids=["100k", "501", "500", "2"])
def test_repeated_keys_count_as_the_reference_counts_them(
    reference: ReferenceServer, tessera: TesseraServer, body: bytes
) -> None:
    answers = [_raw(s.addr, "PUT", "/v1/cubbyhole/dup", body)[:2] for s in (reference, tessera)]
    assert answers[0] == answers[1]


PATHS = [
    "/v1/%2e%2e/sys/health",
    "/v1/sys/%2e%2e/sys/health",
    "/v1/secret/..%2fsys/health",
    "/v1/sys/health%2f..",
    "/v1/cubbyhole/%2e",
    "/v1/cubbyhole/.%2e/x",
    "/v1/sys/mounts/%2E%2E",
    "/v1/secret/data/%2e%2e/x",
    "//v1/sys/health",
    "///v1/sys/health",
    "//x/v1/sys/health",
    "/%2e%2e/v1/sys/health",
    "/v1//sys/health",
    "/v1/cubbyhole/a..b",
    "/v1/cubbyhole/x..",
]


@pytest.mark.parametrize("path", PATHS)
def test_path_tricks_answer_as_the_reference(
    reference: ReferenceServer, tessera: TesseraServer, path: str
) -> None:
    ref = _raw(reference.addr, "GET", path)
    tes = _raw(tessera.addr, "GET", path)
    if ref[0] == 307:  # the body is Go's HTML; the target must agree
        assert (tes[0], urlsplit(tes[2]).path) == (307, urlsplit(ref[2]).path)
    else:
        assert tes[:2] == ref[:2]


@pytest.mark.parametrize("path", ["/v1/sys/../sys/health", "/v1/./sys/health", "/v1/cubbyhole/.."])
def test_literal_dot_segments_are_refused_too(tessera: TesseraServer, path: str) -> None:
    """The documented difference: the reference redirects these (no client sends them)."""
    assert _raw(tessera.addr, "GET", path)[:2] == (400, {"errors": ["relative paths not supported"]})


def _answers(server: ServerProcess, token: str | None) -> list[tuple[int, Any]]:
    return [
        call(server.addr, "GET", "sys/leader")[:2],
        call(server.addr, "PUT", "sys/step-down", token)[:2],
        call(server.addr, "GET", "sys/step-down", token)[:2],
        call(server.addr, "POST", "sys/leader")[:2],
    ]


def test_leader_and_step_down_sealed_without_ha_storage(tmp_path: Path) -> None:
    seen: list[list[list[tuple[int, Any]]]] = []
    for cls in (ReferenceServer, TesseraServer):
        config = tmp_path / f"{cls.__name__}.hcl"
        config.write_text(hcl_config(free_port(span=2)))
        with cls(config=config) as server:
            phases = [_answers(server, None)]  # not initialised
            server.init(1, 1)
            phases.append(_answers(server, server.root_token))  # initialised, sealed
            server.unseal()
            phases.append(_answers(server, server.root_token))
            assert server.call("PUT", "sys/seal")[0] == 204
            phases.append(_answers(server, server.root_token))  # sealed again
            seen.append(phases)
    assert seen[0] == seen[1]

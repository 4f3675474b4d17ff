"""OpenBao's safe defaults side by side with the reference: hidden key ceremonies, no API audit devices.

- ``sys/rekey/*``, ``sys/rekey-recovery-key/*`` and ``sys/generate-root/*`` (unauthenticated: the unseal
  key shares are the credential) answer as if absent unless the listener sets
  ``disable_unauthed_rekey_endpoints = false`` / ``disable_unauthed_generate_root_endpoints = false``;
  per listener, in dev mode too, a token or none.
- ``sys/audit/:path`` refuses to enable a device unless ``unsafe_allow_api_audit_creation = true``,
  in dev mode too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config
from tests.helpers.workers import running_pair

pytestmark = pytest.mark.reference

CEREMONIES: list[tuple[str, str, Any]] = [
    ("GET", "sys/rekey/init", None),
    ("PUT", "sys/rekey/init", {"secret_shares": 1, "secret_threshold": 1}),
    ("DELETE", "sys/rekey/init", None),
    ("PUT", "sys/rekey/update", {"key": "AA==", "nonce": "x"}),
    ("GET", "sys/rekey/verify", None),
    ("DELETE", "sys/rekey/verify", None),
    ("GET", "sys/rekey-recovery-key/init", None),
    ("PUT", "sys/rekey-recovery-key/update", {}),
    ("GET", "sys/generate-root/attempt", None),
    ("PUT", "sys/generate-root/attempt", {}),
    ("DELETE", "sys/generate-root/attempt", None),
    ("PUT", "sys/generate-root/update", {"key": "AA==", "nonce": "x"}),
]
AUDIT = {"type": "file", "options": {"file_path": "/dev/null"}}


def _answers(server: ServerProcess, addr: str, token: str | None) -> list[tuple[int, Any]]:
    out = []
    for method, path, body in CEREMONIES:
        status, got, _ = call(addr, method, path, token, json=body)
        if status == 200 and isinstance(got, dict):
            got = sorted(got)  # values differ by nature (nonces): the fields must agree
        out.append((status, got))
    return out


def test_dev_mode_hides_the_ceremonies_with_or_without_a_token(
    reference: ReferenceServer, tessera: TesseraServer
) -> None:
    for token in (None, "root"):
        expected = _answers(reference, reference.addr, token)
        assert {status for status, _ in expected} == {404, 405}
        assert _answers(tessera, tessera.addr, token) == expected


def test_dev_mode_refuses_audit_devices_through_the_api(
    reference: ReferenceServer, tessera: TesseraServer
) -> None:
    answers = [
        call(s.addr, "PUT", "sys/audit/safe-default", "root", json=AUDIT)[:2] for s in (reference, tessera)
    ]
    assert answers[0] == answers[1]
    assert answers[0][0] == 400


ALLOW = "  disable_unauthed_rekey_endpoints = false\n  disable_unauthed_generate_root_endpoints = false\n"


def _two_listeners(path: Path, extra: str = "") -> tuple[str, str]:
    """A config with an allowing listener and a default one; their addresses."""
    open_port, closed_port = free_port(span=2), free_port(span=2)
    text = hcl_config(open_port).replace("  tls_disable = true\n", "  tls_disable = true\n" + ALLOW)
    text += f'listener "tcp" {{\n  address = "127.0.0.1:{closed_port}"\n  tls_disable = true\n}}\n'
    path.write_text(text + extra)
    return f"http://127.0.0.1:{open_port}", f"http://127.0.0.1:{closed_port}"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[tuple[ServerProcess, str, str]]]:
    """Each server with two listeners (allowing, default), initialised and unsealed."""
    out = []
    try:
        for cls in (ReferenceServer, TesseraServer):
            addrs = _two_listeners(tmp_path / f"{cls.__name__}.hcl")
            server = cls(config=tmp_path / f"{cls.__name__}.hcl")
            out.append((server, *addrs))
            server.start()
            server.init(1, 1)
            server.unseal()
        yield out
    finally:
        for server, _, _ in out:
            server.cleanup()


def test_each_listener_decides(servers: list[tuple[ServerProcess, str, str]]) -> None:
    (ref, ref_open, ref_closed), (tes, tes_open, tes_closed) = servers
    closed = _answers(ref, ref_closed, None)
    assert {status for status, _ in closed} == {404, 405}
    assert _answers(tes, tes_closed, None) == closed
    opened = _answers(ref, ref_open, None)
    assert 200 in {status for status, _ in opened}
    assert _answers(tes, tes_open, None) == opened
    # An API audit device: refused in config mode without unsafe_allow_api_audit_creation.
    refused = [call(s.addr, "PUT", "sys/audit/x", s.root_token, json=AUDIT)[:2] for s in (ref, tes)]
    assert refused[0] == refused[1] and refused[0][0] == 400
    # Sealed, a hidden ceremony answers what any request to a sealed server does.
    for server in (ref, tes):
        assert server.call("PUT", "sys/seal")[0] == 204
    assert _answers(tes, tes_closed, None) == _answers(ref, ref_closed, None)


def test_unsafe_allow_api_audit_creation_restores_vaults_behaviour(tmp_path: Path) -> None:
    answers = []
    for cls in (ReferenceServer, TesseraServer):
        config = tmp_path / f"{cls.__name__}.hcl"
        config.write_text(hcl_config(free_port(span=2)) + "unsafe_allow_api_audit_creation = true\n")
        with cls(config=config) as server:
            server.init(1, 1)
            server.unseal()
            log = tmp_path / f"{cls.__name__}.log"
            body = {"type": "file", "options": {"file_path": str(log)}}
            answers.append(server.call("PUT", "sys/audit/file", json=body)[:2])
    assert answers[0] == answers[1] == (204, None)


def test_a_worker_hides_the_ceremonies_as_its_listener_says(tmp_path: Path) -> None:
    """Tessera alone: a worker process answers the refusal itself (nothing reaches the active one)."""
    with running_pair(tmp_path) as pair:
        assert pair.on("worker", "DELETE", "sys/rekey/init", token="") == (
            405,
            {"errors": ["unsupported operation"]},
        )
        assert pair.on("worker", "PUT", "sys/generate-root/attempt", token="", json={})[0] == 405
        assert pair.on("active", "GET", "sys/generate-root/attempt", token="")[0] == 405

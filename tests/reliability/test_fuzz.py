"""Fuzzing every documented endpoint, scaled down for CI (``bench/fuzz_full.py`` runs it at size).

See ``fuzzing.py`` for what is generated and what must hold. ``TESSERA_FUZZ_EXAMPLES`` overrides
the number of requests.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.server.app import App
from tests.reliability.asgi import ROOT, AsgiClient, LogCapture, dev_core
from tests.reliability.fuzzing import Target, run, send

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "3000"))


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    t = Target()
    try:
        yield t
    finally:
        t.close()


def test_openapi_documents_the_mounted_engines(target: Target) -> None:
    names = {op.name for op in target.operations}
    for expected in (
        "POST /secret/data/{path}",
        "POST /transit/encrypt/{name}",
        "POST /auth/approle/login",
        "POST /auth/token/create",
        "POST /sys/quotas/rate-limit/{name}",
        "GET /sys/health",
    ):
        assert expected in names
    assert len(target.operations) > 150


def test_every_endpoint_with_and_without_tokens(target: Target) -> None:
    figures = run(target, EXAMPLES)
    print(figures.summary())
    assert figures.requests >= EXAMPLES
    assert len(figures.operations_hit) > 0.8 * len(target.operations)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[" * 600 + b"]" * 600,
        b'{"a":' * 600 + b"1" + b"}" * 600,
        b'{"data": {"x": "' + b"\xff" * 10 + b'"}}',
        b'{"data": {"n": 1e400}}',
        b'{"data": {"n": 123456789012345678901234567890}}',
        b'{"data": {"s": "\\ud800"}}',
        b'{"data": ' + b'{"k": "v", ' * 0 + b"{}}",
        b"\x00\x01\x02",
    ],
)
def test_malformed_bodies(target: Target, raw: bytes) -> None:
    with LogCapture() as logs:
        for path in ("secret/data/mal", "sys/policies/acl/mal", "transit/encrypt/k1", "auth/token/create"):
            send(
                target,
                logs,
                {
                    "op": f"POST /{path}",
                    "method": "POST",
                    "path": "/v1/" + path,
                    "query": "",
                    "json": None,
                    "body": raw,
                    "headers": {},
                    "token": ROOT,
                },
            )


def test_sealed_server_endpoints() -> None:
    """While sealed only the raw sys handlers answer: junk unseal keys, resets, init are 4xx, never 5xx."""
    core, _ = dev_core()
    client = AsgiClient(App(core))
    core.seal()
    bodies = st.one_of(
        st.fixed_dictionaries({"key": st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode())}),
        st.fixed_dictionaries({"key": st.binary(max_size=40).map(bytes.hex)}),
        st.dictionaries(
            st.sampled_from(["key", "reset", "migrate", "secret_shares"]),
            st.one_of(st.text(), st.integers(), st.booleans(), st.none()),
        ),
    )

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        path=st.sampled_from(["sys/unseal", "sys/init", "sys/seal-status", "sys/health", "secret/data/x"]),
        body=bodies,
    )
    def check(path: str, body: dict[str, object]) -> None:
        with LogCapture() as logs:
            status, answer, _ = client.request("PUT", path, json=body, token=ROOT)
        assert status < 500 or answer == {"errors": ["Vault is sealed"]}, (path, body, status, answer)
        assert not [r for r in logs.records if r.exc_info], (path, body)
        if not core.sealed:
            core.seal()

    try:
        check()
    finally:
        client.close()
        core.shutdown()

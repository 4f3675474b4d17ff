"""A batch token is its own proof: no altered spelling or altered byte of it is ever accepted.

Batch tokens are ``hvb.`` + base64url(barrier ciphertext), checked by AES-GCM alone (nothing is
stored). Hypothesis alters them character by character (substitute, insert, delete, swap) and
byte by byte inside the ciphertext; every result must be refused in-process and over the app.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.server.app import App
from tests.reliability.asgi import ROOT, AsgiClient, dev_core

pytestmark = pytest.mark.slow
ALPHABET = string.ascii_letters + string.digits + "-_+/=.!~ \x00é"


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[AsgiClient, str]]:
    core, _ = dev_core()
    client = AsgiClient(App(core))
    status, body, _ = client.request(
        "POST", "auth/token/create", token=ROOT, json={"type": "batch", "policies": ["default"], "ttl": "1h"}
    )
    assert status == 200, body
    token = body["auth"]["client_token"]
    assert token.startswith("hvb.")
    assert client.request("GET", "auth/token/lookup-self", token=token)[0] == 200
    try:
        yield client, token
    finally:
        client.close()
        core.shutdown()


@st.composite
def spelled(draw: st.DrawFn, token: str) -> str:
    """The token with one character substituted, inserted, deleted, or two neighbours swapped."""
    i = draw(st.integers(0, len(token) - 1))
    kind = draw(st.sampled_from(["sub", "ins", "del", "swap"]))
    ch = draw(st.sampled_from(ALPHABET))
    if kind == "sub":
        return token[:i] + ch + token[i + 1 :]
    if kind == "ins":
        return token[:i] + ch + token[i:]
    if kind == "del":
        return token[:i] + token[i + 1 :]
    j = min(i + 1, len(token) - 1)
    return token[:i] + token[j] + token[i] + token[j + 1 :]


@st.composite
def flipped(draw: st.DrawFn, token: str) -> str:
    """The token with one byte of its ciphertext changed, re-encoded canonically."""
    blob = bytearray(base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4)))
    i = draw(st.integers(0, len(blob) - 1))
    blob[i] ^= draw(st.integers(1, 255))
    return "hvb." + base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()


def _refused(client: AsgiClient, token: str, candidate: str) -> None:
    if candidate == token:
        return
    assert client.app.core.resolve_token(candidate) is None, candidate
    if candidate.strip(" \t") == token:
        return  # whitespace around a header value is not part of it in HTTP (Go trims it too)
    status, body, _ = client.request("GET", "auth/token/lookup-self", token=candidate)
    assert status == 403, (candidate, body)


def test_altered_spellings_are_refused(target: tuple[AsgiClient, str]) -> None:
    client, token = target

    @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(candidate=spelled(token))
    def check(candidate: str) -> None:
        _refused(client, token, candidate)

    check()


def test_altered_ciphertext_bytes_are_refused(target: tuple[AsgiClient, str]) -> None:
    client, token = target

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(candidate=flipped(token))
    def check(candidate: str) -> None:
        _refused(client, token, candidate)

    check()


def test_every_single_character_substitution_is_refused(target: tuple[AsgiClient, str]) -> None:
    """Exhaustive over the base64 look-alikes that Python's lenient decoder used to accept."""
    client, token = target
    core = client.app.core
    for i in range(4, len(token)):
        for ch in "+/-_" + string.ascii_letters[::7] + "!":
            candidate = token[:i] + ch + token[i + 1 :]
            if candidate != token:
                assert core.resolve_token(candidate) is None, (i, ch)
        assert core.resolve_token(token[:i] + "!" + token[i:]) is None, i

"""``auto_auth { method "jwt" }``: the agent logs in with a CI identity token read from a file.

A Tessera server with a jwt mount (a PEM key made here, a batch-token role) and ``tessera agent``
as separate processes. The agent reads the JWT file, removes it (the default), and writes batch
tokens to its sink; when the platform writes a new JWT, the next login uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jwt

from tests.agent.helpers import AgentProcess, ok, read_text, wait_for
from tests.helpers.jwks import public_pem, rsa_key
from tests.helpers.servers import TesseraServer


def _token(key: object, sub: str) -> str:
    now = int(time.time())
    claims = {"iss": "ci", "aud": "tessera", "sub": sub, "iat": now, "exp": now + 300}
    return jwt.encode(claims, key, algorithm="RS256")  # type: ignore[arg-type]


def test_jwt_method_reads_the_file_and_keeps_batch_tokens_coming(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    key = rsa_key()
    ok(fresh_tessera, "POST", "sys/auth/jwt", {"type": "jwt"})
    ok(
        fresh_tessera,
        "POST",
        "auth/jwt/config",
        {"jwt_validation_pubkeys": [public_pem(key)], "bound_issuer": "ci"},
    )
    role = {"role_type": "jwt", "user_claim": "sub", "bound_audiences": "tessera", "token_type": "batch"}
    ok(fresh_tessera, "POST", "auth/jwt/role/ci", {**role, "token_ttl": "4s"})
    jwt_file, sink = tmp_path / "jwt", tmp_path / "token"
    jwt_file.write_text(_token(key, "job-1") + "\n")
    agent = start_agent(
        f'vault {{ address = "{fresh_tessera.addr}" }}\n'
        'auto_auth {\n  method "jwt" {\n'
        f'    config = {{ path = "{jwt_file}", role = "ci" }}\n  }}\n'
        f'  sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
    )
    first = wait_for(lambda: read_text(sink), 15, "the sink to be written")
    assert first.startswith("hvb.")
    assert not jwt_file.exists()  # remove_jwt_after_reading defaults to true
    looked = ok(fresh_tessera, "GET", "auth/token/lookup-self", token=first)["data"]
    assert looked["meta"] == {"role": "ci"} and looked["display_name"] == "jwt-job-1"
    # the platform writes a new identity token: the next login (batch token near expiry) uses it
    jwt_file.write_text(_token(key, "job-2"))
    second = wait_for(lambda: (t := read_text(sink)) != first and t, 10, "a new batch token in the sink")
    assert (
        ok(fresh_tessera, "GET", "auth/token/lookup-self", token=second)["data"]["display_name"]
        == "jwt-job-2"
    )
    assert agent.terminate() == 0


def test_jwt_method_without_a_token_backs_off_and_recovers(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    key = rsa_key()
    ok(fresh_tessera, "POST", "sys/auth/ci-jwt", {"type": "jwt"})
    ok(fresh_tessera, "POST", "auth/ci-jwt/config", {"jwt_validation_pubkeys": [public_pem(key)]})
    role = {"role_type": "jwt", "user_claim": "sub", "bound_audiences": "tessera", "token_type": "batch"}
    ok(fresh_tessera, "POST", "auth/ci-jwt/role/ci", role)
    jwt_file, sink = tmp_path / "jwt", tmp_path / "token"
    agent = start_agent(
        f'vault {{ address = "{fresh_tessera.addr}" }}\n'
        'auto_auth {\n  method "jwt" {\n    mount_path = "auth/ci-jwt"\n'
        f'    config = {{ path = "{jwt_file}", role = "ci", remove_jwt_after_reading = false }}\n  }}\n'
        f'  sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
    )
    wait_for(lambda: agent.count("no known jwt") >= 1, 10, "the missing-token error")
    jwt_file.write_text(_token(key, "late-job"))
    token = wait_for(lambda: read_text(sink), 15, "the sink to be written")
    assert token.startswith("hvb.") and jwt_file.exists()
    assert agent.terminate() == 0

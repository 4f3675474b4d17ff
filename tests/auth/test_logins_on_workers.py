"""A repeat JWT or cert login of a known entity writes nothing, so a worker process serves it alone.

CI fleets log the same identities in again and again; a login that writes nothing runs on every
worker (``workers = N``) instead of queueing at the active process. Proved by stopping the active
process (SIGSTOP) once the entity exists: the worker still answers every repeat login, with a
fresh JWT (its own ``jti``) or a new TLS connection each time, and the tokens it minted are valid
on the active process afterwards. A login that must write (a new subject: a new entity) waits for
the stopped active process instead, which shows the check can fail.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.helpers.jwks import public_pem, rsa_key
from tests.helpers.pki import Issuer, Pem, tls_config
from tests.helpers.servers import TesseraServer, free_port

ISSUER = "https://token.actions.githubusercontent.com"
ROLE = {
    "role_type": "jwt",
    "user_claim": "sub",
    "bound_audiences": "https://github.com/acme",
    "bound_claims_type": "glob",
    "bound_claims": {"repository": "acme/*"},
    "claim_mappings": {"repository": "repository"},
    "token_type": "batch",
    "token_policies": "ci",
}


@dataclass
class Workers:
    server: TesseraServer
    worker: str  # the worker process's own address
    ca_file: Path
    client: Pem
    key: Any

    def post(self, addr: str, path: str, body: dict[str, Any], timeout: float = 10.0) -> Any:
        """A POST on a new TLS connection, presenting the client certificate."""
        return requests.post(
            f"{addr}/v1/{path}",
            json=body,
            verify=str(self.ca_file),
            cert=(str(self.client.cert), str(self.client.key)),
            timeout=timeout,
        )

    def jwt_login(
        self, addr: str, sub: str = "repo:acme/app:ref:refs/heads/main", mount: str = "jwt", **kw: Any
    ) -> Any:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": "https://github.com/acme",
            "sub": sub,
            "repository": "acme/app",
        }
        claims |= {"iat": now, "exp": now + 600, "jti": os.urandom(8).hex()}
        token = jwt.encode(claims, self.key, algorithm="RS256")
        return self.post(addr, f"auth/{mount}/login", {"role": "deploy", "jwt": token}, **kw)

    def cert_login(self, addr: str, **kw: Any) -> Any:
        return self.post(addr, "auth/cert/login", {"name": "ci"}, **kw)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    directory = tmp_path_factory.mktemp("logins-on-workers")
    root = Issuer.root(directory)
    ca_file = root.write_ca()
    storage = f'storage "sqlite" {{\n  path = "{directory / "t.db"}"\n}}'
    config = tls_config(directory, free_port(), root.server(), storage=storage, extra="workers = 2\n")
    worker_port = free_port()
    env = {"TESSERA_WORKER_LISTEN": f"127.0.0.1:{worker_port}"}
    with TesseraServer(config=config, ca_cert=ca_file, env=env) as server:
        server.init(1, 1)
        server.unseal()
        key = rsa_key()
        steps = [
            step
            for mount in ("jwt", "jwt-new")  # a mount of its own for the login that writes
            for step in (
                (f"sys/auth/{mount}", {"type": "jwt"}),
                (
                    f"auth/{mount}/config",
                    {"jwt_validation_pubkeys": [public_pem(key)], "bound_issuer": ISSUER},
                ),
                (f"auth/{mount}/role/deploy", ROLE),
            )
        ]
        for path, body in (
            *steps,
            ("sys/auth/cert", {"type": "cert"}),
            ("auth/cert/certs/ci", {"certificate": root.pem, "token_type": "batch"}),
        ):
            status, answer, _ = server.call("POST", path, json=body)
            assert status == 204, answer
        found = Workers(server, f"https://127.0.0.1:{worker_port}", ca_file, root.issue("ci-job"), key)
        _wait_worker(found)
        yield found


def _wait_worker(w: Workers) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{w.worker}/v1/sys/health", verify=str(w.ca_file), timeout=5).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the worker never answered"
        time.sleep(0.1)


class _Stopped:
    """The active process stopped (SIGSTOP) for the ``with`` block, continued after it."""

    def __init__(self, server: TesseraServer) -> None:
        assert server.process is not None
        self.pid = server.process.pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _entity(answer: Any) -> str:
    assert answer.status_code == 200, answer.text
    auth = answer.json()["auth"]
    assert auth["client_token"].startswith("hvb."), auth
    return str(auth["entity_id"])


def _valid_on_active(w: Workers, answer: Any) -> None:
    token = answer.json()["auth"]["client_token"]
    status, body, _ = w.server.call("GET", "auth/token/lookup-self", token=token)
    assert status == 200 and body["data"]["type"] == "batch", body


@pytest.mark.parametrize("method", ["jwt", "cert"])
def test_a_repeat_login_is_served_by_the_worker_alone(workers: Workers, method: str) -> None:
    login = workers.jwt_login if method == "jwt" else workers.cert_login
    entity = _entity(login(workers.server.addr))  # the first login creates the entity
    answers = []
    with _Stopped(workers.server):
        for _ in range(3):
            answers.append(login(workers.worker, timeout=10.0))
    assert [_entity(a) for a in answers] == [entity] * 3
    for answer in answers:
        _valid_on_active(workers, answer)


def test_a_login_that_writes_waits_for_the_active_process(workers: Workers) -> None:
    """A new subject makes a new entity: the worker hands the login over and it waits. (On a mount
    of its own: the worker then sends that mount's logins to the active process for a while.)"""
    new = "repo:acme/new:ref:refs/heads/main"
    with _Stopped(workers.server), pytest.raises(requests.Timeout):
        workers.jwt_login(workers.worker, sub=new, mount="jwt-new", timeout=2.0)
    assert _entity(workers.jwt_login(workers.worker, sub=new, mount="jwt-new"))

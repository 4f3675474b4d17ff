"""The github auth method against a local HTTPS server speaking GitHub's API (``tests/helpers/github.py``).

OpenBao does not build this method in, so the expectations are Vault's documented behaviour and
its plugin's code: the organization's ID learnt at ``config`` time, team names and slugs mapped
to policies, logins and renewals that ask GitHub each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.github import FakeGitHub, GitHubUser
from tests.helpers.pki import Issuer
from tests.helpers.servers import TesseraServer, free_port


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub, Path]]:
    directory = tmp_path_factory.mktemp("github")
    root = Issuer.root(directory, "fake GitHub CA")
    fake = FakeGitHub(
        orgs={"acme": 4242, "other": 7, "o1": 11, "o2": 12, "o3": 13, "o4": 14},
        users={
            "tok-alice": GitHubUser(
                "alice",
                orgs=["o1", "o2", "o3", "o4", "acme"],  # acme on the third page: pagination is followed
                teams=[("Site Reliability", "site-reliability", "acme"), ("admins", "admins", "other")],
            ),
            "tok-bob": GitHubUser("bob", orgs=["other"]),
            "tok-carol": GitHubUser("carol", orgs=["acme"]),
        },
    ).start(root.server())
    try:
        yield fake, root.write_ca()
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def server(github: tuple[FakeGitHub, Path]) -> Iterator[TesseraServer]:
    with TesseraServer(env={"SSL_CERT_FILE": str(github[1])}) as tessera:
        status, body, _ = tessera.call("POST", "sys/auth/github", json={"type": "github"})
        assert status == 204, body
        yield tessera


def configure(server: TesseraServer, fake: FakeGitHub, **extra: Any) -> None:
    body = {"organization": "acme", "base_url": fake.base_url.rstrip("/"), "token_policies": "base", **extra}
    status, answer, _ = server.call("POST", "auth/github/config", json=body)
    assert status == 204, answer


def login(server: TesseraServer, token: str) -> tuple[int, Any]:
    status, body, _ = server.call("POST", "auth/github/login", json={"token": token}, auth=False)
    return status, body


def test_config_needs_an_organization(server: TesseraServer) -> None:
    status, body, _ = server.call("POST", "auth/github/config", json={"base_url": "https://example.invalid/"})
    assert (status, body["errors"]) == (400, ["organization is a required parameter"])
    status, _, _ = server.call("GET", "auth/github/config")
    assert status == 404


def test_config_learns_the_organization_id(server: TesseraServer, github: tuple[FakeGitHub, Path]) -> None:
    fake, _ = github
    configure(server, fake)
    status, body, _ = server.call("GET", "auth/github/config")
    assert status == 200
    assert body["data"]["organization"] == "acme"
    assert body["data"]["organization_id"] == 4242
    assert body["data"]["base_url"] == fake.base_url  # a trailing slash is added
    assert body["data"]["token_policies"] == ["base"]
    assert fake.seen[-1] == ("/api/v3/orgs/acme", "")  # asked without any token


def test_config_with_an_unknown_organization(server: TesseraServer, github: tuple[FakeGitHub, Path]) -> None:
    fake, _ = github
    status, body, _ = server.call(
        "POST",
        "auth/github/config",
        json={"organization": "nope", "organization_id": 0, "base_url": fake.base_url},
    )
    assert status == 500  # Vault's status for whatever GitHub refuses
    assert f"GET {fake.base_url}orgs/nope: 404 Not Found []" in body["errors"][0]
    status, body, _ = server.call("GET", "auth/github/config")
    assert (body["data"]["organization"], body["data"]["organization_id"]) == ("acme", 4242)  # untouched


def test_team_and_user_maps(server: TesseraServer) -> None:
    for path, value in (("map/teams/site-reliability", "sre,oncall"), ("map/users/alice", "alice-pol")):
        status, _, _ = server.call("POST", f"auth/github/{path}", json={"value": value})
        assert status == 204
    status, body, _ = server.call("GET", "auth/github/map/teams/Site-Reliability")
    assert (status, body["data"]) == (200, {"key": "site-reliability", "value": "sre,oncall"})
    status, body, _ = server.call("LIST", "auth/github/map/users")
    assert body["data"]["keys"] == ["alice"]
    server.call("POST", "auth/github/map/teams/gone", json={"value": "x"})
    server.call("DELETE", "auth/github/map/teams/gone")
    status, body, _ = server.call("GET", "auth/github/map/teams/gone")
    assert (status, body["data"]) == (200, None)  # Vault's PathMap answers a missing key so


def test_login_maps_teams_and_user(server: TesseraServer, github: tuple[FakeGitHub, Path]) -> None:
    fake, _ = github
    configure(server, fake)
    server.call("POST", "auth/github/map/teams/site-reliability", json={"value": "sre,oncall"})
    server.call("POST", "auth/github/map/teams/admins", json={"value": "root-ish"})  # a team of another org
    server.call("POST", "auth/github/map/users/alice", json={"value": "alice-pol"})
    status, body = login(server, "tok-alice")
    assert status == 200, body
    auth = body["auth"]
    assert auth["metadata"] == {"username": "alice", "org": "acme"}
    assert auth["policies"] == ["alice-pol", "base", "default", "oncall", "sre"]
    assert ("/api/v3/user/orgs?per_page=100&page=3", "Bearer tok-alice") in fake.seen
    status, lookup, _ = server.call("GET", "auth/token/lookup-self", token=auth["client_token"])
    assert lookup["data"]["display_name"] == "github-alice"
    assert lookup["data"]["path"] == "auth/github/login"


def test_login_batch_tokens_from_config(server: TesseraServer, github: tuple[FakeGitHub, Path]) -> None:
    fake, _ = github
    configure(server, fake, token_type="batch", token_ttl="10m")
    try:
        status, body = login(server, "tok-carol")
        assert status == 200, body
        assert body["auth"]["token_type"] == "batch"
        assert body["auth"]["lease_duration"] == 600
        assert body["auth"]["policies"] == ["base", "default"]
    finally:
        configure(server, fake, token_type="default", token_ttl=0)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("tok-bob", "user is not part of required org"),
        ("wrong", "GET {base}user: 401 Bad credentials []"),
        ("", "GET {base}user: 401 Bad credentials []"),
    ],
)
def test_login_refusals(
    server: TesseraServer, github: tuple[FakeGitHub, Path], token: str, error: str
) -> None:
    fake, _ = github
    configure(server, fake)
    status, body = login(server, token)
    assert status == 500  # as Vault (hvac's own github tests expect InternalServerError)
    assert error.format(base=fake.base_url) in body["errors"][0]
    assert "auth" not in body


def test_github_unreachable(server: TesseraServer, github: tuple[FakeGitHub, Path]) -> None:
    fake, _ = github
    configure(server, fake)
    closed = f"https://127.0.0.1:{free_port()}/api/v3/"
    status, _, _ = server.call(
        "POST", "auth/github/config", json={"base_url": closed, "organization_id": 4242}
    )
    assert status == 204
    try:
        status, body = login(server, "tok-alice")
        assert status == 500
        assert f'Get "{closed}user": ' in body["errors"][0]
        assert "tok-alice" not in str(body)
    finally:
        configure(server, fake)


def test_renewal_asks_github_again(server: TesseraServer, github: tuple[FakeGitHub, Path]) -> None:
    fake, _ = github
    configure(server, fake)
    fake.users["tok-dave"] = GitHubUser("dave", orgs=["acme"])
    status, body = login(server, "tok-dave")
    assert status == 200, body
    token = body["auth"]["client_token"]
    status, renewed, _ = server.call("POST", "auth/token/renew-self", token=token)
    assert status == 200, renewed
    fake.users["tok-dave"].orgs.clear()  # dave leaves the organization
    status, renewed, _ = server.call("POST", "auth/token/renew-self", token=token)
    assert status == 500
    assert "user is not part of required org" in renewed["errors"][0]


def test_cli_login_method_github(
    server: TesseraServer, github: tuple[FakeGitHub, Path], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    fake, _ = github
    configure(server, fake)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(HOME=str(tmp_path), VAULT_ADDR=server.addr, VAULT_AUTH_GITHUB_TOKEN="tok-carol")
    done = subprocess.run(
        [sys.executable, "-m", "tessera", "login", "-method=github", "-format=json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '"username": "carol"' in done.stdout
    token = (tmp_path / ".vault-token").read_text().strip()
    status, lookup, _ = server.call("GET", "auth/token/lookup-self", token=token)
    assert status == 200 and lookup["data"]["meta"]["org"] == "acme"

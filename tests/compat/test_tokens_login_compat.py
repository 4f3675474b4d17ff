"""Tokens issued by logins, side by side (spec tokens.md §1.5, checklist 92).

Userpass logins on both servers: the mount's token_type tuning against the user's, TTLs from the
user and the mount, orphan flag, path ``auth/<mount>/login/<user>`` and display name ``<mount>-<user>``.
"""

from __future__ import annotations

import pytest

from tests.compat.test_tokens_compat import P1
from tests.compat.token_pairs import Duo, Pair, with_token
from tests.helpers.servers import ReferenceServer, TesseraServer


@pytest.fixture
def up(reference: ReferenceServer, tessera: TesseraServer) -> tuple[Duo, str]:
    duo = Duo(reference, tessera)
    duo.policy("p1", P1)
    mount = duo.unique("up")
    duo.ok("POST", f"sys/auth/{mount}", json={"type": "userpass"})
    return duo, mount


def _login(duo: Duo, mount: str, user: str) -> Pair:
    rb, tb = duo.same("POST", f"auth/{mount}/login/{user}", token=None, json={"password": "pw"})
    return rb["auth"]["client_token"], tb["auth"]["client_token"]


@pytest.mark.parametrize(
    ("mount_type", "user_type"),
    [
        ("default-service", "default"),
        ("default-service", "batch"),
        ("batch", "service"),
        ("service", "batch"),
        ("default-batch", "service"),
        ("default-batch", "default"),
    ],
)
def test_login_token_types(up: tuple[Duo, str], mount_type: str, user_type: str) -> None:
    duo, mount = up
    duo.ok("POST", f"sys/auth/{mount}/tune", json={"token_type": mount_type})
    duo.ok(
        "POST",
        f"auth/{mount}/users/bob",
        json={"password": "pw", "token_policies": "p1", "token_type": user_type},
    )
    tok = _login(duo, mount, "bob")
    duo.same("POST", "auth/token/lookup", json=with_token("token", tok))
    duo.same("GET", "auth/token/lookup-self", token=tok)
    duo.same("POST", "auth/token/renew-self", token=tok, json={"increment": "1h"})


def test_login_ttls_and_renewal(up: tuple[Duo, str]) -> None:
    duo, mount = up
    duo.ok("POST", f"sys/auth/{mount}/tune", json={"default_lease_ttl": "1h", "max_lease_ttl": "2h"})
    duo.ok("POST", f"auth/{mount}/users/a", json={"password": "pw", "token_policies": "p1"})
    duo.ok(
        "POST", f"auth/{mount}/users/b", json={"password": "pw", "token_ttl": "30m", "token_max_ttl": "45m"}
    )
    duo.ok(
        "POST", f"auth/{mount}/users/c", json={"password": "pw", "token_period": "20m", "token_num_uses": 3}
    )
    duo.ok(
        "POST", f"auth/{mount}/users/d", json={"password": "pw", "token_ttl": "5h", "token_policies": "p1"}
    )
    for user in ("a", "b", "c", "d"):
        tok = _login(duo, mount, user)
        duo.same("POST", "auth/token/lookup", json=with_token("token", tok))
        duo.same("POST", "auth/token/renew", json=with_token("token", tok, {"increment": "3h"}))
    duo.same("POST", f"auth/{mount}/login/a", token=None, json={"password": "wrong"})


def test_login_without_policies(up: tuple[Duo, str]) -> None:
    duo, mount = up
    duo.ok("POST", f"auth/{mount}/users/n", json={"password": "pw", "token_no_default_policy": True})
    _login(duo, mount, "n")


def test_login_tokens_go_with_their_mount(up: tuple[Duo, str]) -> None:
    duo, mount = up
    duo.ok("POST", f"auth/{mount}/users/bob", json={"password": "pw"})
    tok = _login(duo, mount, "bob")
    duo.ok("DELETE", f"sys/auth/{mount}")
    duo.same("GET", "auth/token/lookup-self", token=tok)


def test_wrapped_login(up: tuple[Duo, str]) -> None:
    duo, mount = up
    duo.ok("POST", f"auth/{mount}/users/bob", json={"password": "pw", "token_policies": "p1"})
    rb, tb = duo.same(
        "POST",
        f"auth/{mount}/login/bob",
        token=None,
        json={"password": "pw"},
        headers={"X-Vault-Wrap-TTL": "1m"},
    )
    wrap = rb["wrap_info"]["token"], tb["wrap_info"]["token"]
    duo.same("POST", "auth/token/lookup", json=with_token("token", wrap))
    duo.same("POST", "sys/wrapping/unwrap", token=wrap)

"""Each auth method's and engine's special paths come from its declarations and keep the lists
they had when written by hand (Vault's PathsSpecial, plus what Tessera added)."""

from __future__ import annotations

import pytest

from tessera.core.mounts import MountEntry
from tessera.core.registry import AUTH_METHODS, SECRETS_ENGINES
from tests.reliability.asgi import dev_core

PKI_UNAUTHENTICATED = {
    "cert/*", "ca/pem", "ca_chain", "ca", "crl/pem", "crl", "issuer/+/crl/der", "issuer/+/crl/pem",
    "issuer/+/crl", "issuer/+/pem", "issuer/+/der", "issuer/+/json", "issuers/",
}  # fmt: skip
# table, type -> (root paths, unauthenticated paths), as the factories listed them by hand.
SPECIAL: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    ("auth", "token"): ({"revoke-orphan/*", "accessors*", "revoke-batch"}, set()),
    ("auth", "approle"): (set(), {"login", "login/*"}),
    ("auth", "userpass"): (set(), {"login", "login/*"}),
    ("auth", "jwt"): (set(), {"login", "oidc/auth_url", "oidc/callback", "oidc/poll"}),
    ("auth", "oidc"): (set(), {"login", "oidc/auth_url", "oidc/callback", "oidc/poll"}),
    ("auth", "cert"): (set(), {"login"}),
    ("auth", "github"): (set(), {"login"}),
    ("secret", "pki"): ({"root", "root/sign-self-issued"}, PKI_UNAUTHENTICATED),
    ("secret", "identity"): (set(), {"oidc/.well-known/*"}),
    ("secret", "kv"): (set(), set()),
    ("secret", "generic"): (set(), set()),
    ("secret", "cubbyhole"): (set(), set()),
    ("secret", "transit"): (set(), set()),
    ("secret", "database"): (set(), set()),
}


def test_every_registered_type_is_pinned() -> None:
    registered = {("auth", t) for t in AUTH_METHODS} | {("secret", t) for t in SECRETS_ENGINES}
    assert registered - {("secret", "system")} == set(SPECIAL)


@pytest.fixture(scope="module")
def core():  # type: ignore[no-untyped-def]
    core, _ = dev_core()
    yield core
    core.seal()


@pytest.mark.parametrize(("table", "mtype"), sorted(SPECIAL))
def test_special_paths_keep_their_lists(core, table: str, mtype: str) -> None:  # type: ignore[no-untyped-def]
    route = core.router.get(("auth/" if table == "auth" else "") + mtype + "/")
    if route is None or route.backend.backend_type != mtype:
        entry = MountEntry.new(table, f"pinned-{mtype}/", mtype)
        core.mount(entry)
        route = core.router.get(entry.route_prefix)
    root, unauthenticated = SPECIAL[(table, mtype)]
    assert set(route.backend.root_paths) == root
    assert set(route.backend.unauthenticated_paths) == unauthenticated

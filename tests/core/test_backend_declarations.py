"""What each registered auth method and engine declares about itself: its special paths (from
the path declarations, keeping the lists once written by hand: Vault's PathsSpecial plus what
Tessera added), and which backend hooks it has (what core, audit and tokens once knew by name)."""

from __future__ import annotations

import pytest

from tessera.core.registry import AUTH_METHODS, SECRETS_ENGINES
from tessera.routing.mounts import MountEntry
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


def _backend(core, table: str, mtype: str):  # type: ignore[no-untyped-def]
    """The type's backend: the built-in mount, else one mounted for the test."""
    route = core.router.get(("auth/" if table == "auth" else "") + mtype + "/")
    if route is None or route.entry.type != mtype:
        entry = MountEntry.new(table, f"pinned-{mtype}/", mtype)
        core.mount(entry)
        route = core.router.get(entry.route_prefix)
    return route.backend


@pytest.mark.parametrize(("table", "mtype"), sorted(SPECIAL))
def test_special_paths_keep_their_lists(core, table: str, mtype: str) -> None:  # type: ignore[no-untyped-def]
    backend = _backend(core, table, mtype)
    root, unauthenticated = SPECIAL[(table, mtype)]
    assert set(backend.root_paths) == root
    assert set(backend.unauthenticated_paths) == unauthenticated


# hook -> the types that have it (every other registered type has none).
HOOKS = {
    "locks_out_users": {("auth", "userpass"), ("auth", "approle")},
    "resolve_role": {("auth", "approle")},
    "batch_token_issuers": {("auth", "approle")},
    "wrapped_accessor_field": {("auth", "approle")},
    "service_tokens_only": {("secret", "cubbyhole")},
    "reads_as_secrets": {("secret", "kv"), ("secret", "generic")},  # KV v1 only
}


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_backend_hooks_replace_type_names(core, hook: str) -> None:  # type: ignore[no-untyped-def]
    having = {key for key in sorted(SPECIAL) if getattr(_backend(core, *key), hook)}
    assert having == HOOKS[hook]


def test_kv_v2_reads_are_no_secrets(core) -> None:  # type: ignore[no-untyped-def]
    assert not core.router.get("secret/").backend.reads_as_secrets  # dev_core's KV v2

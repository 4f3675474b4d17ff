"""The system backend's special paths come from its declarations and keep Vault's lists."""

from __future__ import annotations

import pytest

from tessera.framework import Backend, Path
from tessera.framework.backend import special_pattern
from tessera.system.backend import raw_endpoints
from tests.reliability.asgi import dev_core

# PathsSpecial of Vault's system backend, relative to sys/ (what core.py and system/backend.py listed).
ROOT = {
    "auth/*", "remount", "audit", "audit/*", "raw", "raw/*", "rotate", "rotate/keyring", "rotate/root",
    "config/cors", "config/auditing/*", "config/ui/headers/*", "plugins/catalog/*", "revoke-prefix/*",
    "revoke-force/*", "leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*", "leases",
    "internal/inspect/*",
    # Vault Enterprise's: activation tokens need sudo.
    "replication/performance/primary/secondary-token", "replication/dr/primary/secondary-token",
}  # fmt: skip
UNAUTHENTICATED = {
    "wrapping/lookup", "wrapping/pubkey", "internal/ui/mounts", "internal/ui/mounts/*",
    "internal/ui/namespaces", "init", "seal-status", "unseal", "leader", "health", "decode-token",
    "mfa/validate", "internal/specs/openapi", "replication/status",
    "replication/dr/status",  # Vault Enterprise's: a DR secondary answers it to anyone
    "replication/dr/secondary/promote",  # authorised by its dr_operation_token
    "replication/dr/secondary/disable", "replication/dr/secondary/operation-token/delete",
    "replication/dr/secondary/update-primary",
}  # fmt: skip


def test_system_special_paths_match_vaults_lists() -> None:
    core, _ = dev_core()
    backend = core.router.get("sys/").backend
    assert set(backend.root_paths) == ROOT
    assert set(backend.unauthenticated_paths) == UNAUTHENTICATED


@pytest.mark.parametrize(
    ("pattern", "special"),
    [
        ("health", "health"),
        ("audit$", "audit"),
        ("audit/?$", "audit"),
        ("auth/(?P<path>.+)", "auth/*"),
        ("login/(?P<role>.*)", "login/*"),
        ("issuer/(?P<ref>[^/]+)/pem$", "issuer/+/pem"),
    ],
)
def test_special_pattern_from_declaration(pattern: str, special: str) -> None:
    assert special_pattern(pattern) == special


def test_unsayable_pattern_must_declare_its_special_path() -> None:
    with pytest.raises(ValueError, match=r"declare Path\.special"):
        Path("leases/lookup/(?P<prefix>.+?)?", sudo=True)
    assert Path("leases/lookup/(?P<prefix>.+?)?", sudo=True, special=("leases/lookup/*",)).special == (
        "leases/lookup/*",
    )


def test_backend_merges_listed_and_declared_special_paths() -> None:
    backend = Backend(
        paths=[Path("login", unauthenticated=True), Path("root", sudo=True)],
        unauthenticated_paths=["login", "oidc/*"],
    )
    assert backend.unauthenticated_paths == ["login", "oidc/*"]
    assert backend.root_paths == ["root"]


def test_raw_endpoints_need_no_unsealed_core() -> None:
    core, _ = dev_core()
    core.seal()
    table = raw_endpoints(core)
    assert {"sys/health", "sys/init", "sys/unseal", "sys/seal", "sys/rekey/init", "sys/metrics"} <= set(table)
    assert table["sys/health"].sealed_ok and not table["sys/rekey/init"].sealed_ok


def test_openapi_lists_the_raw_paths() -> None:
    core, _ = dev_core()
    doc = core.router.get("sys/").backend.openapi(prefix="sys/")
    assert {"get", "head"} <= set(doc["/sys/health"])
    assert {"get", "post"} <= set(doc["/sys/init"])
    assert "post" in doc["/sys/seal"] and "post" in doc["/sys/rekey/update"]
    assert "get" in doc["/sys/metrics"] and "post" not in doc["/sys/metrics"]

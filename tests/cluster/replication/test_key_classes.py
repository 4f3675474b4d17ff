"""Every key a populated server writes has a replication class, decided as Vault decides it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.replication.keys import IGNORED, LOCAL, REPLICATED, KeyClassifier
from tests.cluster.replication.populated import AUDIT_CONFIG, populate, read_storage
from tests.helpers.servers import TesseraServer, tessera_on_sqlite


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, bytes], KeyClassifier]]:
    workdir = tmp_path_factory.mktemp("classes")
    server: TesseraServer = tessera_on_sqlite(workdir, extra=AUDIT_CONFIG.format(workdir))
    try:
        server.start()
        server.init()
        server.unseal()
        populate(server, workdir)
        server.stop()
        yield read_storage(server, workdir / "t.db")
    finally:
        server.cleanup()


def test_every_key_has_a_rule(stored: tuple[dict[str, bytes], KeyClassifier]) -> None:
    entries, classifier = stored
    unknown = sorted(key for key in entries if classifier.rule(key) is None)
    assert not unknown, f"keys no replication rule covers: {unknown}"


def _classes(stored: tuple[dict[str, bytes], KeyClassifier], prefix: str) -> set[str]:
    entries, classifier = stored
    found = {classifier.classify(k) for k in entries if k.startswith(prefix)}
    assert found, f"no key under {prefix}"
    return found


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("sys/token/id/", LOCAL),
        ("sys/token/accessor/", LOCAL),
        ("sys/token/parent/", LOCAL),
        ("sys/expire/id/", LOCAL),
        ("core/local-mounts", LOCAL),
        ("core/local-auth", LOCAL),
        ("core/local-audit", LOCAL),
        ("core/login/", LOCAL),
        ("core/keyring", REPLICATED),
        ("core/mounts", REPLICATED),
        ("core/auth", REPLICATED),
        ("core/audit", REPLICATED),
        ("sys/policy/p1", REPLICATED),
        ("sys/token/roles/", REPLICATED),
        ("sys/token/denylist/", REPLICATED),
        ("sys/quotas/", REPLICATED),
        ("core/cluster", IGNORED),
    ],
)
def test_core_keys(stored: tuple[dict[str, bytes], KeyClassifier], prefix: str, expected: str) -> None:
    assert _classes(stored, prefix) == {expected}


def _mount_prefix(stored: tuple[dict[str, bytes], KeyClassifier], path_type: str, local: bool) -> list[str]:
    _, classifier = stored
    return [p for p, (t, loc) in classifier.mounts.items() if t == path_type and loc == local]


def test_mount_data(stored: tuple[dict[str, bytes], KeyClassifier]) -> None:
    """kv and userpass data replicate, a -local mount's and the cubbyholes' stay local."""
    (cubbyhole,) = _mount_prefix(stored, "cubbyhole", True)
    assert _classes(stored, cubbyhole) == {LOCAL}
    (local_userpass,) = _mount_prefix(stored, "userpass", True)
    assert _classes(stored, local_userpass) == {LOCAL}
    (shared_userpass,) = _mount_prefix(stored, "userpass", False)
    assert _classes(stored, shared_userpass) == {REPLICATED}
    kv_mounts = _mount_prefix(stored, "kv", False)
    assert len(kv_mounts) == 2 and all(_classes(stored, p) == {REPLICATED} for p in kv_mounts)
    (local_kv,) = _mount_prefix(stored, "kv", True)
    assert _classes(stored, local_kv) == {LOCAL}
    (identity,) = _mount_prefix(stored, "identity", False)
    assert _classes(stored, identity) == {REPLICATED}


def test_backend_local_paths(stored: tuple[dict[str, bytes], KeyClassifier]) -> None:
    """PKI's certificates and AppRole's local secret IDs are local; their roles replicate."""
    _, classifier = stored
    (pki,) = _mount_prefix(stored, "pki", False)
    assert _classes(stored, pki + "certs/") == {LOCAL}
    assert _classes(stored, pki + "role/") == {REPLICATED}
    (approle,) = _mount_prefix(stored, "approle", False)
    assert _classes(stored, approle + "role/") == {REPLICATED}
    assert classifier.classify(approle + "secret_id_local/x/y") == LOCAL


def test_removed_mount_deletes_replicate() -> None:
    """A removed mount's deletes replicate; a removed local mount's stay local (DR secondaries get
    them, and a performance secondary may delete the data of its own local mount)."""
    classifier = KeyClassifier()
    classifier.update([("logical/abc/", "kv", True), ("logical/def/", "kv", False)])
    assert classifier.classify("logical/abc/k") == LOCAL
    assert classifier.classify("logical/def/k") == REPLICATED
    classifier.update([])
    assert classifier.classify("logical/abc/k") == LOCAL
    assert classifier.classify("logical/def/k") == REPLICATED
    assert classifier.classify("logical/ghi/k") == REPLICATED
    assert classifier.rule("somewhere/else") is None
    assert classifier.rule("logical/") is None

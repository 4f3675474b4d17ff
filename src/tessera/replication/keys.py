"""Which storage keys replicate: Vault's three classes, decided from the key alone.

- ``replicated``: sent to every secondary, performance and DR (mount tables, policies, the
  keyring, the data of mounts not marked local, roles, identity);
- ``local``: sent to DR secondaries only (tokens and their indexes, leases, cubbyholes, the data
  of mounts enabled with ``-local``, the per-mount paths Vault's backends declare local);
- ``ignored``: never sent (this cluster's own identity, HA and replication bookkeeping).

Each rule names the keys it covers, so a test can walk a populated server's storage and fail on a
key that no rule knows (``Rule is None``): a new storage prefix must be classified on purpose.
Keys no rule knows are treated as replicated, Vault's default for storage a backend writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Class = Literal["replicated", "local", "ignored"]
REPLICATED: Class = "replicated"
LOCAL: Class = "local"
IGNORED: Class = "ignored"

# (prefix, class, why): the first prefix that a key starts with decides; exact keys have no "/".
RULES: tuple[tuple[str, Class, str], ...] = (
    ("core/replication/", IGNORED, "this cluster's replication state and log"),
    ("core/cluster", IGNORED, "this cluster's own id and name"),
    ("core/ha/", IGNORED, "HA bookkeeping of this cluster's nodes"),
    ("core/keyring", REPLICATED, "batch tokens and every secret decrypt with it on each cluster"),
    ("core/root-key", REPLICATED, "secondaries unseal with the primary's keys"),
    ("core/seal-config", REPLICATED, "secondaries unseal with the primary's keys"),
    ("core/unseal-keys-backup", REPLICATED, "follows the unseal keys"),
    ("core/recovery-keys-backup", REPLICATED, "follows the recovery keys"),
    ("core/local-mounts", LOCAL, "mounts enabled with -local"),
    ("core/local-auth", LOCAL, "auth methods enabled with -local"),
    ("core/local-audit", LOCAL, "audit devices enabled with -local"),
    ("core/mounts", REPLICATED, "the secrets mount table"),
    ("core/auth", REPLICATED, "the auth mount table"),
    ("core/audit", REPLICATED, "the audit device table"),
    ("core/login/", LOCAL, "user lockout counters are per cluster"),
    ("sys/policy/", REPLICATED, "ACL policies"),
    ("sys/policies/", REPLICATED, "password and other policies"),
    ("sys/token/id/", LOCAL, "service tokens"),
    ("sys/token/accessor/", LOCAL, "service token accessors"),
    ("sys/token/parent/", LOCAL, "the token tree"),
    ("sys/token/salt", LOCAL, "the salt of the token store's own keys"),
    ("sys/token/roles/", REPLICATED, "token roles"),
    ("sys/token/denylist/", REPLICATED, "revoked orphan batch tokens are refused everywhere"),
    ("sys/token/issuers/", REPLICATED, "batch token epochs, checked wherever a batch token is"),
    ("sys/expire/", LOCAL, "leases"),
    ("sys/quotas/", REPLICATED, "quota rules"),
    ("sys/keyring/", REPLICATED, "the keyring's rotation configuration"),
)

# Per mount type, the paths of a mount's storage that Vault's backends declare local storage.
LOCAL_PATHS: dict[str, tuple[str, ...]] = {
    "pki": ("certs/", "revoked/", "crls/", "crl"),
    "approle": ("secret_id_local/", "accessor_local/"),
}

MOUNT_ROOTS = ("logical/", "auth/", "audit/")
# The replicated mount tables and the request path prefix of their entries (paths filters).
SHARED_TABLES: dict[str, str] = {"core/mounts": "", "core/auth": "auth/"}


class KeyClassifier:
    """Classifies keys against the mount tables: which mounts are local, and of which type.

    ``mounts`` maps a mount's storage prefix (``logical/<uuid>/``) to ``(type, local)``; the core
    hands a new map whenever a mount table changes. A mount's keys stay replicated after it is
    gone from the table, so the deletes of a removed mount still reach the secondaries.
    """

    def __init__(self, mounts: dict[str, tuple[str, bool]] | None = None) -> None:
        self.mounts = dict(mounts or {})

    def update(self, mounts: Iterable[tuple[str, str, bool]]) -> None:
        """New mount tables: ``(storage prefix, type, local)`` for each mount. A local mount gone
        from them stays known as local: the deletes of its data that follow are local too (on a
        performance secondary, its own data, which its guard must let it delete)."""
        fresh = {prefix: (mtype, local) for prefix, mtype, local in mounts}
        for prefix, (mtype, local) in self.mounts.items():
            if local and prefix not in fresh:
                fresh[prefix] = (mtype, local)
        self.mounts = fresh

    def rule(self, key: str) -> tuple[Class, str] | None:
        """The class of ``key`` and why, or None when no rule covers it."""
        for prefix, cls, why in RULES:
            if key.startswith(prefix):
                return cls, why
        if key.startswith(MOUNT_ROOTS):
            return self._mount_rule(key)
        return None

    def classify(self, key: str) -> Class:
        found = self.rule(key)
        return REPLICATED if found is None else found[0]

    def _mount_rule(self, key: str) -> tuple[Class, str] | None:
        root, _, rest = key.partition("/")
        uuid, slash, inner = rest.partition("/")
        if not uuid or not slash:
            return None
        mount = self.mounts.get(f"{root}/{uuid}/")
        if mount is None:
            return REPLICATED, "a mount no longer in the tables (its deletes replicate)"
        mtype, local = mount
        if local:
            return LOCAL, "a mount marked local"
        if inner.startswith(LOCAL_PATHS.get(mtype, ())):
            return LOCAL, f"a {mtype} path Vault keeps local"
        return REPLICATED, "a replicated mount's data"

"""A created token's response warns about each named policy the policy store does not hold
(tokens/common.py ``policy_warnings``, through ``PolicyStore.exists``), as Vault's does."""

from __future__ import annotations

import pytest

from tessera.framework import Operation

from .conftest import CoreHarness


@pytest.mark.parametrize("kind", ["batch", "service"])
def test_missing_policies_are_warned_about(harness: CoreHarness, kind: str) -> None:
    harness.core.policy_store.set("known", 'path "a" { capabilities = ["read"] }')
    for _ in range(2):  # the second time from the policy store's cache
        resp = harness.request(
            Operation.UPDATE,
            "auth/token/create",
            data={"policies": ["known", "nope", "Other"], "ttl": "1h", "type": kind},
        )
        assert resp is not None and resp.auth is not None
        assert [w for w in resp.warnings if w.startswith("Policy ")] == [
            'Policy "nope" does not exist',
            'Policy "other" does not exist',
        ]
    harness.core.policy_store.delete("known")
    resp = harness.request(
        Operation.UPDATE, "auth/token/create", data={"policies": ["known"], "ttl": "1h", "type": kind}
    )
    assert resp is not None and 'Policy "known" does not exist' in resp.warnings

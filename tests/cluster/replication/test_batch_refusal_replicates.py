"""Issue 23 across clusters: a batch token revoked, or an issuer cut, on the primary is refused on
a performance secondary too (the deny-list and the issuer epochs are replicated keys), while the
tokens and logins not concerned keep working there."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.replication.servers import ok, until
from tests.cluster.replication.test_performance_secondary import P
from tests.helpers.servers import TesseraServer, free_port, tessera_on_sqlite


def _batch(primary: TesseraServer) -> str:
    body = {"type": "batch", "no_parent": True, "policies": ["reader"], "ttl": "1h"}
    return str(ok(primary, "POST", "auth/token/create", body)["auth"]["client_token"])


def _reads(server: TesseraServer, token: str) -> bool:
    return server.call("GET", "kv/a", token=token)[0] == 200


def test_revoked_batch_tokens_and_cut_issuers_are_refused_on_a_performance_secondary(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "s").mkdir()
    primary = tessera_on_sqlite(tmp_path / "p", extra=f'cluster_addr = "https://127.0.0.1:{free_port()}"\n')
    secondary = tessera_on_sqlite(tmp_path / "s")
    try:
        for server in (primary, secondary):
            server.start()
            server.init()
            server.unseal()
        ok(primary, "POST", "sys/mounts/kv", {"type": "kv"})
        ok(primary, "PUT", "kv/a", {"v": "1"})
        ok(primary, "PUT", "sys/policies/acl/reader", {"policy": 'path "kv/*" { capabilities = ["read"] }'})
        leaked, kept = _batch(primary), _batch(primary)
        ok(primary, "POST", f"{P}/primary/enable")
        token = ok(primary, "POST", f"{P}/primary/secondary-token", {"id": "perf-1"})["wrap_info"]["token"]
        ok(secondary, "POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
        until("the secondary to seal", lambda: secondary.seal_status()["sealed"])
        secondary.unseal(primary.keys)
        until("the secondary to serve the primary's batch tokens", lambda: _reads(secondary, leaked))

        ok(primary, "POST", "auth/token/revoke-batch", {"token": leaked})
        assert not _reads(primary, leaked)
        until("the revocation to reach the secondary", lambda: not _reads(secondary, leaked))
        status, body, _ = secondary.call("GET", "kv/a", token=leaked)
        assert status == 403 and body == {"errors": ["permission denied"]}
        assert _reads(secondary, kept)

        ok(primary, "POST", "sys/token-issuers/auth/token/create/bump")
        until("the cut to reach the secondary", lambda: not _reads(secondary, kept))
        fresh = _batch(primary)
        assert _reads(primary, fresh) and _reads(secondary, fresh)
    finally:
        secondary.stop()
        primary.stop()

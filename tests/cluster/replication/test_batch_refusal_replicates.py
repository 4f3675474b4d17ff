"""Issue 23 across clusters: a batch token revoked, or an issuer cut, on the primary is refused on
a performance secondary too (the deny-list and the issuer epochs are replicated keys), while the
tokens and logins not concerned keep working there."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.replication.pair import P, kv_and_reader, started_pair
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until


def _batch(primary: TesseraServer) -> str:
    body = {"type": "batch", "no_parent": True, "policies": ["reader"], "ttl": "1h"}
    return str(primary.ok("POST", "auth/token/create", body)["auth"]["client_token"])


def _reads(server: TesseraServer, token: str) -> bool:
    return server.call("GET", "kv/a", token=token)[0] == 200


def test_revoked_batch_tokens_and_cut_issuers_are_refused_on_a_performance_secondary(tmp_path: Path) -> None:
    with started_pair(tmp_path) as (primary, secondary):
        kv_and_reader(primary, "a", "1")
        leaked, kept = _batch(primary), _batch(primary)
        primary.ok("POST", f"{P}/primary/enable")
        token = primary.ok("POST", f"{P}/primary/secondary-token", {"id": "perf-1"})["wrap_info"]["token"]
        secondary.ok("POST", f"{P}/secondary/enable", {"token": token, "primary_api_addr": primary.addr})
        until(lambda: secondary.seal_status()["sealed"], "the secondary to seal", 20.0)
        secondary.unseal(primary.keys)
        until(lambda: _reads(secondary, leaked), "the secondary to serve the primary's batch tokens", 20.0)

        primary.ok("POST", "auth/token/revoke-batch", {"token": leaked})
        assert not _reads(primary, leaked)
        until(lambda: not _reads(secondary, leaked), "the revocation to reach the secondary", 20.0)
        status, body, _ = secondary.call("GET", "kv/a", token=leaked)
        assert status == 403 and body == {"errors": ["permission denied"]}
        assert _reads(secondary, kept)

        primary.ok("POST", "sys/token-issuers/auth/token/create/bump")
        until(lambda: not _reads(secondary, kept), "the cut to reach the secondary", 20.0)
        fresh = _batch(primary)
        assert _reads(primary, fresh) and _reads(secondary, fresh)

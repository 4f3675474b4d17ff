"""Token behaviour that is Tessera's own over HTTP: ID shapes, legacy prefixes, malformed batch tokens."""

from __future__ import annotations

import re

from tests.helpers.servers import TesseraServer

BASE62 = re.compile(r"^[0-9A-Za-z]{24}$")


def _create(server: TesseraServer, **body: object) -> dict:
    status, answer, _ = server.call("POST", "auth/token/create", json=body)
    assert status == 200, answer
    return answer["auth"]


def test_token_shapes(tessera: TesseraServer) -> None:
    service = _create(tessera, policies=["default"])
    assert re.match(r"^hvs\.[0-9A-Za-z]{24}$", service["client_token"]) and len(service["client_token"]) == 28
    assert BASE62.match(service["accessor"])
    batch = _create(tessera, policies=["default"], type="batch")
    assert batch["client_token"].startswith("hvb.") and batch["accessor"] == ""
    assert re.match(r"^hvb\.[A-Za-z0-9_-]+$", batch["client_token"])


def test_legacy_batch_prefix_is_recognised(tessera: TesseraServer) -> None:
    batch = _create(tessera, policies=["default"], type="batch")["client_token"]
    legacy = "b." + batch[len("hvb.") :]
    status, body, _ = tessera.call("GET", "auth/token/lookup-self", token=legacy)
    assert status == 200 and body["data"]["type"] == "batch"


def test_malformed_batch_token_is_denied_not_an_error(tessera: TesseraServer) -> None:
    # The reference answers 500 "error performing token check: illegal base64 data..."; a token
    # that cannot be decoded is simply not a token, so Tessera answers like for any bad token.
    for bad in ("b.notbase64!!", "hvb.%%%", "hvb.", "b.AAAA"):
        status, body, _ = tessera.call("GET", "auth/token/lookup-self", token=bad)
        assert (status, body) == (403, {"errors": ["permission denied"]}), bad
        status, body, _ = tessera.call("POST", "auth/token/lookup", json={"token": bad})
        assert (status, body) == (403, {"errors": ["bad token"]}), bad


def test_recovery_prefixed_tokens_are_not_token_store_entries(tessera: TesseraServer) -> None:
    status, body, _ = tessera.call("GET", "auth/token/lookup-self", token="hvr.AAAAAAAAAAAAAAAAAAAAAAAA")
    assert (status, body) == (403, {"errors": ["permission denied"]})


def test_batch_tokens_survive_key_rotation(fresh_tessera: TesseraServer) -> None:
    before = _create(fresh_tessera, policies=["default"], type="batch")["client_token"]
    assert before.startswith("hvb.AAAAAQ")  # key term 1
    status, body, _ = fresh_tessera.call("POST", "sys/rotate")
    assert status == 204, body
    after = _create(fresh_tessera, policies=["default"], type="batch")["client_token"]
    assert after.startswith("hvb.AAAAAg")  # key term 2
    for token in (before, after):
        status, body, _ = fresh_tessera.call("GET", "auth/token/lookup-self", token=token)
        assert status == 200, body

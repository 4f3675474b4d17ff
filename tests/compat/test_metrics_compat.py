"""sys/metrics against the reference: the same answers to bad formats and methods, the same
token.creation series (names, labels, TTL buckets) after the same token workload."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.servers import ReferenceServer, TesseraServer


def _get(server, params=None, method="GET", token=None):
    headers = {"X-Vault-Token": token} if token else {}
    answer = requests.request(
        method, f"{server.addr}/v1/sys/metrics", params=params, headers=headers, timeout=10
    )
    return answer.status_code, answer.headers.get("content-type", ""), answer.text


@pytest.mark.parametrize(
    ("params", "method"),
    [({"format": "xml"}, "GET"), ({"format": "prometheus"}, "GET"), (None, "POST"), (None, "DELETE")],
)
def test_dev_server_answers_as_the_reference(
    reference: ReferenceServer, tessera: TesseraServer, params, method
) -> None:
    ref = _get(reference, params, method)
    ours = _get(tessera, params, method)
    assert ours[:2] == ref[:2]
    if ref[0] != 200:
        assert ours[2].strip() == ref[2].strip()  # Go's JSON encoder ends with a newline


def _creation_series(server) -> set[tuple[str, str, str, str]]:
    _, _, text = _get(server, {"format": "prometheus"})
    out = set()
    for family in text_string_to_metric_families(text):
        if family.name == "vault_token_creation":
            for s in family.samples:
                if s.labels["auth_method"] != "token" or s.labels["creation_ttl"] != "1m":  # dev root token
                    out.add(
                        (
                            s.labels["auth_method"],
                            s.labels["mount_point"],
                            s.labels["creation_ttl"],
                            s.labels["token_type"],
                        )
                    )
    return out


def test_token_creation_series_match(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    for server in (fresh_reference, fresh_tessera):
        for ttl in ("90s", "15m", "1h", "3h", "100h", "800h"):
            assert (
                server.call("POST", "auth/token/create", json={"ttl": ttl, "policies": ["default"]})[0] == 200
            )
        assert (
            server.call(
                "POST", "auth/token/create", json={"type": "batch", "ttl": "2h", "policies": ["default"]}
            )[0]
            == 200
        )
        assert server.call("POST", "sys/auth/userpass", json={"type": "userpass"})[0] == 204
        assert (
            server.call("POST", "auth/userpass/users/amy", json={"password": "pw", "token_ttl": "30m"})[0]
            == 204
        )
        assert server.call("POST", "auth/userpass/login/amy", json={"password": "pw"}, auth=False)[0] == 200
    ours = _creation_series(fresh_tessera)
    assert ours == _creation_series(fresh_reference)
    assert len(ours) == 8


def _families(server) -> set[str]:
    _, _, text = _get(server, {"format": "prometheus"})
    return {family.name for family in text_string_to_metric_families(text)}


def test_route_timers_are_named_as_the_references(
    fresh_reference: ReferenceServer, fresh_tessera: TesseraServer
) -> None:
    expected = {
        "vault_route_update_auth_token_",
        "vault_route_create_secret_",
        "vault_route_read_secret_",
        "vault_route_update_sys_",
    }
    for server in (fresh_reference, fresh_tessera):
        assert server.call("POST", "auth/token/create", json={"policies": ["default"]})[0] == 200
        assert server.call("POST", "secret/data/route-check", json={"data": {"a": 1}})[0] == 200
        assert server.call("GET", "secret/data/route-check")[0] == 200
        assert (
            server.call(
                "POST",
                "sys/policies/acl/route-check",
                json={"policy": 'path "x/*" { capabilities = ["read"] }'},
            )[0]
            == 204
        )
    for server in (fresh_reference, fresh_tessera):
        missing = expected - _families(server)
        assert not missing, f"{server.name}: {missing}"

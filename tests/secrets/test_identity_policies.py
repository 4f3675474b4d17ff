"""Entity policies apply to an entity's tokens at once, and stop applying at once (never frozen)."""

from __future__ import annotations

from tests.helpers.servers import TesseraServer


def test_entity_policies_grant_and_revoke_access(fresh_tessera: TesseraServer) -> None:
    s = fresh_tessera
    assert s.call("POST", "sys/auth/up", json={"type": "userpass"})[0] == 204
    assert s.call("POST", "auth/up/users/ana", json={"password": "pw", "token_policies": "default"})[0] == 204
    policy = 'path "secret/data/team/*" { capabilities = ["read"] }'
    assert s.call("PUT", "sys/policies/acl/team", json={"policy": policy})[0] == 204
    assert s.call("POST", "secret/data/team/x", json={"data": {"k": "v"}})[0] == 200
    status, login, _ = s.call("POST", "auth/up/login/ana", json={"password": "pw"}, auth=False)
    assert status == 200, login
    token, entity_id = login["auth"]["client_token"], login["auth"]["entity_id"]
    assert s.call("GET", "secret/data/team/x", token=token)[0] == 403
    assert s.call("POST", f"identity/entity/id/{entity_id}", json={"policies": "team"})[0] == 204
    status, body, _ = s.call("GET", "secret/data/team/x", token=token)
    assert status == 200 and body["data"]["data"] == {"k": "v"}
    status, entity, _ = s.call("GET", f"identity/entity/id/{entity_id}")
    assert entity["data"]["policies"] == ["team"]
    assert s.call("POST", f"identity/entity/id/{entity_id}", json={"policies": []})[0] == 204
    assert s.call("GET", "secret/data/team/x", token=token)[0] == 403


def test_entity_create_update_delete_by_name(fresh_tessera: TesseraServer) -> None:
    s = fresh_tessera
    status, body, _ = s.call("POST", "identity/entity", json={"name": "svc", "metadata": {"team": "a"}})
    assert status == 200 and body["data"]["name"] == "svc"
    entity_id = body["data"]["id"]
    assert s.call("POST", "identity/entity/name/svc", json={"policies": ["p1"]})[0] == 204
    status, read, _ = s.call("GET", "identity/entity/name/svc")
    assert read["data"]["id"] == entity_id and read["data"]["policies"] == ["p1"]
    assert read["data"]["metadata"] == {"team": "a"}
    assert s.call("DELETE", f"identity/entity/id/{entity_id}")[0] == 204
    assert s.call("GET", "identity/entity/name/svc")[0] == 404

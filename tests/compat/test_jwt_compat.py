"""The jwt auth method side by side: the reference OpenBao (its jwt plugin is built in) and Tessera.

Config, roles and logins, with tokens signed by keys the tests make: PEM keys in the config, and a
real local HTTPS provider (``tests/helpers/jwks.py``) serving a JWKS and an OIDC discovery document.
Every refusal (expired, not yet valid, wrongly signed, ``alg: none``, wrong audience or issuer,
unmatched bound claims, unknown role, JWKS down) must give the same status and text, and no token.

Deliberate differences: ``jwks_pairs`` and ``provider_config`` are refused by Tessera; the text
after "get keys failed:" for an unreachable JWKS is Python's, not Go's (the prefix is the same);
OIDC callback errors start "Vault login failed." as in Vault (OpenBao writes "OpenBao login failed.").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.helpers.jwks import Provider, public_pem, rsa_key
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import Both

NO_TOKEN = ("", "")


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


def _mount(reference: ReferenceServer, tessera: TesseraServer, mtype: str = "jwt") -> Both:
    name = f"{mtype}{uuid.uuid4().hex[:8]}"
    both = Both(reference, tessera, f"auth/{name}")
    both.status("POST", f"sys/auth/{name}", 204, json={"type": mtype})
    return both


@pytest.fixture
def jw(reference: ReferenceServer, tessera: TesseraServer) -> Both:
    return _mount(reference, tessera)


@pytest.fixture(scope="module")
def pem_keys() -> dict[str, Any]:
    return {
        "rsa": rsa_key(),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


def _pem_config(both: Both, keys: dict[str, Any], **extra: Any) -> None:
    both.status(
        "POST",
        f"{both.m}/config",
        204,
        json={
            "jwt_validation_pubkeys": [public_pem(k) for k in keys.values()],
            "bound_issuer": "ci",
            **extra,
        },
    )


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "ci", "aud": "tessera", "sub": "job-1", "iat": now, "exp": now + 300, **extra}


def _login(both: Both, token: str, role: str | None = "ci", values: bool = True) -> tuple[Any, Any]:
    body: dict[str, Any] = {"jwt": token}
    if role is not None:
        body["role"] = role
    return both.same("POST", f"{both.m}/login", json=body, tokens=NO_TOKEN, values=values)


CI_ROLE = {
    "role_type": "jwt",
    "user_claim": "sub",
    "bound_audiences": "tessera",
    "bound_claims_type": "glob",
    "bound_claims": {"repository": "acme/*", "ref": ["refs/heads/main", "refs/tags/v*"]},
    "claim_mappings": {"repository": "repo", "actor": "actor"},
    "token_type": "batch",
    "token_policies": "deploy",
    "token_ttl": "10m",
}


# -- config -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"bound_issuer": "x"},
        {"jwt_validation_pubkeys": ["not a key"]},
        {"jwt_validation_pubkeys": "PEM", "jwks_url": "https://127.0.0.1:1/keys"},
        {"jwks_url": "https://x", "oidc_discovery_url": "https://y"},
    ],
)
def test_config_refusals(jw: Both, body: dict[str, Any], pem_keys: dict[str, Any]) -> None:
    if body.get("jwt_validation_pubkeys") == "PEM":
        body = {**body, "jwt_validation_pubkeys": [public_pem(pem_keys["rsa"])]}
    jw.same("POST", f"{jw.m}/config", json=body)


def test_config_unknown_algorithm_and_read(jw: Both, pem_keys: dict[str, Any]) -> None:
    jw.same("GET", f"{jw.m}/config")
    body = {"jwt_validation_pubkeys": [public_pem(pem_keys["rsa"])], "jwt_supported_algs": ["HS256"]}
    jw.same("POST", f"{jw.m}/config", json=body)
    _pem_config(jw, pem_keys, default_role="ci", jwt_supported_algs=["RS256", "ES256"])
    jw.same("GET", f"{jw.m}/config")


# -- roles --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"role_type": "jwt"},
        {"role_type": "bogus", "user_claim": "sub"},
        {"role_type": "jwt", "user_claim": "sub"},
        {"user_claim": "sub", "bound_subject": "x"},
        {"role_type": "jwt", "user_claim": "sub", "bound_audiences": "a", "bound_claims_type": "regex"},
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": "a",
            "claim_mappings": {"a": "x", "b": "x"},
        },
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": "a",
            "token_type": "batch",
            "token_period": 5,
        },
        {"role_type": "jwt", "user_claim": "sub", "bound_audiences": "a", "token_type": "nope"},
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": "a",
            "token_ttl": "2h",
            "token_max_ttl": "1h",
        },
    ],
)
def test_role_refusals(jw: Both, body: dict[str, Any]) -> None:
    jw.same("POST", f"{jw.m}/role/r", json=body)
    jw.same("GET", f"{jw.m}/role/r")


def test_role_write_read_list_delete(jw: Both) -> None:
    jw.same("POST", f"{jw.m}/role/ci", json=CI_ROLE)
    jw.same("GET", f"{jw.m}/role/ci")
    jw.same(
        "POST",
        f"{jw.m}/role/Web",
        json={
            "role_type": "oidc",
            "user_claim": "email",
            "allowed_redirect_uris": "http://localhost:8250/oidc/callback",
            "oidc_scopes": "profile,email",
            "groups_claim": "groups",
            "clock_skew_leeway": "-1",
            "policies": "old-style",
            "ttl": "1h",
        },
    )
    jw.same("GET", f"{jw.m}/role/web")
    jw.same("POST", f"{jw.m}/role/ci", json={"bound_subject": "job-1", "token_policies": "a,b"})
    jw.same("GET", f"{jw.m}/role/ci")
    # a refused update leaves the role as it was
    jw.same("POST", f"{jw.m}/role/ci", json={**CI_ROLE, "token_ttl": "5m", "bound_claims_type": "regex"})
    jw.same("GET", f"{jw.m}/role/ci")
    jw.same("LIST", f"{jw.m}/role")
    jw.same("DELETE", f"{jw.m}/role/web")
    jw.same("LIST", f"{jw.m}/role")


# -- logins with PEM keys -----------------------------------------------------------------------
@pytest.fixture
def ci(jw: Both, pem_keys: dict[str, Any]) -> Both:
    _pem_config(jw, pem_keys)
    jw.status("POST", f"{jw.m}/role/ci", 204, json=CI_ROLE)
    return jw


def _good(**extra: Any) -> dict[str, Any]:
    return _claims(**{"repository": "acme/app", "ref": "refs/heads/main", "actor": "octocat", **extra})


@pytest.mark.parametrize("key,alg", [("rsa", "RS256"), ("rsa", "PS384"), ("ec", "ES256"), ("ed", "EdDSA")])
def test_login_gets_a_batch_token(ci: Both, pem_keys: dict[str, Any], key: str, alg: str) -> None:
    ref, tes = _login(ci, pyjwt.encode(_good(), pem_keys[key], algorithm=alg))
    assert ref["auth"]["token_type"] == tes["auth"]["token_type"] == "batch"
    tokens = (ref["auth"]["client_token"], tes["auth"]["client_token"])
    ci.same("GET", "auth/token/lookup-self", tokens=tokens)


def _bad_cases(keys: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    now = int(time.time())
    rsa_k = keys["rsa"]
    sign = lambda claims, alg="RS256", key=rsa_k: pyjwt.encode(claims, key, algorithm=alg)  # noqa: E731
    return [
        ("expired", sign(_good(exp=now - 120)), "ci"),
        ("expired within leeway", sign(_good(exp=now - 20)), "ci"),
        ("not yet valid", sign(_good(nbf=now + 120)), "ci"),
        ("issued in the future", sign(_good(iat=now + 120)), "ci"),
        ("wrong key", sign(_good(), key=rsa_key()), "ci"),
        ("alg none", pyjwt.encode(_good(), None, algorithm="none"), "ci"),
        ("hmac", pyjwt.encode(_good(), "s" * 32, algorithm="HS256"), "ci"),
        ("not a jws", "abc.def", "ci"),
        ("wrong audience", sign(_good(aud="other")), "ci"),
        ("audience list", sign(_good(aud=["x", "tessera"])), "ci"),
        ("no audience", sign({k: v for k, v in _good().items() if k != "aud"}), "ci"),
        ("wrong issuer", sign(_good(iss="elsewhere")), "ci"),
        ("repository outside the glob", sign(_good(repository="evil/app")), "ci"),
        ("ref from a tag", sign(_good(ref="refs/tags/v1.2")), "ci"),
        ("ref missing", sign({k: v for k, v in _good().items() if k != "ref"}), "ci"),
        ("subject missing", sign({k: v for k, v in _good().items() if k != "sub"}), "ci"),
        ("subject not a string", sign(_good(sub=42)), "ci"),
        ("mapped claim not a string", sign(_good(actor=["a"])), "ci"),
        ("unknown role", sign(_good()), "nope"),
        ("no role", sign(_good()), None),
        ("no jwt", "", "ci"),
    ]


def test_bad_tokens_are_refused_alike(ci: Both, pem_keys: dict[str, Any]) -> None:
    for label, token, role in _bad_cases(pem_keys):
        ref, tes = _login(ci, token, role=role, values=label not in ("ref from a tag", "audience list"))
        if ref.get("auth"):
            assert tes["auth"]["token_type"] == ref["auth"]["token_type"], label
        else:
            assert not tes.get("auth"), label


def test_subject_groups_and_leeway_roles(ci: Both, pem_keys: dict[str, Any]) -> None:
    ci.status(
        "POST",
        f"{ci.m}/role/strict",
        204,
        json={
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_subject": "job-1",
            "clock_skew_leeway": -1,
            "groups_claim": "teams",
        },
    )
    now = int(time.time())
    no_aud = {k: v for k, v in _good().items() if k != "aud"}
    for claims in (
        no_aud,  # teams missing
        {**no_aud, "teams": ["a", 5]},
        {**no_aud, "teams": "solo"},
        {**no_aud, "teams": ["a", "b"], "exp": now - 3},
        {**no_aud, "teams": ["a", "b"], "sub": "job-2"},
        {**no_aud, "teams": ["a", "b"]},
        _good(teams=["a"]),
    ):
        _login(ci, pyjwt.encode(claims, pem_keys["rsa"], algorithm="RS256"), role="strict")


def test_default_role_oidc_role_and_supported_algs(ci: Both, pem_keys: dict[str, Any]) -> None:
    _pem_config(ci, pem_keys, default_role="ci", jwt_supported_algs=["ES256"])
    _login(ci, pyjwt.encode(_good(), pem_keys["rsa"], algorithm="RS256"), role=None)
    _login(ci, pyjwt.encode(_good(), pem_keys["ec"], algorithm="ES256"), role=None)
    ci.status(
        "POST",
        f"{ci.m}/role/browser",
        204,
        json={
            "user_claim": "sub",
            "allowed_redirect_uris": "http://localhost/cb",
            "bound_audiences": "tessera",
        },
    )
    _login(ci, pyjwt.encode(_good(), pem_keys["ec"], algorithm="ES256"), role="browser")


def test_batch_token_reads_and_entity_is_reused(ci: Both, pem_keys: dict[str, Any]) -> None:
    kv = "kv" + uuid.uuid4().hex[:6]
    ci.status("POST", f"sys/mounts/{kv}", 204, json={"type": "kv"})
    ci.status("POST", f"{kv}/app", 204, json={"password": "s3cret"})
    ci.status(
        "PUT", "sys/policies/acl/deploy", 204, json={"policy": f'path "{kv}/*" {{ capabilities = ["read"] }}'}
    )
    first = _login(ci, pyjwt.encode(_good(), pem_keys["rsa"], algorithm="RS256"))
    second = _login(ci, pyjwt.encode(_good(), pem_keys["rsa"], algorithm="RS256"))
    for a, b in zip(first, second, strict=True):
        assert a["auth"]["entity_id"] == b["auth"]["entity_id"]
    tokens = (first[0]["auth"]["client_token"], first[1]["auth"]["client_token"])
    ci.same("GET", f"{kv}/app", tokens=tokens)
    ci.same("POST", f"{kv}/app", json={"x": "y"}, tokens=tokens)
    ci.same("POST", "auth/token/renew-self", tokens=tokens)
    entities = (first[0]["auth"]["entity_id"], first[1]["auth"]["entity_id"])
    bodies = [
        s.call("GET", f"identity/entity/id/{e}")[1] for s, e in zip((ci.ref, ci.tes), entities, strict=True)
    ]
    from tests.helpers.compat import normalize
    from tests.secrets.pairs import strip

    assert strip(normalize(bodies[0]["data"]["aliases"])) == strip(normalize(bodies[1]["data"]["aliases"]))


def test_alias_metadata_follows_the_latest_login(ci: Both, pem_keys: dict[str, Any]) -> None:
    """A login whose mapped claims differ replaces the alias's metadata; the same values change
    nothing (not even the alias's last_update_time)."""
    token = pyjwt.encode(_good(actor="octocat"), pem_keys["rsa"], algorithm="RS256")
    entities = tuple(a["auth"]["entity_id"] for a in _login(ci, token))

    def aliases() -> list[dict[str, Any]]:
        out = []
        for server, entity in zip((ci.ref, ci.tes), entities, strict=True):
            status, body, _ = server.call("GET", f"identity/entity/id/{entity}")
            assert status == 200, body
            out.append(body["data"]["aliases"][0])
        return out

    before = aliases()
    _login(ci, pyjwt.encode(_good(actor="octocat", jti="again"), pem_keys["rsa"], algorithm="RS256"))
    assert aliases() == before
    _login(ci, pyjwt.encode(_good(actor="hubot"), pem_keys["rsa"], algorithm="RS256"))
    after = aliases()
    for old, new in zip(before, after, strict=True):
        assert new["metadata"] == {"role": "ci", "repo": "acme/app", "actor": "hubot"}
        assert new["last_update_time"] > old["last_update_time"]
        assert new["creation_time"] == old["creation_time"] and new["id"] == old["id"]


# -- JWKS and discovery -------------------------------------------------------------------------
def test_jwks_url_with_ca_and_key_rotation(jw: Both, provider: Provider) -> None:
    jw.same("POST", f"{jw.m}/config", json={"jwks_url": provider.url + "/keys"})  # untrusted CA
    jw.status(
        "POST",
        f"{jw.m}/config",
        204,
        json={
            "jwks_url": provider.url + "/keys",
            "jwks_ca_pem": provider.ca_pem,
            "bound_issuer": provider.url,
        },
    )
    jw.same("GET", f"{jw.m}/config")
    jw.status("POST", f"{jw.m}/role/ci", 204, json={**CI_ROLE, "bound_claims": {"repository_owner": "acme"}})
    for kid in (provider.kid(0), provider.kid(1)):
        ref, tes = _login(jw, provider.sign(provider.claims(), kid=kid))
        assert ref["auth"]["token_type"] == tes["auth"]["token_type"] == "batch"
    new_kid = provider.rotate()  # a key published after both servers cached the JWKS
    _login(jw, provider.sign(provider.claims(), kid=new_kid))
    _login(jw, provider.sign(provider.claims(aud="wrong"), kid=new_kid))
    _login(jw, pyjwt.encode(provider.claims(), rsa_key(), algorithm="RS256", headers={"kid": "unknown"}))


def test_oidc_discovery_and_oidc_mount(
    reference: ReferenceServer, tessera: TesseraServer, provider: Provider
) -> None:
    both = _mount(reference, tessera, "oidc")
    both.same("POST", f"{both.m}/config", json={"oidc_discovery_url": provider.url})  # untrusted CA
    both.status(
        "POST",
        f"{both.m}/config",
        204,
        json={
            "oidc_discovery_url": provider.url,
            "oidc_discovery_ca_pem": provider.ca_pem,
            "bound_issuer": provider.url,
        },
    )
    both.same("GET", f"{both.m}/config")
    both.status("POST", f"{both.m}/role/ci", 204, json=CI_ROLE)
    _login(both, provider.sign(provider.claims()))
    _login(both, provider.sign(provider.claims(repository="evil/x")))


def test_jwks_endpoint_down(jw: Both) -> None:
    down = Provider()
    url, ca = down.url, down.ca_pem
    jw.status("POST", f"{jw.m}/config", 204, json={"jwks_url": url + "/keys", "jwks_ca_pem": ca})
    jw.status(
        "POST", f"{jw.m}/role/ci", 204, json={**CI_ROLE, "bound_claims": None, "bound_audiences": "tessera"}
    )
    token = down.sign(down.claims(kid_unknown_to_cache=True), kid=down.rotate())
    down.stop()
    (rs, rb), (ts, tb) = jw.send("POST", f"{jw.m}/login", json={"role": "ci", "jwt": token}, tokens=NO_TOKEN)
    prefix = (
        "error validating token: error verifying token signature: fetching keys oidc: get keys failed Get"
    )
    assert (rs, ts) == (400, 400), (rb, tb)
    assert rb["errors"][0].startswith(prefix) and tb["errors"][0].startswith(prefix), (rb, tb)
    (rs, rb), (ts, tb) = jw.send(
        "POST", f"{jw.m}/config", json={"jwks_url": url + "/keys", "jwks_ca_pem": ca}
    )
    assert rs == ts == 400 and rb["errors"][0].split(":")[0] == tb["errors"][0].split(":")[0], (rb, tb)


def test_groups_claim_joins_external_groups(jw: Both, provider: Provider) -> None:
    """A login's ``groups`` decide its entity's external groups, whose policies its token then has."""
    jw.status(
        "POST",
        f"{jw.m}/config",
        204,
        json={"jwks_url": provider.url + "/keys", "jwks_ca_pem": provider.ca_pem},
    )
    jw.status(
        "POST",
        f"{jw.m}/role/ci",
        204,
        json={**CI_ROLE, "bound_claims": None, "groups_claim": "groups", "token_type": "service"},
    )
    mount = jw.m.split("/", 1)[1] + "/"
    accessors = [s.call("GET", "sys/auth")[1]["data"][mount]["accessor"] for s in (jw.ref, jw.tes)]
    team = "deployers-" + uuid.uuid4().hex[:6]
    policy = "grp-" + team
    jw.status(
        "PUT",
        f"sys/policies/acl/{policy}",
        204,
        json={"policy": 'path "sys/mounts" { capabilities = ["read"] }'},
    )
    for server, accessor in zip((jw.ref, jw.tes), accessors, strict=True):
        status, group, _ = server.call(
            "POST", "identity/group", json={"name": team, "type": "external", "policies": [policy]}
        )
        assert status == 200, group
        status, body, _ = server.call(
            "POST",
            "identity/group-alias",
            json={"name": team, "mount_accessor": accessor, "canonical_id": group["data"]["id"]},
        )
        assert status == 200, body
    sub = "repo:acme/app:" + uuid.uuid4().hex[:6]
    ref, tes = _login(jw, provider.sign(provider.claims(sub=sub, groups=[team, "other"])))
    tokens = (ref["auth"]["client_token"], tes["auth"]["client_token"])
    assert ref["auth"]["identity_policies"] == tes["auth"]["identity_policies"] == [policy]
    (rs, rb), (ts, tb) = jw.send("GET", "sys/mounts", tokens=tokens)  # mounts vary on shared servers
    assert rs == ts, (rb, tb)
    _login(jw, provider.sign(provider.claims(sub=sub, groups=["other"])))  # leaves the group
    (rs, rb), (ts, tb) = jw.send("GET", "sys/mounts", tokens=tokens)  # mounts vary on shared servers
    assert rs == ts, (rb, tb)
    jw.same("GET", "auth/token/lookup-self", tokens=tokens)


# -- OIDC browser flow --------------------------------------------------------------------------
REDIRECT = "http://localhost:8250/oidc/callback"
BROWSER_ROLE = {
    "user_claim": "sub",
    "allowed_redirect_uris": [REDIRECT],
    "claim_mappings": {"email": "email"},
}


def _configure_browser_flow(both: Both, provider: Provider, **extra: str) -> None:
    """Point the mount at the provider's discovery document, as the OIDC client ``tessera-cli``."""
    config = {
        "oidc_discovery_url": provider.url,
        "oidc_discovery_ca_pem": provider.ca_pem,
        "oidc_client_id": "tessera-cli",
        "oidc_client_secret": "s3cret",
        **extra,
    }
    both.status("POST", f"{both.m}/config", 204, json=config)


def test_auth_url_refusals(reference: ReferenceServer, tessera: TesseraServer, provider: Provider) -> None:
    both = _mount(reference, tessera, "oidc")
    both.same(
        "POST", f"{both.m}/oidc/auth_url", json={"role": "web", "redirect_uri": REDIRECT}, tokens=NO_TOKEN
    )
    both.status(
        "POST",
        f"{both.m}/config",
        204,
        json={"jwks_url": provider.url + "/keys", "jwks_ca_pem": provider.ca_pem},
    )
    both.same(
        "POST", f"{both.m}/oidc/auth_url", json={"role": "web", "redirect_uri": REDIRECT}, tokens=NO_TOKEN
    )
    _configure_browser_flow(both, provider)
    both.status("POST", f"{both.m}/role/web", 204, json=BROWSER_ROLE)
    for body in (
        {"redirect_uri": REDIRECT},
        {"role": "web"},
        {"role": "nope", "redirect_uri": REDIRECT},
        {"role": "web", "redirect_uri": "http://evil.example/cb"},
    ):
        both.same("POST", f"{both.m}/oidc/auth_url", json=body, tokens=NO_TOKEN)
    (rs, rb), (ts, tb) = both.send(
        "GET", f"{both.m}/oidc/callback", params={"state": "forged"}, tokens=NO_TOKEN
    )
    assert rs == ts == 400 and rb["errors"] == [e.replace("Vault", "OpenBao") for e in tb["errors"]], (rb, tb)


def test_browser_flow_logs_in(
    reference: ReferenceServer, tessera: TesseraServer, provider: Provider, tmp_path: Path
) -> None:
    """auth_url -> the provider redirects back with a code -> callback exchanges it and logs in."""
    from urllib.parse import parse_qs, urlsplit

    import requests

    from tests.helpers.compat import normalize
    from tests.secrets.pairs import strip

    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(provider.ca_pem)
    both = _mount(reference, tessera, "oidc")
    _configure_browser_flow(both, provider, default_role="web")
    both.status(
        "POST",
        f"{both.m}/role/web",
        204,
        json={**BROWSER_ROLE, "token_policies": "dev", "oidc_scopes": "email"},
    )
    answers = []
    for server in (both.ref, both.tes):
        status, body, _ = server.call(
            "POST", f"{both.m}/oidc/auth_url", json={"redirect_uri": REDIRECT}, token=None
        )
        assert status == 200, body
        url = body["data"]["auth_url"]
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(provider.url + "/authorize?client_id=tessera-cli&")
        assert query["redirect_uri"] == [REDIRECT] and query["response_type"] == ["code"]
        assert set(query["scope"][0].split()) == {"openid", "email"}
        back = requests.get(url, verify=str(ca_file), allow_redirects=False, timeout=10)  # the user consents
        params = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}
        status, body, _ = server.call("GET", f"{both.m}/oidc/callback", params=params, token=None)
        assert status == 200, body
        answers.append(body)
        status, again, _ = server.call("GET", f"{both.m}/oidc/callback", params=params, token=None)
        answers.append((status, again))  # a state is good for one callback only
    assert strip(normalize(answers[0])) == strip(normalize(answers[2]))
    assert answers[3] == (400, {"errors": ["Vault login failed. Expired or missing OAuth state."]})
    assert answers[1] == (400, {"errors": ["OpenBao login failed. Expired or missing OAuth state."]})
    assert answers[0]["auth"]["metadata"] == {"email": "a@x", "role": "web"}


def test_service_token_renewal_follows_the_role(ci: Both, pem_keys: dict[str, Any]) -> None:
    ci.status(
        "POST",
        f"{ci.m}/role/svc",
        204,
        json={**CI_ROLE, "token_type": "service", "token_ttl": "1h", "token_max_ttl": "2h"},
    )
    ref, tes = _login(ci, pyjwt.encode(_good(), pem_keys["rsa"], algorithm="RS256"), role="svc")
    tokens = (ref["auth"]["client_token"], tes["auth"]["client_token"])
    ci.same("POST", "auth/token/renew-self", json={"increment": "30m"}, tokens=tokens)
    ci.status(
        "POST",
        f"{ci.m}/role/svc",
        204,
        json={**CI_ROLE, "token_type": "service", "token_ttl": "10m", "token_policies": "other"},
    )
    ci.same("POST", "auth/token/renew-self", tokens=tokens)
    ci.status("DELETE", f"{ci.m}/role/svc", 204)
    ci.same("POST", "auth/token/renew-self", tokens=tokens)

"""The UI in headless Chromium against real Tessera servers: the flows of issue 27, a screenshot of each page."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.pki import Issuer
from tests.helpers.servers import TesseraServer, free_port, hcl_config
from tests.ui.driver import UITab

LOAD_BUDGET = 1.0  # seconds from the start of a page load until the page has drawn its data


def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 it signed: (ca, cert, key)."""
    root = Issuer.root(folder, "Tessera UI test CA")
    server = root.server()
    return root.write_ca(), server.cert, server.key


def test_initialise_and_unseal_key_by_key_over_tls(browser: Any, screenshots: Path, tmp_path: Path) -> None:
    ca, cert, key = _tls_files(tmp_path)
    config = tmp_path / "tessera.hcl"
    config.write_text(hcl_config(free_port(), tls_cert_file=cert, tls_key_file=key, extra="ui = true\n"))
    with TesseraServer(config=config, ca_cert=ca) as server, UITab(browser, server.addr) as tab:
        assert server.addr.startswith("https://")
        page = tab.open("status")
        init = page.get_by_role("form", name="Initialise")
        init.get_by_label("Key shares").fill("3")
        init.get_by_label("Key threshold").fill("2")
        init.get_by_role("button", name="Initialise").click()
        root_token = init.locator('[data-field="root_token"]').inner_text().strip()  # waits for the answer
        keys = [k.strip() for k in init.locator("ol li code").all_inner_texts()]
        assert len(keys) == 3 and root_token
        tab.shot(screenshots, "status-initialised")

        page = tab.open("status")
        progress = page.locator('[data-field="progress"]')
        assert progress.inner_text() == "Unseal progress: 0 of 2 keys"
        unseal = page.get_by_role("form", name="Unseal")
        unseal.get_by_label("Unseal key").fill(keys[0])
        unseal.get_by_role("button", name="Unseal").click()
        page.get_by_text("Unseal progress: 1 of 2 keys").wait_for()
        assert server.seal_status()["progress"] == 1
        tab.shot(screenshots, "status-unseal-progress")
        unseal.get_by_label("Unseal key").fill(keys[2])
        unseal.get_by_role("button", name="Unseal").click()
        tab.ready("login")  # unsealed, and no token yet
        assert server.seal_status()["sealed"] is False

        login = tab.page.get_by_role("form", name="Log in")
        login.get_by_label("Token").fill(root_token)
        login.get_by_role("button", name="Sign in").click()
        tab.ready("tokens")
        page = tab.open("status")
        page.get_by_text("unsealed", exact=True).wait_for()
        tab.shot(screenshots, "status-unsealed")
        assert tab.errors == []


@pytest.fixture
def admin_login(tessera: TesseraServer) -> dict[str, str]:
    """A userpass user (on a mount of its own) whose policy may do everything the pages need."""
    policy, mount = _unique("ui-admin"), _unique("up")
    rules = 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'
    assert tessera.call("PUT", f"sys/policies/acl/{policy}", json={"policy": rules})[0] == 204
    assert tessera.call("POST", f"sys/auth/{mount}", json={"type": "userpass"})[0] == 204
    user = {"password": "correct horse", "token_policies": [policy]}
    assert tessera.call("POST", f"auth/{mount}/users/alice", json=user)[0] == 204
    return {"mount": mount, "username": "alice", "password": user["password"]}


def _login_userpass(tab: UITab, login: dict[str, str]) -> None:
    tab.open("login")
    form = tab.page.get_by_role("form", name="Log in")
    form.get_by_label("Method").select_option("userpass")
    form.get_by_label("Mount path").fill(login["mount"])
    form.get_by_label("Username").fill(login["username"])
    form.get_by_label("Password").fill(login["password"])
    form.get_by_role("button", name="Sign in").click()
    tab.ready("tokens")


def _create_token(tab: UITab, **fields: str) -> dict[str, str]:
    form = tab.page.get_by_role("form", name="Create a token")
    form.get_by_label("Type", exact=True).select_option(fields.pop("type"))
    for label, value in fields.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button", name="Create token").click()
    result = form.locator(".result .alert.ok")
    result.wait_for()
    facts = dict(
        zip(result.locator("dt").all_inner_texts(), result.locator("dd").all_inner_texts(), strict=True)
    )
    return {**facts, "type": result.locator("[data-type]").inner_text()}


def test_userpass_login_then_batch_and_service_tokens(
    browser: Any, screenshots: Path, tessera: TesseraServer, admin_login: dict[str, str]
) -> None:
    with UITab(browser, tessera.addr) as tab:
        tab.open("login")
        tab.shot(screenshots, "login")
        _login_userpass(tab, admin_login)
        assert f"{admin_login['mount']}-alice" in tab.page.locator("#who").inner_text()

        batch = _create_token(tab, type="batch", Policies="default", TTL="1h")
        service = _create_token(tab, type="service", Policies="default", TTL="2h")
        assert (batch["type"], batch["Accessor"]) == ("batch", "—")  # batch tokens have no accessor
        assert service["type"] == "service" and service["TTL"] == "2h"
        status, looked, _ = tessera.call("POST", "auth/token/lookup", json={"token": service["Token"]})
        assert status == 200 and looked["data"]["type"] == "service"

        listed = tab.page.get_by_role("region", name="Created in this session").locator("tbody tr")
        assert listed.locator("[data-type]").all_inner_texts() == ["service", "batch"]  # newest first
        by_accessor = tab.page.get_by_role("region", name="Tokens by accessor")
        row = by_accessor.locator("tbody tr", has_text=service["Accessor"])
        assert row.locator("[data-type]").inner_text() == "service"
        assert "auth/token/create" in row.inner_text()

        # The page explains, and the server confirms, in Vault's words, that a batch token stays.
        session_card = tab.page.get_by_role("region", name="Created in this session")
        assert "batch tokens cannot be renewed" in session_card.locator(".alert.note").inner_text()
        listed.nth(1).get_by_role("button", name="Revoke").click()
        session_card.get_by_role("alert").get_by_text("batch tokens cannot be revoked").wait_for()
        tab.shot(screenshots, "tokens")

        lookup = tab.page.get_by_role("form", name="Look up a token")
        lookup.get_by_label("Token or accessor").fill(service["Accessor"])
        lookup.get_by_role("button", name="Look up").click()
        lookup.locator("[data-type]").get_by_text("service").wait_for()
        assert "auth/token/create" in lookup.locator(".result").inner_text()

        row.get_by_role("button", name="Revoke").click()
        row.wait_for(state="detached")
        status, _, _ = tessera.call("POST", "auth/token/lookup", json={"token": service["Token"]})
        assert status == 403  # revoked: the token is gone
        status, _, _ = tessera.call("POST", "auth/token/lookup", json={"token": batch["Token"]})
        assert status == 200
        tab.page.set_viewport_size({"width": 390, "height": 844})
        tab.shot(screenshots, "tokens-narrow")
        assert tab.errors == []


def test_write_and_read_a_kv_secret(
    browser: Any, screenshots: Path, tessera: TesseraServer, admin_login: dict[str, str]
) -> None:
    folder = _unique("ui-kv")
    with UITab(browser, tessera.addr) as tab:
        _login_userpass(tab, admin_login)
        page = tab.open("kv/secret/")
        form = page.get_by_role("form", name="Write secret")
        form.get_by_label("Path").fill(f"{folder}/db")
        form.get_by_label("Data (JSON object)").fill('{"password": "s3cret", "port": 5432}')
        form.get_by_role("button", name="Save").click()
        page = tab.ready("kv")
        page.get_by_role("region", name="Version 1").wait_for()
        assert page.locator('[data-key="password"]').inner_text() == "s3cret"
        _, stored, _ = tessera.call("GET", f"secret/data/{folder}/db")
        assert stored["data"]["data"] == {"password": "s3cret", "port": 5432}

        form = page.get_by_role("form", name="Write secret")
        form.get_by_label("Data (JSON object)").fill('{"password": "rotated"}')
        form.get_by_role("button", name="Save new version").click()
        tab.page.reload()
        page = tab.ready("kv")
        assert page.locator('[data-key="password"]').inner_text() == "rotated"
        versions = page.get_by_role("region", name="Versions").locator("tbody tr")
        assert versions.count() == 2
        tab.shot(screenshots, "kv-secret")
        versions.get_by_role("link", name="1", exact=True).click()
        tab.ready("kv").get_by_role("region", name="Version 1").wait_for()
        assert tab.page.locator('[data-key="password"]').inner_text() == "s3cret"
        assert tab.errors == []


def test_kv_version_1(browser: Any, tessera: TesseraServer, admin_login: dict[str, str]) -> None:
    mount = _unique("ui-kv1")
    assert (
        tessera.call("POST", f"sys/mounts/{mount}", json={"type": "kv", "options": {"version": "1"}})[0]
        == 204
    )
    with UITab(browser, tessera.addr) as tab:
        _login_userpass(tab, admin_login)
        page = tab.open(f"kv/{mount}/")
        assert "KV v1" in page.locator("h1").inner_text()
        form = page.get_by_role("form", name="Write secret")
        form.get_by_label("Path").fill("app")
        form.get_by_label("Data (JSON object)").fill('{"user": "svc"}')
        form.get_by_role("button", name="Save").click()
        tab.ready("kv").locator('[data-key="user"]').get_by_text("svc").wait_for()
        assert tessera.call("GET", f"{mount}/app")[1]["data"] == {"user": "svc"}
        tab.open(f"kv/{mount}/").get_by_role("link", name="app", exact=True).wait_for()
        assert tab.errors == []


def test_a_policy_with_a_syntax_error_shows_the_servers_error(
    browser: Any, screenshots: Path, tessera: TesseraServer, admin_login: dict[str, str]
) -> None:
    name, text = _unique("ui-bad"), 'path "secret/*" { capabilities = ["read"] '
    status, expected, _ = tessera.call("PUT", f"sys/policies/acl/{name}", json={"policy": text})
    assert status == 400 and expected["errors"]
    with UITab(browser, tessera.addr) as tab:
        _login_userpass(tab, admin_login)
        page = tab.open("policies")
        form = page.get_by_role("form", name="Create a policy")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Policy (HCL)").fill(text)
        form.get_by_role("button", name="Save").click()
        alert = form.get_by_role("alert")
        alert.wait_for()
        assert alert.inner_text().strip() == "\n".join(expected["errors"])
        tab.shot(screenshots, "policy-error")
        assert tessera.call("GET", f"sys/policies/acl/{name}")[0] == 404
        assert tab.errors == []


def test_every_page_draws_quickly_without_console_errors(
    browser: Any, screenshots: Path, tessera: TesseraServer
) -> None:
    transit, approle = _unique("ui-transit"), _unique("ui-approle")
    assert tessera.call("POST", f"sys/mounts/{transit}", json={"type": "transit"})[0] == 204
    assert tessera.call("POST", f"{transit}/keys/orders", json={})[0] in (200, 204)
    assert tessera.call("POST", f"sys/auth/{approle}", json={"type": "approle"})[0] == 204
    role = {"token_type": "batch", "token_ttl": "20m", "token_policies": ["default"]}
    assert tessera.call("POST", f"auth/{approle}/role/ci", json=role)[0] == 204
    routes = {
        "status": "status",
        "login": "login",
        "secrets": "secrets",
        "kv": "kv/secret/",
        "transit": f"transit/{transit}",
        "tokens": "tokens",
        "policies": "policies",
        "policy": "policies/default",
        "approle": f"approle/{approle}",
        "leases": "leases/auth/token/create/",
        "audit": "audit",
    }
    times = {}
    with UITab(browser, tessera.addr) as tab:
        tab.open("status", token=tessera.root_token)
        # Keyboard first: the first Tab reaches the skip link, which takes focus past the navigation.
        tab.page.keyboard.press("Tab")
        assert tab.page.evaluate("document.activeElement.textContent") == "Skip to content"
        tab.page.keyboard.press("Enter")
        assert tab.page.evaluate("document.activeElement.id") == "main"
        for name, route in routes.items():
            # The best of up to three loads: the machine running the tests may be busy with others.
            for _ in range(3):
                tab.open(route)
                times[name] = min(times.get(name, LOAD_BUDGET * 10), tab.load_seconds())
                if times[name] < LOAD_BUDGET:
                    break
            tab.shot(screenshots, f"page-{name}")
        print("page load seconds:", {k: round(v, 3) for k, v in times.items()})
        assert max(times.values()) < LOAD_BUDGET, times

        approle_row = tab.open(f"approle/{approle}").locator("tbody tr", has_text="ci")
        assert "batch" in approle_row.inner_text()
        page = tab.open(f"transit/{transit}")
        encrypt = page.get_by_role("form", name="Encrypt")
        encrypt.get_by_label("Plaintext").fill("hello, tessera ✓")
        encrypt.get_by_role("button", name="Encrypt").click()
        ciphertext = encrypt.locator('[data-field="ciphertext"]').inner_text()
        assert ciphertext.startswith("vault:v1:")
        decrypt = page.get_by_role("form", name="Decrypt")
        decrypt.get_by_label("Ciphertext").fill(ciphertext)
        decrypt.get_by_role("button", name="Decrypt").click()
        assert decrypt.locator('[data-field="plaintext"]').inner_text() == "hello, tessera ✓"

        # AppRole login: the role gives batch tokens, which the header then shows as the identity.
        role_id = tessera.call("GET", f"auth/{approle}/role/ci/role-id")[1]["data"]["role_id"]
        secret_id = tessera.call("POST", f"auth/{approle}/role/ci/secret-id", json={})[1]["data"]["secret_id"]
        form = tab.open("login").get_by_role("form", name="Log in")
        form.get_by_label("Method").select_option("approle")
        form.get_by_label("Mount path").fill(approle)
        form.get_by_label("Role ID").fill(role_id)
        form.get_by_label("Secret ID").fill(secret_id)
        form.get_by_role("button", name="Sign in").click()
        tab.ready("tokens")
        tab.page.locator("#who").get_by_text(f"{approle} (default)").wait_for()
        token = tab.page.evaluate("sessionStorage.getItem('tessera.token')")
        assert token.startswith("hvb.")
        assert tab.page.evaluate("localStorage.length") == 0 and token not in tab.page.url
        assert tab.errors == []

"""End to end: a Tessera server and ``tessera agent`` as separate processes on loopback.

Short token TTLs (4 s) make the LifetimeWatcher's schedule observable in seconds: a renewable
service token is renewed at ~2/3 of its TTL (and the sink keeps the same token), a batch token is
replaced by a fresh login at ~2/3 of its TTL (and the sink is rewritten).
"""

from __future__ import annotations

import itertools
import json
import re
import stat
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import hvac
import requests

from tests.agent.helpers import AgentProcess, approle_block, ok, read_text, setup_approle, wait_for
from tests.helpers.servers import TesseraServer, free_port, hcl_config

_STAMP = re.compile(r"^(\S+Z) \[INFO\]  agent\.auth\.handler: authentication successful", re.M)


def _login_times(log: str) -> list[float]:
    return [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in _STAMP.findall(log)]


def test_service_token_is_renewed_and_the_sink_keeps_it(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    role_file, secret_file = setup_approle(
        fresh_tessera, "svc", tmp_path, token_ttl="4s", token_max_ttl="60s"
    )
    sink = tmp_path / "token"
    pid_file = tmp_path / "agent.pid"
    agent = start_agent(
        f'pid_file = "{pid_file}"\nvault {{ address = "{fresh_tessera.addr}" }}\n'
        f"auto_auth {{\n{approle_block(role_file, secret_file)}"
        f'sink "file" {{ config = {{ path = "{sink}", mode = 0600 }} }}\n}}\n'
    )
    token = wait_for(lambda: read_text(sink), 15, "the sink to be written")
    assert token.startswith("hvs.") and "\n" not in token
    assert stat.S_IMODE(sink.stat().st_mode) == 0o600
    assert pid_file.read_text() == str(agent.process.pid)  # type: ignore[union-attr]
    # renewed at once, then every ~2.9 s: three renewals take ~6 s
    wait_for(lambda: agent.count("renewed auth token") >= 3, 12, "three renewals")
    assert read_text(sink) == token
    assert agent.count("agent.auth.handler: authenticating") == 1
    assert agent.count("token written") == 1
    answer = ok(fresh_tessera, "GET", "auth/token/lookup-self", token=token)["data"]
    assert answer["renewable"] is True and 0 < answer["ttl"] <= 4
    assert secret_file.exists()  # remove_secret_id_file_after_reading = false
    assert agent.terminate() == 0
    log = agent.log()
    assert "==> Tessera Agent shutdown triggered" in log
    assert "shutdown triggered, stopping lifetime watcher" in log
    assert not pid_file.exists()
    # shutting down revokes nothing
    assert ok(fresh_tessera, "GET", "auth/token/lookup-self", token=token)["data"]["ttl"] > 0


def test_batch_token_is_replaced_before_it_expires(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    role_file, secret_file = setup_approle(fresh_tessera, "bat", tmp_path, token_type="batch", token_ttl="4s")
    sink = tmp_path / "token"
    agent = start_agent(
        f'vault {{ address = "{fresh_tessera.addr}" }}\n'
        f"auto_auth {{\n{approle_block(role_file, secret_file)}"
        f'sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
    )
    seen = [wait_for(lambda: read_text(sink), 15, "the sink to be written")]
    assert seen[0].startswith("hvb.")
    for _ in range(2):
        seen.append(
            wait_for(lambda: (t := read_text(sink)) != seen[-1] and t, 8, "a new batch token in the sink")
        )
        assert ok(fresh_tessera, "GET", "auth/token/lookup-self", token=seen[-1])["data"]["type"] == "batch"
    assert len(set(seen)) == 3
    assert agent.count("renewed auth token") == 0  # batch tokens are never renewed
    assert agent.count("lifetime watcher done channel triggered") >= 2
    logins = _login_times(agent.log())
    gaps = [b - a for a, b in itertools.pairwise(logins)]
    assert gaps and all(2.0 < gap < 4.0 for gap in gaps), gaps  # ~2/3 of the 4 s TTL, before expiry


def test_templates_render_and_follow_secret_changes_and_the_proxy_caches(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    server = fresh_tessera
    ok(server, "POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
    ok(server, "POST", "kv1/db", {"user": "app", "port": 5432})
    ok(server, "POST", "secret/data/app", {"data": {"password": "s3cret", "api_key": "k1"}})
    role_file, secret_file = setup_approle(server, "web", tmp_path, token_ttl="1h")
    source = tmp_path / "db.ctmpl"
    source.write_text('{{ with secret "kv1/db" }}{{ .Data.user }}@db:{{ .Data.port }}{{ end }}\n')
    out_v2, out_v1 = tmp_path / "out" / "app.txt", tmp_path / "db.txt"
    port = free_port()
    proxy = f"http://127.0.0.1:{port}"
    contents = (
        '{{ with secret \\"secret/app\\" }}password={{ .Data.data.password }}\\n'
        "{{ .Data.data | toJSON }}\\nv{{ .Data.metadata.version }}{{ end }}\\n"
    )
    start_agent(
        f'vault {{ address = "{server.addr}" }}\n'
        f"auto_auth {{\n{approle_block(role_file, secret_file)}}}\n"
        'template_config { static_secret_render_interval = "1s" }\n'
        f'template {{\n  contents = "{contents}"\n  destination = "{out_v2}"\n}}\n'
        f'template {{\n  source = "{source}"\n  destination = "{out_v1}"\n  perms = "0640"\n}}\n'
        "cache {}\n"
        "api_proxy { use_auto_auth_token = true }\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    )
    wait_for(lambda: read_text(out_v2), 15, "the KV v2 template")
    assert read_text(out_v2) == 'password=s3cret\n{"api_key":"k1","password":"s3cret"}\nv1\n'
    assert wait_for(lambda: read_text(out_v1), 5, "the KV v1 template") == "app@db:5432\n"
    assert stat.S_IMODE(out_v1.stat().st_mode) == 0o640
    ok(server, "POST", "secret/data/app", {"data": {"password": "rotated", "api_key": "k1"}})
    wait_for(lambda: "password=rotated" in read_text(out_v2), 6, "the template to re-render")
    assert read_text(out_v2).endswith("v2\n")

    # the proxy: the auto-auth token is added, and stripped from answers about itself
    wait_for(lambda: _answers(proxy), 10, "the proxy listener")
    resp = requests.get(f"{proxy}/v1/secret/data/app", timeout=10)
    assert resp.status_code == 200 and resp.json()["data"]["data"]["password"] == "rotated"
    assert resp.headers["X-Cache"] == "MISS"
    me = requests.get(f"{proxy}/v1/auth/token/lookup-self", timeout=10).json()["data"]
    assert "id" not in me and "accessor" not in me and me["policies"] == ["app", "default"]
    # a real Vault client, configured with no token at all
    client = hvac.Client(url=proxy, token="")
    read = client.secrets.kv.v2.read_secret_version(
        path="app", mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"password": "rotated", "api_key": "k1"}
    # a client's own token passes through (the root token may list mounts; the agent's may not)
    assert requests.get(f"{proxy}/v1/sys/mounts", timeout=10).status_code == 403
    assert requests.get(f"{proxy}/v1/sys/mounts", headers={"X-Vault-Token": "root"}, timeout=10).ok

    # tokens minted through the proxy are cached until revoked through it
    body = {"policies": ["default"], "ttl": "10m"}
    first = requests.post(f"{proxy}/v1/auth/token/create", json=body, timeout=10)
    second = requests.post(f"{proxy}/v1/auth/token/create", json=body, timeout=10)
    assert first.headers["X-Cache"] == "MISS" and second.headers["X-Cache"] == "HIT"
    assert "Age" in second.headers
    child = first.json()["auth"]["client_token"]
    assert second.json()["auth"]["client_token"] == child
    revoke = requests.post(f"{proxy}/v1/auth/token/revoke", json={"token": child}, timeout=10)
    assert revoke.status_code == 204
    third = requests.post(f"{proxy}/v1/auth/token/create", json=body, timeout=10)
    assert third.headers["X-Cache"] == "MISS"
    assert third.json()["auth"]["client_token"] != child
    bad = requests.post(f"{proxy}/agent/v1/cache-clear", json={"type": "bogus"}, timeout=10)
    assert bad.status_code == 400 and bad.json() == {
        "errors": ["failed to clear cache: invalid type provided"]
    }
    assert requests.post(f"{proxy}/agent/v1/cache-clear", json={"type": "all"}, timeout=10).status_code == 200
    fourth = requests.post(f"{proxy}/v1/auth/token/create", json=body, timeout=10)
    assert fourth.headers["X-Cache"] == "MISS"


def _answers(addr: str) -> bool:
    try:
        requests.get(f"{addr}/v1/sys/health", timeout=2)
    except requests.RequestException:
        return False
    return True


def test_agent_survives_a_server_outage(tmp_path: Path, start_agent: Callable[..., AgentProcess]) -> None:
    port = free_port()
    config = tmp_path / "server.hcl"
    config.write_text(
        hcl_config(port, storage="sqlite", storage_options={"path": str(tmp_path / "tessera.db")})
    )
    server = TesseraServer(config=config)
    try:
        server.start()
        server.init()
        server.unseal()
        role_file, secret_file = setup_approle(server, "svc", tmp_path, token_ttl="4s", token_max_ttl="10m")
        sink = tmp_path / "token"
        agent = start_agent(
            f'vault {{ address = "{server.addr}" }}\n'
            "auto_auth {\n"
            + approle_block(role_file, secret_file, extra='  min_backoff = "1s"\n  max_backoff = "2s"\n')
            + f'sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
        )
        before = wait_for(lambda: read_text(sink), 15, "the first token")
        wait_for(lambda: agent.count("renewed auth token") >= 1, 5, "a renewal")
        server.kill()
        down = time.monotonic()
        time.sleep(3)
        assert agent.running(), agent.log()
        wait_for(lambda: agent.count(r"\[ERROR\]") >= 1, 5, "the failure to be logged")
        server.restart()
        server.unseal()
        outage = time.monotonic() - down

        def new_valid_token() -> str:
            """The renewal failed during the outage, so the agent gave the old token up and logs in again."""
            token = read_text(sink)
            if token == before:
                return ""
            status, _, _ = server.call("GET", "auth/token/lookup-self", token=token)
            return token if status == 200 else ""

        wait_for(new_valid_token, 15, "a new valid token in the sink after the outage", interval=0.2)
        assert agent.running()
        log = agent.log()
        assert "connection refused" in log
        assert "lifetime watcher done channel triggered" in log
        # backed off (1 s, then ≤ 2 s) instead of hammering the server
        attempts = agent.count("agent.auth.handler: authenticating")
        assert attempts <= 2 + outage / 0.75 + 6, (attempts, outage)
        assert re.search(r"error authenticating: .*backoff=", log)
        assert agent.terminate() == 0
    finally:
        server.cleanup()


def test_exit_after_auth_renders_once_and_removes_the_secret_id(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    ok(fresh_tessera, "POST", "secret/data/once", {"data": {"v": "1"}})
    role_file, secret_file = setup_approle(fresh_tessera, "once", tmp_path, token_ttl="10m")
    sink, out = tmp_path / "token", tmp_path / "once.txt"
    agent = start_agent(
        f'exit_after_auth = true\nvault {{ address = "{fresh_tessera.addr}" }}\n'
        f"auto_auth {{\n{approle_block(role_file, secret_file, remove=True)}"
        f'sink "file" {{ config = {{ path = "{sink}" }} }}\n}}\n'
        f'template {{\n  contents = "{{{{ with secret \\"secret/data/once\\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}"\n'
        f'  destination = "{out}"\n}}\n'
    )
    assert agent.wait_exit(15) == 0, agent.log()
    assert read_text(sink).startswith("hvs.")
    assert read_text(out) == "1"
    assert not secret_file.exists()
    assert "sinks finished, exiting" in agent.log()


def test_token_file_method_and_a_wrapped_sink(
    fresh_tessera: TesseraServer, tmp_path: Path, start_agent: Callable[..., AgentProcess]
) -> None:
    token = ok(fresh_tessera, "POST", "auth/token/create", {"ttl": "1h", "policies": ["default"]})["auth"][
        "client_token"
    ]
    token_file = tmp_path / "vault-token"
    token_file.write_text(token + "\n")
    sink = tmp_path / "wrapped"
    agent = start_agent(
        f'vault {{ address = "{fresh_tessera.addr}" }}\n'
        "auto_auth {\n"
        f'  method "token_file" {{ config = {{ token_file_path = "{token_file}" }} }}\n'
        f'  sink "file" {{\n    wrap_ttl = "5m"\n    config = {{ path = "{sink}" }}\n  }}\n}}\n',
        args=["-exit-after-auth"],
    )
    assert agent.wait_exit(15) == 0, agent.log()
    content = read_text(sink)
    assert content.endswith("\n")
    info = json.loads(content)
    assert list(info)[:2] == ["token", "accessor"] and info["ttl"] == 300
    assert info["creation_path"] == "sys/wrapping/wrap"
    unwrapped = ok(fresh_tessera, "PUT", "sys/wrapping/unwrap", token=info["token"])
    assert unwrapped["data"]["token"] == token

"""Agent configuration: Vault Agent's HCL shapes, Go's number and string rules, Vault's error texts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tessera.agent.command import run
from tessera.agent.config import ConfigError, load_file, parse_config, validate

FULL = r"""
pid_file = "./pidfile"
exit_after_auth = false
vault {
  address = "http://127.0.0.1:8200"
  tls_skip_verify = "true"
  retry { num_retries = -1 }
}
auto_auth {
  method "approle" {
    mount_path = "auth/approle/"
    min_backoff = "1s"
    max_backoff = "2s"
    config = {
      role_id_file_path = "/etc/agent/role_id"
      secret_id_file_path = "/etc/agent/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config = { path = "/run/token", mode = 0600 } }
  sink "file" {
    wrap_ttl = "5m"
    config = { path = "/run/wrapped" }
  }
}
cache { use_auto_auth_token = "force" }
listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
}
template_config { static_secret_render_interval = "10s" }
template {
  contents = "a\tb\n{{ .Data }} \u00e9"
  destination = "/run/a"
  perms = "0640"
}
template {
  source = "/etc/agent/b.ctmpl"
  destination = "/run/b"
  perms = 0600
  exec { command = ["systemctl", "reload", "app"] }
}
"""


def test_full_config_decodes_like_vault_agent() -> None:
    cfg = parse_config(FULL)
    validate(cfg)
    assert cfg.pid_file == "./pidfile"
    assert cfg.vault is not None and cfg.vault.tls_skip_verify and cfg.vault.num_retries == 0
    assert cfg.auto_auth is not None
    method = cfg.auto_auth.method
    assert (method.type, method.mount_path, method.min_backoff, method.max_backoff) == (
        "approle",
        "auth/approle",
        1,
        2,
    )
    assert method.config["remove_secret_id_file_after_reading"] is False
    sinks = cfg.auto_auth.sinks
    assert [s.config["path"] for s in sinks] == ["/run/token", "/run/wrapped"]
    assert sinks[0].config["mode"] == 0o600  # Go reads a leading zero as octal
    assert sinks[1].wrap_ttl == 300
    assert (
        cfg.api_proxy is not None
        and cfg.api_proxy.use_auto_auth_token
        and cfg.api_proxy.force_auto_auth_token
    )
    assert cfg.listeners[0].host_port == ("127.0.0.1", 8100) and cfg.listeners[0].tls_disable
    assert cfg.template_config.static_secret_render_interval == 10
    # two template blocks stay two templates, with Go's string escapes decoded
    first, second = cfg.templates
    assert first.contents == "a\tb\n{{ .Data }} é" and first.source == "" and first.perms == 0o640
    assert second.contents is None and second.source == "/etc/agent/b.ctmpl" and second.perms == 0o600
    assert second.command == ["systemctl", "reload", "app"]


def test_method_and_sink_types_may_be_attributes() -> None:
    cfg = parse_config(
        'auto_auth {\n method { type = "token_file"\n config = { token_file_path = "/t" } }\n'
        ' sink { type = "file"\n config = { path = "/s" } }\n}\n'
    )
    assert cfg.auto_auth is not None
    assert cfg.auto_auth.method.type == "token_file" and cfg.auto_auth.method.mount_path == "auth/token_file"
    assert cfg.auto_auth.sinks[0].type == "file"


def test_json_config() -> None:
    cfg = parse_config(
        '{"auto_auth": {"method": [{"approle": {"config": {"role_id_file_path": "/r"}}}],'
        ' "sink": [{"file": {"config": {"path": "/t"}}}]}, "template": [{"contents": "x", "destination": "/a"},'
        ' {"contents": "y", "destination": "/b"}]}'
    )
    assert cfg.auto_auth is not None and cfg.auto_auth.method.type == "approle"
    assert [t.contents for t in cfg.templates] == ["x", "y"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('vault { address = "http://x" }', "no auto_auth, cache, or listener block found in config"),
        (
            'auto_auth { method "approle" { config = { role_id_file_path = "/r" } } }',
            "auto_auth requires at least one sink or at least one template or api_proxy.use_auto_auth_token=true",
        ),
        (
            'auto_auth {\n method "approle" { config = { a = 1 } }\n sink "file" { config = { path = "/t" } }\n}\n'
            "cache {}",
            "enabling the cache requires at least 1 template or 1 listener to be defined",
        ),
        (
            'cache { use_auto_auth_token = true }\nlistener "tcp" { address = "127.0.0.1:1"\ntls_disable = true }',
            "cache.use_auto_auth_token is true but auto_auth not configured",
        ),
        (
            'auto_auth {\n method "approle" {\n wrap_ttl = "1m"\n config = { a = 1 } }\n'
            ' sink "file" { config = { path = "/t" } }\n}\ncache { use_auto_auth_token = true }\n'
            'listener "tcp" { address = "127.0.0.1:1"\ntls_disable = true }',
            "cache.use_auto_auth_token is true and auto_auth uses wrapping",
        ),
    ],
)
def test_validation_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(parse_config(text))
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'cache { use_auto_auth_token = "bogus" }',
            "error parsing 'cache':value of 'use_auto_auth_token' can be either true/false/force, "
            '"bogus" is an invalid option',
        ),
        (
            'auto_auth {\n method "approle" {\n wrap_ttl = "1m"\n config = { a = 1 } }\n}',
            "error parsing 'auto_auth': error parsing auto_auth: wrapping enabled on auth method and 0 or many "
            "sinks defined",
        ),
        (
            'auto_auth {\n method "approle" { config = { a = 1 } }\n'
            ' sink "file" {\n dh_type = "curve25519"\n config = { path = "/t" } }\n}',
            "error parsing 'auto_auth': error parsing 'sink' stanzas: 1 error occurred:\n"
            "\t* sink.file: 'dh_type' and 'dh_path' must be specified together\n\n",
        ),
        (
            'auto_auth {\n sink "file" { config = { path = "/t" } }\n}',
            "error parsing 'auto_auth': error parsing"
            " 'method': one and only one \"method\" block is required",
        ),
        (
            'auto_auth {\n method "approle" {\n  config = { role_id_file_path = "/x" } }\n',
            "At 4:2: object expected closing RBRACE got: EOF",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert str(err.value) == message


def test_load_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^stat .*/nope\.hcl: no such file or directory$"):
        load_file(str(tmp_path / "nope.hcl"))


def test_directory_of_files_is_merged(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text('template {\n contents = "a"\n destination = "/a"\n}\n')
    (tmp_path / "b.hcl").write_text('template {\n contents = "b"\n destination = "/b"\n}\npid_file = "/p"\n')
    (tmp_path / "b.hcl~").write_text("garbage {")
    cfg = load_file(str(tmp_path))
    assert [t.contents for t in cfg.templates] == ["a", "b"] and cfg.pid_file == "/p"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit code and stderr without the log lines (as Vault, the agent logs before failing)."""
    code = run(argv)
    err = capsys.readouterr().err
    return code, "".join(line for line in err.splitlines(True) if not re.match(r"\d{4}-\d\d-\d\dT", line))


def test_command_startup_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([], capsys) == (1, "Must specify exactly at least one config path using -config\n")
    assert _run(["-bogus"], capsys) == (1, "flag provided but not defined: -bogus\n")
    assert run(["-h"]) == 0 and capsys.readouterr().out.startswith("Usage: tessera agent [options]")
    missing = tmp_path / "missing.hcl"
    assert _run([f"-config={missing}"], capsys) == (
        1,
        f"error loading configuration from {missing}: stat {missing}: no such file or directory\n",
    )
    cfg = tmp_path / "agent.hcl"
    cfg.write_text('vault { address = "http://127.0.0.1:1" }\n')
    assert _run([f"-config={cfg}"], capsys) == (
        1,
        "error validating configuration: no auto_auth, cache, or listener block found in config\n",
    )
    sink = f'sink "file" {{ config = {{ path = "{tmp_path}/t" }} }}'
    cfg.write_text(f'auto_auth {{\n method "approle" {{ config = {{ }} }}\n {sink}\n}}\n')
    assert _run([f"-config={cfg}"], capsys) == (
        1,
        "Error creating approle auth method: missing 'role_id_file_path' value\n",
    )
    cfg.write_text(f'auto_auth {{\n method "bogus" {{ config = {{ a = 1 }} }}\n {sink}\n}}\n')
    assert _run([f"-config={cfg}"], capsys) == (
        1,
        'Error creating bogus auth method: unknown auth method "bogus"\n',
    )
    method = 'method "approle" { config = { role_id_file_path = "/x" } }'
    cfg.write_text(
        f'auto_auth {{\n {method}\n sink "file" {{ config = {{ path = "/t", mode = "0600" }} }}\n}}\n'
    )
    assert _run([f"-config={cfg}"], capsys) == (
        1,
        "error creating file sink: could not parse 'mode' as integer\n",
    )
    cfg.write_text(
        f'auto_auth {{\n {method}\n sink "file" {{ config = {{ path = "/nonexistent/t" }} }}\n}}\n'
    )
    code, err = _run([f"-config={cfg}"], capsys)
    assert code == 1
    assert err.startswith(
        "error creating file sink: error during write check: error opening temp file in dir"
    )
    assert err.endswith(": no such file or directory\n")
    cfg.write_text(
        f'auto_auth {{\n {method}\n {sink}\n}}\ntemplate {{\n contents = "{{{{ nope }}}}"\n destination = "/a"\n}}\n'
    )
    assert _run([f"-config={cfg}"], capsys) == (
        1,
        'error creating template server: template: (dynamic):1: function "nope" not defined\n',
    )

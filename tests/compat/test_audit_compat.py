"""Differential tests of audit lines: the same requests against the reference and Tessera, each with
a file audit device, and the lines they write compared field by field.

Lines are normalised (times, request IDs, versions, mount accessor names and UUIDs become
placeholders) and every HMAC becomes ``<hmac>``, so the comparison covers which fields a line has,
their values, and which of them are hashed. Batch-token requests (no accessor), logins, denials,
unknown tokens and paths, errors, wrapping and LIST elision are among the scenarios.

Known difference: Tessera does not know the client's port (its HTTP layer does not pass it on), so
``remote_port`` is left out of the reference's lines before comparing.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.audit.support import (
    AuditFile,
    ReferenceServer,
    TesseraServer,
    drop,
    enable_file_device,
    hashed_paths,
    normalize_line,
    start_server,
)
from tests.helpers.servers import ServerProcess

KNOWN_MISSING = frozenset({"remote_port"})


@dataclass
class Side:
    """One server of the pair, with its audit file and the tokens a scenario made on it."""

    server: ServerProcess
    audit: AuditFile
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = self.server.call(method, path, **kwargs)
        return status, body


@dataclass
class Pair:
    reference: Side
    tessera: Side

    def run(self, step: Callable[[Side], Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Run ``step`` on both servers; their new audit lines."""
        out = []
        for side in (self.reference, self.tessera):
            side.audit.mark()
            step(side)
            out.append(side.audit.since())
        return out[0], out[1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("audit-compat")
    ref = start_server(ReferenceServer, base / "ref")
    tes = start_server(TesseraServer, base / "tes")
    try:
        sides = []
        for server, name in ((ref, "ref"), (tes, "tes")):
            log = base / name / "audit.log"
            enable_file_device(server, "file", log)
            sides.append(Side(server, AuditFile(log)))
        yield Pair(*sides)
    finally:
        ref.cleanup()
        tes.cleanup()


def compare(ref_lines: list[dict[str, Any]], tes_lines: list[dict[str, Any]]) -> None:
    nref = [normalize_line(drop(line, KNOWN_MISSING)) for line in ref_lines]
    ntes = [normalize_line(line) for line in tes_lines]
    assert [line["type"] for line in ntes] == [line["type"] for line in nref], "line kinds differ"
    for i, (a, b) in enumerate(zip(nref, ntes, strict=True)):
        assert hashed_paths(ref_lines[i]) == hashed_paths(tes_lines[i]), f"line {i}: hashed fields differ"
        assert a == b, f"line {i} differs:\n  reference: {a}\n  tessera:   {b}"


# -- scenarios -----------------------------------------------------------------------------------
SECRET = {"password": "hunter2", "n": 5, "l": ["a", 1, True, None], "t": "2026-01-02T03:04:05Z"}


def kv_write_read(s: Side) -> None:
    s.call("POST", "secret/data/audit-kv", json={"data": SECRET})
    s.call("GET", "secret/data/audit-kv")
    s.call("GET", "secret/data/audit-kv", params={"version": "1"})


def kv_list_and_missing(s: Side) -> None:
    s.call("POST", "secret/data/audit-list/a", json={"data": {"x": "y"}})
    s.call("LIST", "secret/metadata/audit-list")
    s.call("GET", "secret/data/audit-list/missing")


def unknown_token(s: Side) -> None:
    s.call("GET", "secret/data/audit-kv", token="not-a-real-token")


def no_token(s: Side) -> None:
    s.call("GET", "secret/data/audit-kv", auth=False)


def unknown_path(s: Side) -> None:
    s.call("GET", "nonexistent-mount/foo")


def field_error(s: Side) -> None:
    s.call("POST", "auth/token/create", json={"ttl": "bogus"})


def userpass_logins(s: Side) -> None:
    s.call("POST", "sys/auth/audit-up", json={"type": "userpass"})
    s.call("POST", "auth/audit-up/users/bob", json={"password": "pw-secret-1", "policies": "default"})
    s.call("POST", "auth/audit-up/login/bob", json={"password": "pw-secret-1"}, auth=False)
    s.call("POST", "auth/audit-up/login/bob", json={"password": "wrong-pw"}, auth=False)


def batch_token(s: Side) -> None:
    _, body = s.call(
        "POST", "auth/token/create", json={"type": "batch", "policies": ["default"], "ttl": "1h"}
    )
    token = body["auth"]["client_token"]
    s.tokens["batch"] = token
    s.call("GET", "secret/data/audit-kv", token=token)
    s.call("GET", "auth/token/lookup-self", token=token)


def limited_service_token(s: Side) -> None:
    _, body = s.call(
        "POST",
        "auth/token/create",
        json={"policies": ["default"], "num_uses": 3, "meta": {"k": "v"}, "ttl": "1h"},
    )
    token = body["auth"]["client_token"]
    s.call("GET", "secret/data/audit-kv", token=token)
    s.call("GET", "auth/token/lookup-self", token=token)


def policy_grants(s: Side) -> None:
    policy = 'path "secret/data/audit-pol/*" { capabilities = ["read", "create", "update"] }'
    s.call("PUT", "sys/policies/acl/audit-reader", json={"policy": policy})
    _, body = s.call("POST", "auth/token/create", json={"policies": ["audit-reader", "default"], "ttl": "1h"})
    token = body["auth"]["client_token"]
    s.call("POST", "secret/data/audit-pol/x", json={"data": {"k": "v"}}, token=token)
    s.call("GET", "secret/data/audit-pol/x", token=token)
    s.call("GET", "secret/data/elsewhere", token=token)


def wrapping(s: Side) -> None:
    s.call("POST", "secret/data/audit-wrap", json={"data": SECRET})
    _, body = s.call("GET", "secret/data/audit-wrap", headers={"X-Vault-Wrap-TTL": "60"})
    s.call("POST", "sys/wrapping/unwrap", token=body["wrap_info"]["token"])


def audit_endpoints(s: Side) -> None:
    s.call("GET", "sys/audit")
    s.call("POST", "sys/audit-hash/file", json={"input": "hunter2"})
    s.call("POST", "sys/audit-hash/nope", json={"input": "x"})


def approle_login(s: Side) -> None:
    s.call("POST", "sys/auth/audit-ar", json={"type": "approle"})
    s.call("POST", "auth/audit-ar/role/r1", json={"token_policies": "default"})
    _, body = s.call("GET", "auth/audit-ar/role/r1/role-id")
    role_id = body["data"]["role_id"]
    _, body = s.call("POST", "auth/audit-ar/role/r1/secret-id")
    secret_id = body["data"]["secret_id"]
    s.call("POST", "auth/audit-ar/login", json={"role_id": role_id, "secret_id": secret_id}, auth=False)


def token_lifecycle(s: Side) -> None:
    _, body = s.call(
        "POST", "auth/token/create", json={"policies": ["default"], "ttl": "1h", "renewable": True}
    )
    token = body["auth"]["client_token"]
    s.call("POST", "auth/token/renew-self", json={"increment": "2h"}, token=token)
    s.call("POST", "auth/token/revoke-self", token=token)
    s.call("GET", "auth/token/lookup-self", token=token)


def single_use_token(s: Side) -> None:
    _, body = s.call("POST", "auth/token/create", json={"policies": ["default"], "num_uses": 1, "ttl": "1h"})
    token = body["auth"]["client_token"]
    s.call("GET", "auth/token/lookup-self", token=token)
    s.call("GET", "auth/token/lookup-self", token=token)


def cubbyhole_and_batch(s: Side) -> None:
    s.call("POST", "cubbyhole/audit-c", json={"secret": "in-the-cubby"})
    s.call("GET", "cubbyhole/audit-c")
    _, body = s.call(
        "POST", "auth/token/create", json={"type": "batch", "policies": ["default"], "ttl": "1h"}
    )
    s.call("POST", "cubbyhole/audit-c", json={"secret": "nope"}, token=body["auth"]["client_token"])


def sys_errors(s: Side) -> None:
    s.call("POST", "sys/mounts/audit-kv1", json={"type": "kv"})
    s.call("POST", "sys/mounts/audit-kv1", json={"type": "kv"})
    s.call("POST", "sys/policies/acl/audit-empty", json={})
    s.call("GET", "sys/policies/acl/audit-missing")


def kv_v1_and_delete(s: Side) -> None:
    s.call("POST", "sys/mounts/audit-v1", json={"type": "kv"})
    s.call("POST", "audit-v1/a", json={"api_key": "k-123", "nested": {"deep": ["x", {"y": "z"}]}})
    s.call("GET", "audit-v1/a")
    s.call("LIST", "audit-v1/")
    s.call("DELETE", "audit-v1/a")


def transit(s: Side) -> None:
    s.call("POST", "sys/mounts/audit-transit", json={"type": "transit"})
    s.call("POST", "audit-transit/keys/k1")
    _, body = s.call("POST", "audit-transit/encrypt/k1", json={"plaintext": "aGVsbG8="})
    s.call("POST", "audit-transit/decrypt/k1", json={"ciphertext": body["data"]["ciphertext"]})


def unauthenticated_paths(s: Side) -> None:
    """sys/internal/ui/mounts is a "login" path in Vault: the token is noted but no ACL runs."""
    s.call("GET", "sys/internal/ui/mounts/secret")
    s.call("GET", "sys/internal/ui/mounts/secret", auth=False)
    s.call("GET", "sys/internal/ui/mounts/secret", token="not-a-real-token")


def key_info(s: Side) -> None:
    s.call("LIST", "sys/policies/acl")


SCENARIOS: dict[str, Callable[[Side], None]] = {
    "kv_write_read": kv_write_read,
    "kv_list_and_missing": kv_list_and_missing,
    "unknown_token": unknown_token,
    "no_token": no_token,
    "unknown_path": unknown_path,
    "field_error": field_error,
    "userpass_logins": userpass_logins,
    "batch_token": batch_token,
    "limited_service_token": limited_service_token,
    "policy_grants": policy_grants,
    "wrapping": wrapping,
    "audit_endpoints": audit_endpoints,
    "approle_login": approle_login,
    "token_lifecycle": token_lifecycle,
    "single_use_token": single_use_token,
    "cubbyhole_and_batch": cubbyhole_and_batch,
    "sys_errors": sys_errors,
    "kv_v1_and_delete": kv_v1_and_delete,
    "transit": transit,
    "unauthenticated_paths": unauthenticated_paths,
    "key_info": key_info,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_audit_lines_match(pair: Pair, name: str) -> None:
    ref_lines, tes_lines = pair.run(SCENARIOS[name])
    assert ref_lines, "the reference wrote no audit line"
    compare(ref_lines, tes_lines)


def test_audit_hash_reproduces_logged_values(pair: Pair) -> None:
    """On both servers sys/audit-hash gives exactly what the device logged for a known value."""
    for side in (pair.reference, pair.tessera):
        side.audit.mark()
        side.call("POST", "secret/data/audit-hash-check", json={"data": {"password": "reproduce-me"}})
        lines = side.audit.since()
        logged = lines[0]["request"]["data"]["data"]["password"]
        _, body = side.call("POST", "sys/audit-hash/file", json={"input": "reproduce-me"})
        assert body["data"]["hash"] == logged, side.server.name
        _, body = side.call("POST", "sys/audit-hash/file", json={"input": "root"})
        assert body["data"]["hash"] == lines[0]["auth"]["client_token"], side.server.name


def test_device_options_match(pair: Pair, tmp_path: Path) -> None:
    """hmac_accessor=false, log_raw, elide_list_responses and prefix change lines the same way."""
    variants = {
        "noacc": {"hmac_accessor": "false"},
        "elide": {"elide_list_responses": "true"},
        "raw": {"log_raw": "true"},
    }
    for name, options in variants.items():
        logs = {}
        for side, label in ((pair.reference, "ref"), (pair.tessera, "tes")):
            logs[label] = tmp_path / f"{label}-{name}.log"
            enable_file_device(side.server, f"opt-{name}", logs[label], **options)
        ref_file, tes_file = AuditFile(logs["ref"]), AuditFile(logs["tes"])

        def step(s: Side) -> None:
            s.call("POST", "secret/data/audit-opt/a", json={"data": {"x": "y"}})
            s.call("LIST", "secret/metadata/audit-opt")

        for side, audit in ((pair.reference, ref_file), (pair.tessera, tes_file)):
            audit.mark()
            step(side)
        compare(ref_file.since(), tes_file.since())
        for side in (pair.reference, pair.tessera):
            side.call("DELETE", f"sys/audit/opt-{name}")


# -- sys/audit endpoints ---------------------------------------------------------------------------
ENDPOINT_CASES: list[tuple[str, str, Any]] = [
    ("PUT", "sys/audit/bad-type", {"type": "bogus"}),
    ("PUT", "sys/audit/no-path", {"type": "file"}),
    ("PUT", "sys/audit/bad-format", {"type": "file", "options": {"file_path": "discard", "format": "xml"}}),
    (
        "PUT",
        "sys/audit/bad-bool",
        {"type": "file", "options": {"file_path": "discard", "hmac_accessor": "maybe"}},
    ),
    ("PUT", "sys/audit/bad-raw", {"type": "file", "options": {"file_path": "discard", "log_raw": "yes"}}),
    (
        "PUT",
        "sys/audit/bad-mode",
        {"type": "file", "options": {"file_path": "/tmp/x-audit.log", "mode": "999"}},
    ),
    ("PUT", "sys/audit/bad-dir", {"type": "file", "options": {"file_path": "/proc/nope/x.log"}}),
    ("PUT", "sys/audit/no-addr", {"type": "socket"}),
    ("PUT", "sys/audit/refused", {"type": "socket", "options": {"address": "127.0.0.1:1"}}),
    ("PUT", "sys/audit/file/sub", {"type": "file", "options": {"file_path": "discard"}}),
    ("PUT", "sys/audit-hash/file", {}),
    ("PUT", "sys/audit-hash/missing-device", {"input": "x"}),
    ("GET", "sys/audit/file", None),
    ("GET", "sys/audit-hash/file", None),
    ("DELETE", "sys/audit/never-enabled", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), ENDPOINT_CASES, ids=[f"{m} {p}" for m, p, _ in ENDPOINT_CASES]
)
def test_endpoint_answers_match(pair: Pair, method: str, path: str, body: Any) -> None:
    answers = [side.call(method, path, json=body) for side in (pair.reference, pair.tessera)]
    assert answers[0] == answers[1]


def test_enable_list_disable_match(pair: Pair, tmp_path: Path) -> None:
    """A device with every option appears in GET sys/audit the same way, and goes away again."""
    for side, label in ((pair.reference, "ref"), (pair.tessera, "tes")):
        status, _ = side.call(
            "PUT",
            "sys/audit/listed",
            json={
                "type": "file",
                "description": "all options",
                "local": True,
                "options": {
                    "file_path": "discard",
                    "prefix": "P:",
                    "mode": "0640",
                    "elide_list_responses": 1,
                },
            },
        )
        assert status == 204, label
    (_, ref_body), (_, tes_body) = (side.call("GET", "sys/audit") for side in (pair.reference, pair.tessera))
    assert ref_body["data"]["listed/"] == tes_body["data"]["listed/"] == tes_body["listed/"]
    for side in (pair.reference, pair.tessera):
        assert side.call("DELETE", "sys/audit/listed") == (204, None)
        assert "listed/" not in side.call("GET", "sys/audit")[1]["data"]


def test_api_creation_is_refused_by_default_and_the_switch_restores_vaults(
    reference: ReferenceServer, tessera: TesseraServer, tmp_path: Path
) -> None:
    """OpenBao 2.x refuses API-created devices by default, dev mode included, and so does Tessera,
    word for word; ``unsafe_allow_api_audit_creation = true`` allows them as Vault does."""
    body = {"type": "file", "options": {"file_path": "discard"}}
    ref = reference.call("PUT", "sys/audit/not-allowed", json=body)[:2]
    assert ref[0] == 400 and "cannot enable audit device via API" in ref[1]["errors"][0]
    assert tessera.call("PUT", "sys/audit/not-allowed", json=body)[:2] == ref
    config = tmp_path / "api-audit.hcl"
    config.write_text("unsafe_allow_api_audit_creation = true\n")
    allowing = TesseraServer(extra_args=[f"-config={config}"]).start()
    try:
        assert allowing.call("PUT", "sys/audit/allowed", json=body)[:2] == (204, None)
        assert allowing.call("DELETE", "sys/audit/allowed")[0] == 204
    finally:
        allowing.cleanup()


# -- fail closed -------------------------------------------------------------------------------------
def _make_unwritable(path: Path) -> None:
    """Replace the audit file by a directory: as root no permission bit would stop a write."""
    path.rename(path.with_suffix(".rotated"))
    path.mkdir()


def test_unwritable_device_refuses_requests(tmp_path: Path) -> None:
    """Each server's only device cannot write after a SIGHUP: a KV write is refused with 500 and not
    applied; once the file can be written again (and another SIGHUP) requests pass again."""
    servers = [start_server(ReferenceServer, tmp_path / "ref"), start_server(TesseraServer, tmp_path / "tes")]
    try:
        answers = []
        for server in servers:
            log = server.workdir / "audit.log"
            enable_file_device(server, "only", log)
            _make_unwritable(log)
            server._signal(signal.SIGHUP)
            time.sleep(1.0)
            write = server.call("POST", "secret/data/never", json={"data": {"password": "not-stored"}})[:2]
            log.rmdir()
            server._signal(signal.SIGHUP)
            time.sleep(1.0)
            read = server.call("GET", "secret/data/never")[:2]
            answers.append((write, read))
            assert write == (500, {"errors": ["internal error"]}), server.name
            assert read == (404, {"errors": []}), server.name
            lines = AuditFile(log).lines()
            assert [line["request"]["path"] for line in lines] == ["secret/data/never"] * 2
        assert answers[0] == answers[1]
    finally:
        for server in servers:
            server.cleanup()


def test_declared_devices_match(tmp_path: Path) -> None:
    """audit "file" "<path>" blocks in the configuration: listed alike, and not removable by API."""
    bodies = []
    for kind, label in ((ReferenceServer, "ref"), (TesseraServer, "tes")):
        directory = tmp_path / label
        directory.mkdir()
        config = directory / "declared.hcl"
        log = directory / "declared.log"
        config.write_text(f'audit "file" "declared" {{\n  options = {{ file_path = "{log}" }}\n}}\n')
        server = kind(extra_args=[f"-config={config}"]).start()
        try:
            listed = server.call("GET", "sys/audit")[1]["data"]["declared/"]
            listed["options"] = {k: v for k, v in listed["options"].items() if k != "file_path"}
            refused = server.call("DELETE", "sys/audit/declared")[:2]
            server.call("GET", "sys/mounts")
            bodies.append((listed, refused, [line["type"] for line in AuditFile(log).lines()][-2:]))
        finally:
            server.cleanup()
    assert bodies[0] == bodies[1]
    assert bodies[0][1] == (400, {"errors": ["cannot disable configuration-managed audit device"]})


def test_seal_request_is_recorded(tmp_path: Path) -> None:
    """sys/seal is handled outside the logical pipeline, yet its request (alone) is audited."""
    lines = []
    for kind, label in ((ReferenceServer, "ref"), (TesseraServer, "tes")):
        server = start_server(kind, tmp_path / label)
        try:
            log = tmp_path / label / "audit.log"
            enable_file_device(server, "file", log)
            audit = AuditFile(log)
            audit.mark()
            assert server.call("PUT", "sys/seal")[0] == 204
            lines.append([normalize_line(drop(line, KNOWN_MISSING | SEAL_UNKNOWN)) for line in audit.since()])
        finally:
            server.cleanup()
    assert lines[0] == lines[1]
    assert [line["type"] for line in lines[0]] == ["request"]


# The raw sys/seal handler does not hand the client's address to the core.
SEAL_UNKNOWN = frozenset({"remote_address"})


def test_bao_cli_audit_commands_match(pair: Pair, tmp_path: Path) -> None:
    """``bao audit enable|list|disable`` print the same on both servers, and ``tessera audit`` the same again."""
    import os
    import subprocess
    import sys

    from tests.helpers.servers import find_bao

    outputs = []
    clients = [
        (pair.reference, [find_bao()]),
        (pair.tessera, [find_bao()]),
        (pair.tessera, [sys.executable, "-m", "tessera"]),
    ]
    for side, client in clients:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "TESSERA_"))}
        env.update(BAO_ADDR=side.server.addr, BAO_TOKEN="root", NO_COLOR="1", HOME=str(tmp_path))
        env.update(VAULT_ADDR=side.server.addr, VAULT_TOKEN="root")
        runs = []
        for args in (
            ["audit", "enable", "-path=cli", "-description=from the CLI", "file", "file_path=discard"],
            ["audit", "enable", "-path=cli", "file", "file_path=discard"],
            ["audit", "list", "-detailed"],
            ["audit", "list", "-format=json"],
            ["audit", "disable", "cli"],
            ["audit", "enable"],
        ):
            done = subprocess.run([*client, *args], capture_output=True, text=True, env=env, timeout=60)
            text = (done.stdout + done.stderr).replace(side.server.addr, "<addr>")
            runs.append((done.returncode, text.replace(str(side.audit.path), "<log>")))
        outputs.append(runs)
    assert outputs[0] == outputs[1], "bao against both servers"
    assert outputs[0] == outputs[2], (
        "tessera audit against Tessera prints what bao prints against the reference"
    )

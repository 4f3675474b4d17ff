"""The prepared routes (core/prepared.py) answer exactly as the generic pipeline does.

Each request goes through the App as the event-loop front hands it over (``App._route``), once
with the prepared routes on and once with them off; status, headers and body must be the same
bytes, once the request ID and the minted batch token (random nonces) are named alike, and the
two tokens must carry the same entry.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tessera.core.core import Core
from tessera.framework import FieldData
from tessera.server.app import App
from tessera.telemetry import metrics
from tessera.tokens import issue
from tessera.tokens.entry import TokenEntry
from tests.reliability.asgi import ROOT, dev_core

CREATOR = """
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }
"""
SUDO_CREATOR = """
path "auth/token/create" { capabilities = ["update", "sudo"] }
"""
LIMITED = """
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "type" = ["batch"], "ttl" = [], "policies" = [] }
}
"""


class _Proto:
    def __init__(self) -> None:
        self.answers: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answers.append((status, list(headers), body))


class _SwitchableApp(App):
    """The App with its prepared routes switched off while ``generic_only`` (the generic path's
    answers, to compare with), and the paths they answered noted. A subclass's override is a seam
    that holds compiled, where replacing ``PreparedRoutes``' methods on the class would not."""

    def __init__(self, core: Core) -> None:
        super().__init__(core, inline=True)
        self.generic_only = False
        self.prepared_paths: list[str] = []

    def _prepared_read(self, path: str, token: str, remote_addr: str) -> tuple[int, bytes | None] | None:
        return (
            None if self.generic_only else self._noted(path, super()._prepared_read(path, token, remote_addr))
        )

    def _prepared_update(
        self, method: str, path: str, token: str, raw_body: bytes, headers: dict[str, str], remote_addr: str
    ) -> tuple[int, bytes | None] | None:
        if self.generic_only:
            return None
        return self._noted(
            path, super()._prepared_update(method, path, token, raw_body, headers, remote_addr)
        )

    def _noted(self, path: str, answered: tuple[int, bytes | None] | None) -> tuple[int, bytes | None] | None:
        if answered is not None:
            self.prepared_paths.append(path)
        return answered


class Server:
    def __init__(self) -> None:
        core, _ = dev_core()
        self.core: Core = core
        self.app = _SwitchableApp(core)
        for name, policy in (("creator", CREATOR), ("sudo-creator", SUDO_CREATOR), ("limited", LIMITED)):
            status, _, _ = self.call("PUT", f"sys/policies/acl/{name}", ROOT, {"policy": policy}, fast=False)
            assert status == 204
        self.tokens = {
            "root": ROOT,
            "creator": self._token({"policies": ["creator", "default"]}),
            "sudo": self._token({"policies": ["sudo-creator", "default"]}),
            "limited-policy": self._token({"policies": ["limited", "default"]}),
            "limited-use": self._token({"policies": ["creator"], "num_uses": 5}),
            "batch": self._token({"policies": ["creator"], "type": "batch"}),
            "none": "",
            "bad": "hvs.AAAAAAAAAAAAAAAAAAAAAAAA",
            "entity": self._entity_token(),
            "cidr-in": self._direct(bound_cidrs=["127.0.0.0/8"], ttl=3600),
            "cidr-out": self._direct(bound_cidrs=["10.0.0.0/8"], ttl=3600),
            "expiring": self._direct(ttl=3600),
        }

    def _direct(self, **fields: Any) -> str:
        """A service token made in the store, with what auth/token/create cannot give it."""
        entry = TokenEntry(policies=["creator", "default"], path="auth/token/create", **fields)
        return str(self.core.tokens.create(entry).id)

    def _entity_token(self) -> str:
        status, _, answer = self.call(
            "POST", "identity/entity", ROOT, {"name": "e1", "policies": ["ent-pol"]}, fast=False
        )
        assert status == 200, answer
        return self._direct(entity_id=orjson.loads(answer)["data"]["id"])

    def _token(self, body: dict[str, Any], path: str = "auth/token/create") -> str:
        status, _, answer = self.call("POST", path, ROOT, body, fast=False)
        assert status == 200, answer
        return str(orjson.loads(answer)["auth"]["client_token"])

    def setup(self, method: str, path: str, body: dict[str, Any]) -> bytes:
        """A root request on the generic path that must succeed: the state a test starts from."""
        status, _, answer = self.call(method, path, ROOT, body, fast=False)
        assert status in (200, 204), (path, answer)
        return answer

    def aliases(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """Every entity alias as (name, mount type, metadata): what logins left in identity."""
        status, _, answer = self.call("LIST", "identity/entity-alias/id", ROOT, None, fast=False)
        out = []
        for alias_id in orjson.loads(answer)["data"]["keys"] if status == 200 else []:
            _, _, doc = self.call("GET", f"identity/entity-alias/id/{alias_id}", ROOT, None, fast=False)
            data = orjson.loads(doc)["data"]
            out.append((data["name"], data["mount_type"], sorted(data["metadata"].items())))
        return sorted(out)

    def call(
        self,
        method: str,
        path: str,
        token: str,
        body: Any,
        *,
        fast: bool,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        sent = {"host": "127.0.0.1:8200", **(headers or {})}
        if token:
            sent["x-vault-token"] = token
        data = raw if raw is not None else (b"" if body is None else orjson.dumps(body))
        proto = _Proto()
        self.app.generic_only = not fast
        try:
            self.app._route(proto, method, "/v1/" + path, b"", sent, data, "127.0.0.1", False)
        finally:
            self.app.generic_only = False
        assert len(proto.answers) == 1
        return proto.answers[0]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.core.shutdown()


_RANDOM = re.compile(rb'"(request_id|client_token|token|accessor|creation_time)":"[^"]*"')


def _normal(body: bytes) -> bytes:
    return _RANDOM.sub(lambda m: b'"' + m.group(1) + b'":"<' + m.group(1) + b'>"', body)


def _entry(core: Core, body: bytes) -> dict[str, Any] | None:
    try:
        auth = orjson.loads(body).get("auth")
    except orjson.JSONDecodeError:
        return None
    if not auth or not auth.get("client_token"):
        return None
    entry = core.tokens.lookup(auth["client_token"])
    assert entry is not None
    doc = dict(entry.__dict__)
    for moving in (
        "id",
        "salted_id",
        "accessor",
        "cubbyhole_id",
        "creation_time",
        "issue_time",
        "expire_time",
    ):
        doc.pop(moving)
    return doc


CASES: list[tuple[str, str, Any, dict[str, str]]] = [
    # (caller, path, body, headers)
    ("root", "auth/token/create", {"policies": ["default"], "ttl": "1h", "type": "batch"}, {}),
    ("root", "auth/token/create-orphan", {"policies": ["default"], "ttl": "1h", "type": "batch"}, {}),
    ("root", "auth/token/create", {"type": "batch"}, {}),
    ("root", "auth/token/create", {"type": "batch", "display_name": "ci job!", "meta": {"a": "b"}}, {}),
    (
        "root",
        "auth/token/create",
        {"type": "batch", "policies": ["Default", " x "], "no_default_policy": True},
        {},
    ),
    ("root", "auth/token/create", {"type": "batch", "policies": ["nope"], "renewable": False}, {}),
    ("root", "auth/token/create", {"type": "batch", "ttl": "1000000h"}, {}),
    ("root", "auth/token/create", {"type": "batch", "ttl": "bogus"}, {}),
    ("root", "auth/token/create", {"type": "batch", "ttl": "-1h"}, {}),
    ("root", "auth/token/create", {"type": "batch", "lease": "2h"}, {}),
    ("root", "auth/token/create", {"type": "batch", "ttl": 3600}, {}),
    ("root", "auth/token/create", {"type": "batch", "ttl": None}, {}),
    ("root", "auth/token/create", {"type": "batch", "num_uses": 3}, {}),
    ("root", "auth/token/create", {"type": "batch", "num_uses": 0}, {}),
    ("root", "auth/token/create", {"type": "batch", "num_uses": -1}, {}),
    ("root", "auth/token/create", {"type": "batch", "num_uses": 2**63}, {}),
    ("root", "auth/token/create", {"type": "batch", "explicit_max_ttl": "1h"}, {}),
    ("root", "auth/token/create", {"type": "batch", "explicit_max_ttl": "0s"}, {}),
    ("root", "auth/token/create", {"type": "batch", "period": "1h"}, {}),
    ("root", "auth/token/create", {"type": "batch", "period": "x"}, {}),
    ("root", "auth/token/create", {"type": "batch", "policies": ["root"]}, {}),
    ("root", "auth/token/create", {"type": "batch", "policies": ["response-wrapping"]}, {}),
    ("root", "auth/token/create", {"type": "batch", "policies": "a,b"}, {}),
    ("root", "auth/token/create", {"type": "batch", "policies": [1]}, {}),
    ("root", "auth/token/create", {"type": "batch", "meta": {"a": 1}}, {}),
    ("root", "auth/token/create", {"type": "batch", "entity_alias": "x"}, {}),
    ("root", "auth/token/create", {"type": "batch", "id": "custom"}, {}),
    ("root", "auth/token/create", {"type": "batch", "no_parent": True}, {}),
    ("root", "auth/token/create", {"type": "batch", "unknown": "x"}, {}),
    ("root", "auth/token/create", {"type": "service", "ttl": "1h"}, {}),
    ("root", "auth/token/create", {"type": "Batch"}, {}),
    ("root", "auth/token/create", {"type": "batch"}, {"x-vault-wrap-ttl": "60s"}),
    ("root", "auth/token/create", {"type": "batch"}, {"x-vault-wrap-ttl": "bogus"}),
    ("root", "auth/token/create", {"type": "batch"}, {"x-vault-namespace": "ns1"}),
    ("root", "auth/token/create", {"type": "batch"}, {"x-vault-namespace": "root"}),
    ("creator", "auth/token/create", {"type": "batch", "policies": ["default"]}, {}),
    ("creator", "auth/token/create", {"type": "batch", "policies": ["other"]}, {}),
    ("creator", "auth/token/create", {"type": "batch"}, {}),
    ("creator", "auth/token/create", {"type": "batch", "no_parent": True}, {}),
    ("creator", "auth/token/create-orphan", {"type": "batch"}, {}),
    ("creator", "auth/token/create", {"type": "batch", "id": "custom"}, {}),
    ("sudo", "auth/token/create", {"type": "batch", "policies": ["other"]}, {}),
    ("sudo", "auth/token/create", {"type": "batch", "no_parent": True}, {}),
    ("sudo", "auth/token/create-orphan", {"type": "batch"}, {}),
    ("limited-policy", "auth/token/create", {"type": "batch", "ttl": "1h"}, {}),
    ("limited-policy", "auth/token/create", {"type": "batch", "display_name": "x"}, {}),
    ("limited-use", "auth/token/create", {"type": "batch"}, {}),
    ("batch", "auth/token/create", {"type": "batch"}, {}),
    ("none", "auth/token/create", {"type": "batch"}, {}),
    ("entity", "auth/token/create", {"type": "batch", "policies": ["default"]}, {}),
    ("entity", "auth/token/create-orphan", {"type": "batch"}, {}),
    ("cidr-in", "auth/token/create", {"type": "batch", "policies": ["default"]}, {}),
    ("cidr-out", "auth/token/create", {"type": "batch", "policies": ["default"]}, {}),
    ("expiring", "auth/token/create", {"type": "batch", "ttl": "2h"}, {}),
    ("bad", "auth/token/create", {"type": "batch"}, {}),
]


@pytest.mark.parametrize(("caller", "path", "body", "headers"), CASES)
def test_prepared_create_answers_as_the_generic_path(
    server: Server, caller: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    token = server.tokens[caller]
    fast = server.call("POST", path, token, body, fast=True, headers=headers)
    slow = server.call("POST", path, token, body, fast=False, headers=headers)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert _normal(fast[2]) == _normal(slow[2])
    assert _entry(server.core, fast[2]) == _entry(server.core, slow[2])


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"type": "batch", "policies": ["default"]}', "application/json"),
        (b"type=batch&policies=default", "application/x-www-form-urlencoded"),
        (b'{"type": "batch"', "application/json"),
        (b"[1]", "application/json"),
        (b"null", "application/json"),
        (b"", ""),
        (b"  ", "application/json"),
    ],
)
def test_prepared_create_reads_bodies_as_the_generic_path(
    server: Server, raw: bytes, content_type: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    fast = server.call("PUT", "auth/token/create", ROOT, None, fast=True, headers=headers, raw=raw)
    slow = server.call("PUT", "auth/token/create", ROOT, None, fast=False, headers=headers, raw=raw)
    assert (fast[0], fast[1], _normal(fast[2])) == (slow[0], slow[1], _normal(slow[2]))


def test_the_common_shape_is_answered_by_the_prepared_route(server: Server) -> None:
    """Without the prepared route this test fails: the common shape must not fall back."""
    core = server.core
    body = {"policies": ["default"], "ttl": "1h", "type": "batch"}
    for caller in ("root", "creator", "sudo", "entity", "cidr-in", "expiring"):
        answered = core.serve_prepared_update(
            "auth/token/create", server.tokens[caller], body, "127.0.0.1", "r"
        )
        assert answered is not None and answered[0] == 200, caller
    for caller in ("limited-use", "batch", "none", "bad", "cidr-out"):
        assert (
            core.serve_prepared_update("auth/token/create", server.tokens[caller], body, "127.0.0.1", "r")
            is None
        )


def test_prepared_create_records_the_generic_metrics(server: Server) -> None:
    body = {"policies": ["default"], "ttl": "1h", "type": "batch"}

    def readings() -> tuple[int, int]:
        route = metrics.route_timer("update", "auth/token/")
        return len(metrics.HANDLE_REQUEST._pending), len(route._pending)

    for fast in (True, False):
        before = readings()
        status, _, _ = server.call("POST", "auth/token/create", ROOT, body, fast=fast)
        after = readings()
        assert status == 200
        assert (after[0] - before[0], after[1] - before[1]) == (1, 1), fast


def test_an_audit_device_sends_creation_to_the_generic_path(server: Server, tmp_path: Any) -> None:
    body = {"policies": ["default"], "ttl": "1h", "type": "batch"}
    audit = server.core.audit
    assert audit is not None
    devices = audit.devices  # type: ignore[attr-defined]
    devices["test/"] = object()
    try:
        assert server.core.serve_prepared_update("auth/token/create", ROOT, body, "127.0.0.1", "r") is None
    finally:
        del devices["test/"]
    assert server.core.serve_prepared_update("auth/token/create", ROOT, body, "127.0.0.1", "r") is not None


def test_plain_create_args_are_what_the_schema_makes() -> None:
    from tessera.auth.token_create import CREATE_FIELDS

    bodies: list[dict[str, Any]] = [
        {},
        {"type": "batch", "ttl": "1h", "policies": ["a", "B"]},
        {"meta": {"k": "v"}, "display_name": "x", "num_uses": 3, "renewable": False},
        {"no_parent": True, "no_default_policy": False, "id": "i", "lease": "1m", "period": "0s"},
        {"explicit_max_ttl": "", "entity_alias": "al"},
    ]
    for body in bodies:
        plain = issue.plain_create_args(body)
        data = FieldData(dict(body), CREATE_FIELDS)
        data.validate()
        assert plain == issue.CreateArgs.from_fields(data), body
    for refused in (
        {"ttl": 1},
        {"policies": "a"},
        {"meta": {"a": 1}},
        {"num_uses": True},
        {"x": "y"},
        {"ttl": None},
    ):
        assert issue.plain_create_args(refused) is None, refused


def test_parent_entry_is_not_changed_by_creation(server: Server) -> None:
    """The prepared route reads the parent's shared entry (TokenStore.peek): never changes it."""
    for caller in ("creator", "entity", "cidr-in", "expiring"):
        token = server.tokens[caller]
        parent = server.core.resolve_token(token)
        shared = server.core.tokens.peek(token)
        assert isinstance(parent, TokenEntry) and isinstance(shared, TokenEntry)
        before, shared_before = copy.deepcopy(parent.__dict__), copy.deepcopy(shared.__dict__)
        body = {"type": "batch", "policies": ["default"], "meta": {"k": "v"}}
        status, _, _ = server.call("POST", "auth/token/create", token, body, fast=True)
        assert status == 200
        after = server.core.resolve_token(token)
        assert after is not None and after.__dict__ == before
        assert server.core.tokens.peek(token) is shared and shared.__dict__ == shared_before


# -- reads: KV v1's prepared read ------------------------------------------------------------------
KV_READER = """
path "kv1/*" { capabilities = ["read"] }
path "kv2/data/*" { capabilities = ["read"] }
"""


@pytest.fixture(scope="module")
def kv_server(server: Server) -> Server:
    calls = [
        ("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}}),
        ("POST", "sys/mounts/kv1tuned", {"type": "kv", "config": {"default_lease_ttl": "90m"}}),
        ("PUT", "sys/policies/acl/kv-reader", {"policy": KV_READER}),
        ("POST", "kv1/app/db", {"password": "s3cret", "n": 1, "nested": {"a": ["<b>"]}}),
        ("POST", "kv1/hinted", {"v": "x", "ttl": "30m"}),
        ("POST", "kv1/badhint", {"v": "x", "ttl": "nonsense"}),
        ("POST", "kv1/leased", {"v": "x", "lease": "2h"}),
        ("POST", "kv1tuned/k", {"v": "t"}),
    ]
    for method, path, body in calls:
        status, _, answer = server.call(method, path, ROOT, body, fast=False)
        assert status in (200, 204), (path, answer)
    server.tokens["kv-batch"] = server._token({"policies": ["kv-reader"], "type": "batch", "ttl": "1h"})
    server.tokens["kv-service"] = server._token({"policies": ["kv-reader"]})
    server.tokens["kv-limited"] = server._token({"policies": ["kv-reader"], "num_uses": 100})
    server.tokens["kv-orphan-batch"] = server._token(
        {"policies": ["kv-reader"], "type": "batch"}, path="auth/token/create-orphan"
    )
    return server


READS = [
    ("kv-batch", "kv1/app/db", {}),
    ("kv-service", "kv1/app/db", {}),
    ("root", "kv1/app/db", {}),
    ("kv-orphan-batch", "kv1/app/db", {}),
    ("kv-limited", "kv1/app/db", {}),
    ("kv-batch", "kv1/missing", {}),
    ("kv-batch", "kv1/hinted", {}),
    ("kv-batch", "kv1/badhint", {}),
    ("kv-batch", "kv1/leased", {}),
    ("kv-batch", "kv1/app/db/", {}),
    ("kv-batch", "kv1/app/", {}),
    ("root", "kv1/", {}),
    ("root", "kv1tuned/k", {}),
    ("kv-batch", "kv1tuned/k", {}),
    ("kv-batch", "kv1/app/db\nx", {}),
    ("kv-batch", "kv1/app/db", {"x-vault-wrap-ttl": "5m"}),
    ("kv-batch", "kv1/app/db", {"x-vault-namespace": "ns1"}),
    ("creator", "kv1/app/db", {}),
    ("none", "kv1/app/db", {}),
    ("bad", "kv1/app/db", {}),
    ("kv-batch", "secret/data/x", {}),
    ("kv-batch", "auth/token/lookup-self", {}),
    ("kv-batch", "sys/mounts", {}),
    ("kv-batch", "nomount/x", {}),
]


@pytest.mark.parametrize(("caller", "path", "headers"), READS)
def test_prepared_read_answers_as_the_generic_path(
    kv_server: Server, caller: str, path: str, headers: dict[str, str]
) -> None:
    token = kv_server.tokens[caller]
    fast = kv_server.call("GET", path, token, None, fast=True, headers=headers)
    slow = kv_server.call("GET", path, token, None, fast=False, headers=headers)
    assert (fast[0], fast[1], _normal(fast[2])) == (slow[0], slow[1], _normal(slow[2]))


def test_a_plain_kv1_read_is_answered_by_the_prepared_route(kv_server: Server) -> None:
    core = kv_server.core
    for caller in ("kv-batch", "kv-service", "root", "kv-orphan-batch"):
        answered = core.serve_prepared_read("kv1/app/db", kv_server.tokens[caller], "127.0.0.1", "r")
        assert answered is not None and answered[0] == 200, caller
    assert core.serve_prepared_read("kv1/missing", kv_server.tokens["kv-batch"], "127.0.0.1", "r") == (
        404,
        b'{"errors":[]}',
    )
    for caller, path in (
        ("kv-limited", "kv1/app/db"),
        ("creator", "kv1/app/db"),
        ("kv-batch", "secret/data/x"),
    ):
        assert core.serve_prepared_read(path, kv_server.tokens[caller], "127.0.0.1", "r") is None, caller


def test_a_refused_batch_token_reads_through_the_generic_path(kv_server: Server) -> None:
    """A batch token revoked (deny-list) or whose parent is gone: the same 403 on both paths."""
    parent = kv_server._token({"policies": ["kv-reader"]})
    child = kv_server._token({"policies": ["kv-reader"], "type": "batch"}, path="auth/token/create")
    kv_server.tokens["tmp-parent"] = parent
    status, _, _ = kv_server.call("POST", "auth/token/create", parent, {"type": "batch"}, fast=False)
    for token in (child,):
        status, _, answer = kv_server.call(
            "POST", "auth/token/revoke-batch", ROOT, {"token": token}, fast=False
        )
        assert status in (200, 204), answer
        fast = kv_server.call("GET", "kv1/app/db", token, None, fast=True)
        slow = kv_server.call("GET", "kv1/app/db", token, None, fast=False)
        assert fast[0] == slow[0] == 403 and fast[2] == slow[2]


# -- the remembered envelope -----------------------------------------------------------------------
def _minted(server: Server, body: dict[str, Any], caller: str = "root") -> TokenEntry:
    token = server.tokens[caller]
    parent = server.core.tokens.peek(token)
    assert parent is not None
    args = issue.plain_create_args(body)
    assert args is not None
    host = server.core.pipeline.host
    return issue.mint_created(host, args, parent, True, "auth/token/create", "auth/token/", False, None)[0]


ENVELOPE_BODIES: list[dict[str, Any]] = [
    {"type": "batch", "policies": ["default"], "ttl": "1h"},
    {"type": "batch", "policies": ["a<b>", "c&d", 'q"uote'], "meta": {"k": "v", "<": "\u2028"}},
    {"type": "batch", "policies": ["y"], "meta": {}},
    {"type": "batch", "policies": ["x"], "no_default_policy": True, "ttl": "2h"},
]


@pytest.mark.parametrize("body", ENVELOPE_BODIES)
@pytest.mark.parametrize("warnings", [[], ['Policy "x" does not exist', "<&>"]])
def test_remembered_envelope_is_the_full_one(
    server: Server, body: dict[str, Any], warnings: list[str]
) -> None:
    """The remembered bytes around the request ID and the token, with another request's ID and
    token put in between, are the envelope written in full."""
    from tessera.core import prepared

    host = server.core.pipeline.host
    for caller in ("root", "entity"):
        first, second = _minted(server, body, caller), _minted(server, body, caller)
        assert first.id != second.id
        ident = prepared.identity_policies(host, first.entity_id)
        for entry, request_id in ((first, "6f1c2a9e-0d4b-4e4f-9b1a-3c5d7e9f1a2b"), (second, "r-2")):
            out = prepared.batch_created_envelope(host, entry, list(warnings), request_id, "token")
            assert out == prepared._envelope_bytes(entry, ident, list(warnings), request_id, "token")
    assert prepared._ENVELOPES  # the second of each was written from the remembered bytes


@pytest.mark.parametrize("request_id", ['x"y', "a<b", "\u2028", "é", "a\\b", ""])
def test_a_request_id_json_would_escape_is_written_in_full(server: Server, request_id: str) -> None:
    from tessera.core import prepared

    host = server.core.pipeline.host
    entry = _minted(server, {"type": "batch", "policies": ["default"]})
    prepared.batch_created_envelope(host, entry, [], "plain-id", "token")  # remembered now
    out = prepared.batch_created_envelope(host, entry, [], request_id, "token")
    assert out == prepared._envelope_bytes(entry, [], [], request_id, "token")
    assert orjson.loads(out)["request_id"] == request_id


def test_the_envelope_memo_sees_entity_policies_change(server: Server) -> None:
    """Entity policies are read at every creation: a change shows in the next envelope."""
    from tessera.core import prepared

    host = server.core.pipeline.host
    entry = _minted(server, {"type": "batch", "policies": ["default"]}, "entity")
    before = orjson.loads(prepared.batch_created_envelope(host, entry, [], "r", "token"))["auth"]
    entity_id = entry.entity_id
    status, _, answer = server.call(
        "POST", f"identity/entity/id/{entity_id}", ROOT, {"policies": ["ent-pol", "added"]}, fast=False
    )
    assert status in (200, 204), answer
    try:
        after = orjson.loads(prepared.batch_created_envelope(host, entry, [], "r", "token"))["auth"]
        assert before["identity_policies"] == ["ent-pol"]
        assert after["identity_policies"] == ["added", "ent-pol"]
        assert "added" in after["policies"] and "added" not in before["policies"]
    finally:
        server.call("POST", f"identity/entity/id/{entity_id}", ROOT, {"policies": ["ent-pol"]}, fast=False)


def test_the_envelope_memo_stays_bounded(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.core import prepared

    monkeypatch.setattr(prepared, "ENVELOPE_MEMO_SIZE", 4)
    host = server.core.pipeline.host
    for n in range(10):
        entry = _minted(server, {"type": "batch", "policies": [f"p{n}"]})
        prepared.batch_created_envelope(host, entry, [], "r", "token")
        assert len(prepared._ENVELOPES) <= 4


def _login_answer(token: str, **auth_fields: Any) -> Any:
    from tessera.framework import Auth, Response

    auth = Auth(client_token=token, token_type="batch", orphan=True, renewable=False, **auth_fields)
    return Response(auth=auth)


@pytest.mark.parametrize(
    "fields",
    [
        {"policies": ["default", "p1"], "token_policies": ["default", "p1"], "lease_duration": 900},
        {"metadata": {"role_name": "ci", "team": "<&>"}, "identity_policies": ["e"], "entity_id": "x"},
        {"policies": [], "token_policies": [], "metadata": {}},
    ],
)
def test_remembered_login_envelope_is_render_logical(fields: dict[str, Any]) -> None:
    from tessera.core import prepared
    from tessera.framework import Operation
    from tessera.framework.envelope import render_logical

    rid = "6f1c2a9e-0d4b-4e4f-9b1a-3c5d7e9f1a2b"
    for token, warnings in (("hvb.AAAA-_x", []), ("hvb.BBBBBBBB", ["w<1>"]), ("hvb.CC", ["w<1>"])):
        resp = _login_answer(token, **copy.deepcopy(fields))
        resp.warnings = list(warnings)
        full = render_logical(resp, Operation.UPDATE, "auth/approle/login", rid, "approle")[1]
        assert prepared.login_envelope(resp, "auth/approle/login", rid, "approle") == full


def test_login_envelope_leaves_other_answers_to_render_logical() -> None:
    from tessera.core import prepared
    from tessera.framework import Response, Secret

    assert prepared.login_envelope(Response(data={"a": 1}), "p", "r", "approle") is None
    service = _login_answer("hvs.x")
    service.auth.token_type = "service"
    assert prepared.login_envelope(service, "p", "r", "approle") is None
    leased = _login_answer("hvb.x")
    leased.secret = Secret(ttl=5)
    assert prepared.login_envelope(leased, "p", "r", "approle") is None
    assert prepared.login_envelope(_login_answer("hvb.x"), "p", 'r"', "approle") is None


def test_metadata_of_other_values_is_never_remembered() -> None:
    """1 and True are equal memo keys but different JSON: metadata of strings only is remembered."""
    from tessera.core import prepared
    from tessera.framework import Operation
    from tessera.framework.envelope import render_logical

    for value in (True, 1, 1.0, "1"):
        resp = _login_answer("hvb.meta", metadata={"only-here": value})  # type: ignore[dict-item]
        full = render_logical(resp, Operation.UPDATE, "p", "r", "approle")[1]
        assert prepared.login_envelope(resp, "p", "r", "approle") == full
        assert prepared.login_envelope(resp, "p", "r", "approle") == full
    assert [key for key in prepared._ENVELOPES if (("only-here", "1"),) in key]
    assert not [key for key in prepared._ENVELOPES if (("only-here", True),) in key]  # == 1 == 1.0

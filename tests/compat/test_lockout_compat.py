"""User lockout side by side with the reference OpenBao: the same logins, the same answers.

Failed logins of userpass users and AppRole role IDs, the 403 once locked, what resets the
counter, per-mount tuning (its validation and its effect), ``sys/locked-users`` and unlocking, the
``user_lockout`` config stanza, and what a restart keeps (locks) and forgets (counters). Dev-mode
servers (the shared fixtures) cover the defaults: lockout is on in dev mode too.

Known difference: none in what is compared here. The reference keeps a successful login's expired
lock on record until its 15-minute sweep; so does Tessera, so it is not compared.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.compat import normalize
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config
from tests.secrets.pairs import Both, strip

pytestmark = pytest.mark.reference


def _enable(both: Both, mtype: str) -> str:
    """The same new auth mount on both servers; its path."""
    name = mtype[:2] + uuid.uuid4().hex[:8]
    both.m = f"auth/{name}"
    for server in (both.ref, both.tes):
        status, body, _ = server.call("POST", f"sys/auth/{name}", json={"type": mtype})
        assert status == 204, body
    return name


def _accessor(server: ServerProcess, name: str, token: str = "root") -> str:
    status, body, _ = call(server.addr, "GET", "sys/auth", token)
    assert status == 200, body
    return str(body["data"][name + "/"]["accessor"])


@pytest.fixture
def both(reference: ReferenceServer, tessera: TesseraServer) -> Both:
    return Both(reference, tessera, "")


def _login(both: Both, user: str, password: str) -> tuple[int, Any]:
    """One userpass login on both servers; they must answer alike. The reference's answer."""
    (rs, rb), (ts, tb) = both.send(
        "POST", f"{both.m}/login/{user}", json={"password": password}, tokens=("", "")
    )
    assert rs == ts, f"login {user}: reference {rs} {rb}, tessera {ts} {tb}"
    if rs != 200:
        assert rb == tb
    return rs, rb


def _locked(both: Both, name: str) -> tuple[Any, Any]:
    """sys/locked-users for the mount on each server (filtered: other tests share the servers)."""
    out = []
    for server in (both.ref, both.tes):
        status, body, _ = call(
            server.addr, "GET", "sys/locked-users", "root", params={"mount_accessor": _accessor(server, name)}
        )
        assert status == 200, body
        out.append(strip(normalize(body)))
    return out[0], out[1]


def _unlock(both: Both, name: str, alias: str, token: str = "root") -> list[tuple[int, Any]]:
    out = []
    for server in (both.ref, both.tes):
        status, body, _ = call(
            server.addr, "POST", f"sys/locked-users/{_accessor(server, name)}/unlock/{alias}", token
        )
        out.append((status, body))
    return out


def test_userpass_locks_from_the_sixth_failure_and_unlocks(both: Both) -> None:
    name = _enable(both, "userpass")
    both.same("POST", f"{both.m}/users/alice", json={"password": "right"})
    statuses = [_login(both, "Alice", "wrong")[0] for _ in range(7)]  # the alias is lower-cased
    assert statuses == [400] * 5 + [403] * 2
    assert _login(both, "alice", "right") == (403, {"errors": ["permission denied"]})
    ref, tes = _locked(both, name)
    assert ref == tes
    assert ref["data"]["total"] == 1 and ref["data"]["by_namespace"][0]["mount_accessors"][0][
        "alias_identifiers"
    ] == ["alice"]
    assert [s for s, _ in _unlock(both, name, "Alice")] == [204, 204]  # not the alias: still locked
    assert _login(both, "alice", "right")[0] == 403
    assert [s for s, _ in _unlock(both, name, "alice")] == [204, 204]
    assert _login(both, "alice", "right")[0] == 200
    ref, tes = _locked(both, name)
    assert ref == tes and ref["data"]["total"] == 0


def test_unknown_users_and_role_ids_are_not_counted(both: Both) -> None:
    _enable(both, "userpass")
    assert [_login(both, "nosuch", "wrong")[0] for _ in range(7)] == [400] * 7
    _enable(both, "approle")
    for _ in range(7):
        both.same(
            "POST", f"{both.m}/login", json={"role_id": "no-such-role", "secret_id": "x"}, tokens=("", "")
        )


def test_a_successful_login_resets_the_counter(both: Both) -> None:
    _enable(both, "userpass")
    both.same("POST", f"{both.m}/users/bob", json={"password": "right"})
    for _ in range(2):
        assert [_login(both, "bob", "wrong")[0] for _ in range(4)] == [400] * 4
        assert _login(both, "bob", "right")[0] == 200
    assert [_login(both, "bob", "wrong")[0] for _ in range(6)] == [400] * 5 + [403]


def test_approle_counts_wrong_secret_ids_of_a_role_id(both: Both) -> None:
    name = _enable(both, "approle")
    both.same("POST", f"{both.m}/role/r1", json={"token_policies": "default"})
    (_, rb), (_, tb) = both.send("GET", f"{both.m}/role/r1/role-id")
    role_ids = (rb["data"]["role_id"], tb["data"]["role_id"])
    (_, rb), (_, tb) = both.send("POST", f"{both.m}/role/r1/secret-id")
    secrets = (rb["data"]["secret_id"], tb["data"]["secret_id"])

    def login(secret_id: str | None, good: bool = False) -> int:
        answers = []
        for server, role_id, secret in (
            (both.ref, role_ids[0], secrets[0]),
            (both.tes, role_ids[1], secrets[1]),
        ):
            body = (
                {"role_id": role_id}
                if secret_id is None
                else {"role_id": role_id, "secret_id": secret if good else secret_id}
            )
            status, out, _ = call(server.addr, "POST", f"{both.m}/login", json=body)
            answers.append((status, out if status != 200 else None))
        assert answers[0] == answers[1]
        return answers[0][0]

    assert [login("wrong") for _ in range(6)] == [400] * 5 + [403]
    assert login("", good=True) == 403
    assert login(None) == 403  # no secret ID at all: refused before the backend looks
    ref, tes = _locked(both, name)
    assert ref == tes and ref["data"]["by_namespace"][0]["mount_accessors"][0]["counts"] == 1
    for server, role_id in zip((both.ref, both.tes), role_ids, strict=True):
        assert (
            call(server.addr, "POST", f"sys/locked-users/{_accessor(server, name)}/unlock/{role_id}", "root")[
                0
            ]
            == 204
        )
    assert login("", good=True) == 200


TUNES: list[Any] = [
    {"lockout_threshold": "2", "lockout_duration": "3s", "lockout_counter_reset_duration": "2s"},
    {"lockout_threshold": "abc"},
    {"lockout_threshold": "-1"},
    {"lockout_threshold": 5.5},
    {"lockout_threshold": True},
    {"lockout_duration": "abc"},
    {"lockout_disable": "true"},
    {"lockout_disable": 1},
    {"lockout_counter_reset_duration": "10s"},
    {"bogus": "1"},
    "not a map",
]


def test_tuning_validates_and_reads_back_as_the_reference(both: Both) -> None:
    name = _enable(both, "userpass")
    both.same("GET", f"sys/auth/{name}/tune")
    for tune in TUNES:
        both.same("POST", f"sys/auth/{name}/tune", json={"user_lockout_config": tune})
        both.same("GET", f"sys/auth/{name}/tune")
        both.same("GET", f"sys/mounts/auth/{name}/tune")
    (_, rb), (_, tb) = both.send("GET", "sys/auth")
    assert strip(normalize(rb["data"][name + "/"]["config"])) == strip(
        normalize(tb["data"][name + "/"]["config"])
    )
    both.same("POST", "sys/auth/token/tune", json={"user_lockout_config": {"lockout_threshold": "3"}})
    both.same("POST", "sys/mounts/cubbyhole/tune", json={"user_lockout_config": {"lockout_threshold": "3"}})


@pytest.mark.parametrize(
    "config",
    [
        {"user_lockout_config": {"lockout_threshold": "3"}},
        {"user_lockout_config": {}},
        {"force_no_cache": "x"},
    ],
)
def test_enabling_with_lockout_config_answers_as_the_reference(both: Both, config: dict[str, Any]) -> None:
    name = "en" + uuid.uuid4().hex[:8]
    both.same("POST", f"sys/auth/{name}", json={"type": "userpass", "config": config})
    both.same("POST", f"sys/mounts/{name}", json={"type": "kv", "config": config})


def test_tuned_threshold_and_duration_are_enforced(both: Both) -> None:
    name = _enable(both, "userpass")
    both.same("POST", f"{both.m}/users/carol", json={"password": "right"})
    tune = {"lockout_threshold": "2", "lockout_duration": "2s"}
    both.same("POST", f"sys/auth/{name}/tune", json={"user_lockout_config": tune})
    assert [_login(both, "carol", "wrong")[0] for _ in range(3)] == [400, 400, 403]
    # The lock runs out after its duration: both servers let the right password in again.
    deadline = time.monotonic() + 10
    answers: set[int] = set()
    while answers != {200} and time.monotonic() < deadline:
        (rs, _), (ts, _) = both.send(
            "POST", f"{both.m}/login/carol", json={"password": "right"}, tokens=("", "")
        )
        answers = {rs, ts}
        time.sleep(0.2)
    assert answers == {200}
    both.same("POST", f"sys/auth/{name}/tune", json={"user_lockout_config": {"lockout_disable": True}})
    assert [_login(both, "carol", "wrong")[0] for _ in range(4)] == [400] * 4


def test_unlock_endpoint_edges(both: Both) -> None:
    name = _enable(both, "userpass")
    assert [s for s, _ in _unlock(both, name, "nobody")] == [204, 204]
    both.same("POST", "sys/locked-users/bogus/unlock/alice")
    both.same("GET", "sys/locked-users/bogus/unlock/alice")
    both.same("POST", "sys/locked-users/bogus/unlock/")
    both.same("POST", "sys/locked-users/bogus/unlock/alice", tokens=("", ""))
    both.same("GET", "sys/locked-users", tokens=("", ""))
    both.same("LIST", "sys/locked-users")


# -- config mode: the user_lockout stanza, and a restart ------------------------------------------
LOCKOUT_STANZAS = 'user_lockout "userpass" {\n  lockout_threshold = 2\n}\nuser_lockout "all" {\n  lockout_duration = "1h"\n}\n'


def _raft_reference(tmp: Path) -> ReferenceServer:
    port = free_port(span=2)
    data = tmp / "raft"
    data.mkdir()
    text = hcl_config(port).replace(
        'storage "inmem" {\n}\n', f'storage "raft" {{\n  path = "{data}"\n  node_id = "n1"\n}}\n'
    )
    text += f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{port + 1}"\n'
    (tmp / "bao.hcl").write_text(text + LOCKOUT_STANZAS)
    return ReferenceServer(config=tmp / "bao.hcl")


def _wait_active(server: ServerProcess, timeout: float = 30) -> None:
    """After an unseal the reference (raft) elects itself; wait until it serves requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            call(server.addr, "GET", "sys/health")[0] == 200
            and call(server.addr, "GET", "sys/auth", server.root_token)[0] == 200
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"{server!r} never became active")


@pytest.fixture
def config_pair(tmp_path: Path) -> Iterator[Both]:
    (tmp_path / "ref").mkdir()
    ref = _raft_reference(tmp_path / "ref")
    tes_cfg = tmp_path / "tessera.hcl"
    tes_cfg.write_text(
        hcl_config(free_port(), storage="sqlite", storage_options={"path": str(tmp_path / "t.db")})
        + LOCKOUT_STANZAS
    )
    tes = TesseraServer(config=tes_cfg)
    try:
        for server in (ref, tes):
            server.start()
            server.init()
            server.unseal()
            _wait_active(server)
        yield Both(ref, tes, "")
    finally:
        ref.cleanup()
        tes.cleanup()


def _tokens(both: Both) -> tuple[str, str]:
    assert both.ref.root_token and both.tes.root_token
    return both.ref.root_token, both.tes.root_token


def test_config_stanzas_and_a_restart(config_pair: Both) -> None:
    both = config_pair
    tokens = _tokens(both)
    name = "up"
    both.m = "auth/up"
    both.same("POST", f"sys/auth/{name}", json={"type": "userpass"}, tokens=tokens)
    for user in ("u1", "u2"):
        both.same("POST", f"{both.m}/users/{user}", json={"password": "right"}, tokens=tokens)
    # userpass: threshold 2 from its own stanza, duration 1h from "all".
    assert [_login(both, "u1", "wrong")[0] for _ in range(3)] == [400, 400, 403]
    assert _login(both, "u2", "wrong")[0] == 400
    for server in (both.ref, both.tes):
        server.restart()
        server.unseal()
        _wait_active(server)
    # The lock survived the restart; u2's one failure did not (counters live for one unseal).
    assert _login(both, "u1", "right")[0] == 403
    assert [_login(both, "u2", "wrong")[0] for _ in range(3)] == [400, 400, 403]
    out = []
    for server, token in zip((both.ref, both.tes), tokens, strict=True):
        status, body, _ = call(server.addr, "GET", "sys/locked-users", token)
        out.append((status, strip(normalize(body))))
    assert out[0] == out[1]
    assert out[0][1]["data"]["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"] == ["u1", "u2"]


BAD_STANZAS = [
    'user_lockout "token" {\n  lockout_threshold = 2\n}\n',
    'user_lockout "all" {\n  lockout_threshold = "abc"\n}\n',
    'user_lockout "all" {\n  lockout_duration = "abc"\n}\n',
    'user_lockout "all" {\n  disable_lockout = "maybe"\n}\n',
]


@pytest.mark.parametrize("stanza", BAD_STANZAS)
def test_bad_stanzas_stop_both_servers_with_the_same_reason(tmp_path: Path, stanza: str) -> None:
    outputs = []
    for cls in (ReferenceServer, TesseraServer):
        config = tmp_path / f"{cls.__name__}.hcl"
        config.write_text(hcl_config(free_port()) + stanza)
        server = cls(config=config, startup_timeout=15)
        try:
            with pytest.raises(Exception):  # noqa: B017 - ServerStartError, with what it printed
                server.start()
            outputs.append(server.output())
        finally:
            server.cleanup()
    reason = outputs[0].split("error parsing 'user_lockout': ", 1)[1].splitlines()[0]
    assert reason in outputs[1], outputs[1]

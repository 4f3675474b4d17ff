"""User lockout (core/lockout.py): the settings' precedence, and one count across worker processes.

The answers themselves are compared with the reference in tests/compat/test_lockout_compat.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tessera.auth.token import factory as token_factory
from tessera.auth.userpass import factory as userpass_factory
from tessera.core.core import Core, CoreConfig
from tessera.core.lockout import DEFAULTS, LockoutSettings, parse_user_lockouts, settings_for
from tessera.routing.mounts import MountEntry
from tessera.server.config import ConfigError, parse_config
from tessera.storage.inmem import InmemPhysical
from tests.helpers.workers import Pair, running_pair


def _entry(mtype: str, tuned: dict[str, object] | None = None) -> MountEntry:
    entry = MountEntry.new("auth", mtype + "/", mtype)
    entry.config.user_lockout_config = tuned
    return entry


def test_a_types_stanza_takes_what_it_leaves_unset_from_all_then_the_defaults() -> None:
    blocks = parse_user_lockouts(
        [
            ("all", {"lockout_duration": "1h", "disable_lockout": "false"}),
            ("userpass", {"lockout_threshold": 2}),
        ]
    )
    assert blocks["userpass"] == LockoutSettings(threshold=2, duration=3600, counter_reset=900)
    assert blocks["all"] == LockoutSettings(threshold=5, duration=3600, counter_reset=900)
    core = Core(InmemPhysical(), CoreConfig(extra={"user_lockouts": blocks}))
    assert settings_for(core, _entry("userpass")).threshold == 2
    assert settings_for(core, _entry("approle")) == blocks["all"]
    assert settings_for(Core(InmemPhysical()), _entry("approle")) == DEFAULTS


def test_a_mounts_tuning_overrides_what_it_sets_to_non_zero() -> None:
    core = Core(
        InmemPhysical(),
        CoreConfig(extra={"user_lockouts": parse_user_lockouts([("all", {"lockout_threshold": 3})])}),
    )
    tuned = _entry("userpass", {"threshold": 0, "duration": 60, "counter_reset": 0, "disabled": False})
    assert settings_for(core, tuned) == LockoutSettings(threshold=3, duration=60, counter_reset=900)
    assert settings_for(core, _entry("userpass", {"disabled": True})).disabled
    token, userpass = token_factory(core, _entry("token")), userpass_factory(core, _entry("userpass"))
    assert core.lockout.settings(_entry("token"), token) is None  # only the methods Vault locks out
    assert core.lockout.settings(_entry("userpass", {"disabled": True}), userpass) is None
    assert core.lockout.settings(_entry("userpass"), userpass) == LockoutSettings(threshold=3)


def test_config_errors_name_the_stanza() -> None:
    listener = 'listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n'
    with pytest.raises(ConfigError, match=r"user_lockouts.0: unsupported auth type \"token\""):
        parse_config(listener + 'user_lockout "token" {\n lockout_threshold = 1\n}\n')
    cfg = parse_config(listener + 'user_lockout "approle" {\n lockout_counter_reset = "30s"\n}\n')
    assert cfg.user_lockouts["approle"].counter_reset == 30


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("lockout-workers")) as p:
        yield p


def _login(pair: Pair, where: str, mount: str, user: str, password: str) -> int:
    return pair.on(where, "POST", f"auth/{mount}/login/{user}", token="", json={"password": password})[0]


def test_failures_on_either_process_count_once_towards_one_lock(pair: Pair) -> None:
    mount = "up" + uuid.uuid4().hex[:6]
    assert pair.on("active", "POST", f"sys/auth/{mount}", json={"type": "userpass"})[0] == 204
    assert pair.on("active", "POST", f"auth/{mount}/users/dan", json={"password": "right"})[0] == 204
    # Batch tokens: a successful login is one the worker can serve without the active process.
    assert pair.on("active", "POST", f"sys/auth/{mount}/tune", json={"token_type": "batch"})[0] == 204
    assert _login(pair, "worker", mount, "dan", "right") == 200
    places = ["worker", "active", "worker", "worker", "active"]
    assert [_login(pair, where, mount, "dan", "wrong") for where in places] == [400] * 5
    assert _login(pair, "worker", mount, "dan", "right") == 403
    assert _login(pair, "active", mount, "dan", "right") == 403
    status, body = pair.on("worker", "GET", "sys/locked-users")
    assert status == 200, body
    accessors = body["data"]["by_namespace"][0]["mount_accessors"]
    assert [m["alias_identifiers"] for m in accessors] == [["dan"]]
    unlock = f"sys/locked-users/{accessors[0]['mount_accessor']}/unlock/dan"
    assert pair.on("worker", "POST", unlock)[0] == 204
    assert _login(pair, "worker", mount, "dan", "right") == 200


def test_a_success_on_the_worker_resets_the_count_kept_by_the_active_process(pair: Pair) -> None:
    mount = "up" + uuid.uuid4().hex[:6]
    assert pair.on("active", "POST", f"sys/auth/{mount}", json={"type": "userpass"})[0] == 204
    assert pair.on("active", "POST", f"sys/auth/{mount}/tune", json={"token_type": "batch"})[0] == 204
    assert pair.on("active", "POST", f"auth/{mount}/users/eve", json={"password": "right"})[0] == 204
    for _ in range(2):
        assert [_login(pair, "active", mount, "eve", "wrong") for _ in range(4)] == [400] * 4
        assert _login(pair, "worker", mount, "eve", "right") == 200
    assert [_login(pair, "worker", mount, "eve", "wrong") for _ in range(6)] == [400] * 5 + [403]

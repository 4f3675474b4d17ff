"""The real ``bao`` CLI against Tessera, compared line by line with ``bao`` against the reference.

The foundation's issue asks that ``bao status``, ``bao operator init``, ``bao operator unseal``,
``bao secrets list``, ``bao secrets enable -version=1 kv``, ``bao kv put/get`` (v1 and v2) and
``bao read/write/list/delete`` work against Tessera unchanged. Here they run from an uninitialised
server to unsealed, once with ``bao`` and once with ``tessera`` on Tessera's side (a golden test of
``tessera operator init/unseal`` too); the secrets commands and the tutorial seeds run with ``bao`` on
the shared dev servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import ReferenceServer, TesseraServer, free_port, hcl_config

from . import test_golden as seeds
from .conftest import Pair, Server, side_kind
from .golden import BAO, TESSERA, Result, assert_same

_UNSEAL_KEY = re.compile(r"^Unseal Key (\d+): (\S+)$", re.MULTILINE)
_ROOT_TOKEN = re.compile(r"^Initial Root Token: (\S+)$", re.MULTILINE)


def _config_server(kind: str, workdir: Path, name: str) -> Server:
    """An uninitialised server of ``kind`` on in-memory storage, started from a config file."""
    config = workdir / f"{name}.hcl"
    config.write_text(hcl_config(free_port(span=2), storage="inmem"))
    server = ReferenceServer(config=config) if kind == "reference" else TesseraServer(config=config)
    return server.start()


@pytest.fixture(params=[TESSERA, BAO], ids=["tessera-cli", "bao-cli"])
def uninit_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Uninitialised servers: the reference for ``bao``, Tessera for the parametrised CLI."""
    kind = side_kind()
    if kind not in ("tessera", "reference"):
        pytest.skip("an external server cannot be initialised by a test")
    ref = _config_server("reference", tmp_path, "ref")
    try:
        side = _config_server(kind, tmp_path, "side")
    except BaseException:
        ref.cleanup()
        raise
    pair = Pair(ref, side, tmp_path, side_cli=request.param)
    try:
        yield pair
    finally:
        ref.cleanup()
        side.cleanup()
        pair.cleanup()


def _init_output(out: str) -> tuple[list[str], str]:
    """The unseal keys and the root token that ``operator init`` printed."""
    root = _ROOT_TOKEN.search(out)
    assert root is not None, out
    return [key for _, key in _UNSEAL_KEY.findall(out)], root.group(1)


def _init_secrets(
    a: Result, b: Result
) -> tuple[tuple[list[str], list[str]], tuple[str, str], dict[str, str]]:
    """Each side's unseal keys and root token, and the placeholders that hide the keys."""
    (keys_a, root_a), (keys_b, root_b) = _init_output(a.out), _init_output(b.out)
    hidden = {key: f"<UNSEAL KEY {i}>" for keys in (keys_a, keys_b) for i, key in enumerate(keys, 1)}
    return (keys_a, keys_b), (root_a, root_b), hidden


def test_init_and_unseal(uninit_pair: Pair) -> None:
    """status (uninitialised, sealed, unsealed) → operator init → unseal share by share, and a reset."""
    pair = uninit_pair

    def same(*args: str) -> None:
        assert_same(*pair.run(list(args), token=None))

    same("status")
    same("status", "-format=json")
    same("operator", "init", "-status")
    a, b = pair.run(["operator", "init", "-key-shares=3", "-key-threshold=2"], token=None)
    keys, roots, hidden = _init_secrets(a, b)
    assert len(keys[0]) == len(keys[1]) == 3
    assert_same(a, b, hidden)
    same("operator", "init", "-status")
    same("status")
    a, b = pair.run_each(["operator", "unseal"], (keys[0][0], keys[1][0]))
    assert_same(a, b)
    same("operator", "unseal", "-reset")
    same("status", "-format=json")
    for i in (0, 1):
        a, b = pair.run_each(["operator", "unseal"], (keys[0][i], keys[1][i]))
        assert_same(a, b)
    same("status")
    same("operator", "unseal", "-reset")
    assert_same(*pair.run(["secrets", "list"], token=roots))


# -- the tutorial seeds with the real CLI on Tessera's side ------------------------------------------


@pytest.fixture
def bao_pair(pair: Pair) -> Pair:
    """The shared servers, with ``bao`` (not ``tessera``) talking to Tessera."""
    pair.side_cli = BAO
    return pair


def test_secrets_kv_and_generic_commands_with_bao(bao_pair: Pair) -> None:
    """secrets list/enable, kv put/get on v1 and v2, read/write/list/delete, on the dev servers."""
    (bao_pair.workdir / "data.json").write_text('{"x": "y"}')
    for args in (
        ["secrets", "list"],
        ["secrets", "enable", "-version=1", "kv"],
        ["secrets", "enable", "-version=1", "kv"],
        ["secrets", "list"],
        ["kv", "put", "kv/foo", "a=b"],
        ["kv", "get", "kv/foo"],
        ["kv", "get", "-field=a", "kv/foo"],
        ["kv", "put", "secret/bao-foo", "bar=baz"],
        ["kv", "get", "secret/bao-foo"],
        ["kv", "get", "-format=json", "secret/bao-foo"],
        ["kv", "get", "secret/nothing"],
        ["write", "kv/app", "user=me", "pw=x"],
        ["read", "kv/app"],
        ["read", "-format=json", "kv/app"],
        ["list", "kv"],
        ["list", "-format=json", "kv/"],
        ["delete", "kv/app"],
        ["read", "kv/app"],
        ["list", "kv/nothing/"],
        ["write", "secret/data/bao-w", "data=@data.json"],
        ["read", "secret/data/bao-w"],
        ["delete", "secret/data/bao-w"],
        ["read", "secret/data/bao-w"],
        ["kv", "metadata", "delete", "secret/bao-foo"],
        ["secrets", "enable", "-local", "-path=bao-local", "kv"],
        ["auth", "enable", "-local", "-path=bao-up", "userpass"],
        ["secrets", "list", "-detailed"],
        ["auth", "list", "-detailed"],
        ["secrets", "disable", "bao-local"],
        ["auth", "disable", "bao-up"],
        ["secrets", "disable", "kv"],
    ):
        assert_same(*bao_pair.run(args))


def test_seed_batch_token_tutorial_with_bao(bao_pair: Pair) -> None:
    seeds.test_seed_batch_token_tutorial(bao_pair)


def test_seed_service_and_batch_lifecycle_with_bao(bao_pair: Pair) -> None:
    seeds.test_seed_service_and_batch_lifecycle(bao_pair)


def test_seed_token_types_and_approle_with_bao(bao_pair: Pair) -> None:
    seeds.test_seed_token_types_and_approle(bao_pair)

"""Servers for the CLI tests: ``bao`` talks to the reference OpenBao, ``tessera`` to a Tessera server.

``TESSERA_TEST_SERVER`` chooses the server the ``tessera`` CLI talks to: unset or ``tessera`` ->
``python -m tessera server -dev`` (what the golden tests are for), ``reference`` -> a second reference
server (to tell a CLI difference from a server difference while debugging), or an address such as
``http://127.0.0.1:8200`` of a running dev server whose root token is ``root``.

One pair of servers per xdist worker is shared by the tests that keep both sides in step (every
command runs on both); tests that seal or rotate get a ``fresh_pair`` of their own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.servers import ReferenceServer, TesseraServer

from .golden import BAO, TESSERA, Result, cli_env, run_cli

ROOT = "root"


@dataclass
class ExternalServer:
    """A server someone else runs (``TESSERA_TEST_SERVER=http://...``): never started or stopped here."""

    addr: str

    def cleanup(self) -> None:
        """Nothing to stop: the server is not ours."""


Server = ReferenceServer | TesseraServer | ExternalServer


def side_kind() -> str:
    """What the ``tessera`` CLI talks to: ``tessera``, ``reference`` or an address."""
    return os.environ.get("TESSERA_TEST_SERVER", "").strip() or "tessera"


def _side_server() -> Server:
    choice = side_kind()
    if choice == "tessera":
        return TesseraServer().start()
    if choice == "reference":
        return ReferenceServer().start()
    return ExternalServer(choice.rstrip("/"))


@dataclass
class Pair:
    """The two sides of a golden test: ``bao`` on the reference, ``side_cli`` (``tessera``) on ``side``.

    ``side_cli`` may be ``bao`` too: the real CLI against Tessera checks the server alone.
    """

    ref: Server
    side: Server
    workdir: Path
    side_cli: str = TESSERA
    homes: tuple[str, str] = ("", "")

    def __post_init__(self) -> None:
        self.homes = (tempfile.mkdtemp(prefix="home-bao-"), tempfile.mkdtemp(prefix="home-tessera-"))

    def run(
        self, args: list[str], *, stdin: str = "", token: str | tuple[str, str] | None = ROOT, **env: str
    ) -> tuple[Result, Result]:
        """Run ``bao args`` and ``tessera args``; ``token`` may differ per side (a tuple)."""
        tokens = token if isinstance(token, tuple) else (token, token)
        a = run_cli(
            BAO, args, cli_env(self.ref.addr, self.homes[0], tokens[0], **env), stdin, cwd=str(self.workdir)
        )
        b = self.run_tessera(args, stdin=stdin, token=tokens[1], **env)
        return a, b

    def run_each(
        self, args: list[str], each: tuple[str, str], *, after: tuple[str, ...] = (), **env: str
    ) -> tuple[Result, Result]:
        """Run ``args EACH after...`` with a per-side EACH (e.g. each side's own token or accessor)."""
        a = run_cli(
            BAO,
            [*args, each[0], *after],
            cli_env(self.ref.addr, self.homes[0], ROOT, **env),
            cwd=str(self.workdir),
        )
        b = run_cli(
            self.side_cli,
            [*args, each[1], *after],
            cli_env(self.side.addr, self.homes[1], ROOT, **env),
            cwd=str(self.workdir),
        )
        return a, b

    def run_tessera(
        self, args: list[str], *, stdin: str = "", token: str | None = ROOT, **env: str
    ) -> Result:
        """Run ``tessera args`` alone (its side only)."""
        return run_cli(
            self.side_cli,
            args,
            cli_env(self.side.addr, self.homes[1], token, **env),
            stdin,
            cwd=str(self.workdir),
        )

    def cleanup(self) -> None:
        """Remove both CLI homes (token helper files)."""
        for home in self.homes:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Server, Server]]:
    """The reference and the side server, shared by this worker's tests (both sides stay in step)."""
    ref = ReferenceServer().start()
    try:
        side = _side_server()
    except BaseException:
        ref.cleanup()
        raise
    try:
        yield ref, side
    finally:
        ref.cleanup()
        side.cleanup()


@pytest.fixture
def pair(servers: tuple[Server, Server], tmp_path: Path) -> Iterator[Pair]:
    """Both CLIs, each with a home of its own, on the shared servers."""
    p = Pair(servers[0], servers[1], tmp_path)
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture
def fresh_pair(tmp_path: Path) -> Iterator[Pair]:
    """A pair of servers of the test's own, for tests that change global state (seal, rotate)."""
    ref = ReferenceServer().start()
    try:
        side = _side_server()
    except BaseException:
        ref.cleanup()
        raise
    p = Pair(ref, side, tmp_path)
    try:
        yield p
    finally:
        ref.cleanup()
        side.cleanup()
        p.cleanup()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start the reference get the ``reference`` marker (``-m "not reference"`` skips them)."""
    for item in items:
        if {"servers", "pair", "fresh_pair"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.reference)


__all__ = ["TESSERA", "Pair", "side_kind"]

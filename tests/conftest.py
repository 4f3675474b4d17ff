"""Shared fixtures: real servers on free ports, one of each per xdist worker plus fresh ones on demand.

``reference`` / ``fresh_reference``: the reference OpenBao dev server (root token ``root``).
``tessera`` / ``fresh_tessera``: Tessera's dev server (root token ``root``), a real subprocess.
The session-scoped ones are shared by every test of a worker: tests using them must not depend on a
clean server (use unique mount paths and names); the ``fresh_`` ones are started for one test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.helpers.bytecode import compile_sources
from tests.helpers.postgres import Postgres, ThrowawayCluster, from_environment
from tests.helpers.servers import ReferenceServer, TesseraServer

# In CI, property tests draw the same examples on every run: a red CI then means a change broke
# something, not that a new random draw found an old corner. Locally they explore afresh.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def reference() -> Iterator[ReferenceServer]:
    """The reference OpenBao dev server shared by this worker's tests."""
    server = ReferenceServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def fresh_reference() -> Iterator[ReferenceServer]:
    """A reference OpenBao dev server of this test's own."""
    server = ReferenceServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def tessera() -> Iterator[TesseraServer]:
    """Tessera's dev server shared by this worker's tests."""
    server = TesseraServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def fresh_tessera() -> Iterator[TesseraServer]:
    """A Tessera dev server of this test's own."""
    server = TesseraServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server with a database ``test``: ``TESSERA_TEST_PG``'s, or a throwaway cluster
    started for this worker's tests (``tests/helpers/postgres.py``)."""
    given = from_environment()
    if given is not None:
        yield given
        return
    cluster = ThrowawayCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def pytest_configure(config: pytest.Config) -> None:
    """Compile our sources once, in the controller, so the many processes the tests start load bytecode."""
    if not hasattr(config, "workerinput"):
        compile_sources()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the reference server get the ``reference`` marker (``-m "not reference"`` skips
    them); tests that use PostgreSQL get ``postgres``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if {"reference", "fresh_reference"} & names:
            item.add_marker(pytest.mark.reference)
        if "postgres" in names:
            item.add_marker(pytest.mark.postgres)

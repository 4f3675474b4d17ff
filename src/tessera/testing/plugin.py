"""pytest fixtures that start a real Tessera server (the ``pytest11`` plugin ``tessera``).

``tessera_server``          a dev server (in memory, unsealed) shared by the whole session
``tessera_fresh_server``    a dev server of the test's own
``tessera_sealed_server``   a server on SQLite, initialised (one key share) and sealed, of the test's own
``tessera_hvac``            an ``hvac.Client`` for ``tessera_server`` with its root token (skips without hvac)

Each server is a ``tessera.testing.TesseraProcess``: ``addr``, ``root_token``, ``unseal_keys``,
``request()``, ``unseal()``, ``hvac_client()``; it stops when its scope ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .server import TesseraProcess


@pytest.fixture(scope="session")
def tessera_server() -> Iterator[TesseraProcess]:
    with TesseraProcess.dev() as server:
        yield server


@pytest.fixture
def tessera_fresh_server() -> Iterator[TesseraProcess]:
    with TesseraProcess.dev() as server:
        yield server


@pytest.fixture
def tessera_sealed_server() -> Iterator[TesseraProcess]:
    with TesseraProcess.sealed() as server:
        yield server


@pytest.fixture
def tessera_hvac(tessera_server: TesseraProcess) -> Any:
    pytest.importorskip("hvac")
    return tessera_server.hvac_client()

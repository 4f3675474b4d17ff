"""A Tessera on SQLite (config mode), initialised and unsealed, for tests that restart the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import TesseraServer, tessera_on_sqlite


@pytest.fixture
def sqlite_tessera(tmp_path: Path) -> Iterator[TesseraServer]:
    server = tessera_on_sqlite(tmp_path).start()
    try:
        server.init(1, 1)
        server.unseal()
        yield server
    finally:
        server.cleanup()

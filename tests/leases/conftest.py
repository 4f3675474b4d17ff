"""A Tessera on SQLite (config mode), initialised and unsealed, for tests that restart the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import TesseraServer, free_port, hcl_config


@pytest.fixture
def sqlite_tessera(tmp_path: Path) -> Iterator[TesseraServer]:
    config = tmp_path / "tessera.hcl"
    config.write_text(
        hcl_config(free_port(), storage="sqlite", storage_options={"path": str(tmp_path / "t.db")})
    )
    server = TesseraServer(config=config).start()
    try:
        server.init(1, 1)
        server.unseal()
        yield server
    finally:
        server.cleanup()

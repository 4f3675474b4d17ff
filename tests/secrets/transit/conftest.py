"""Fixtures for the transit unit tests: an in-process mount and the recorded reference keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .harness import InProcessTransit

DATA = Path(__file__).parent / "data"


@pytest.fixture
def transit() -> InProcessTransit:
    """A fresh transit mount over a real (in-memory) barrier."""
    return InProcessTransit()


@pytest.fixture(scope="session")
def reference_keys() -> list[dict[str, Any]]:
    """Keys made by the reference (OpenBao 2.7.2): backup blobs, ciphertexts, signatures, HMACs."""
    return json.loads((DATA / "reference_keys.json").read_text())["keys"]

"""Browser fixtures: headless Chromium (Debian's ``chromium``) driven by Playwright, and a folder for screenshots.

Playwright's own browser download is not used: the browser is the system's, found as
``TESSERA_CHROMIUM`` or ``chromium`` on PATH. Without one the browser tests are skipped with the
reason, except in CI (``CI`` set), where a missing browser is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    explicit = os.environ.get("TESSERA_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: .ci/run installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per xdist worker; each test opens its own context (its own sessionStorage)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    executable = find_chromium()
    if executable is None:
        _unavailable("no Chromium found: apt-get install chromium, or set TESSERA_CHROMIUM")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests put a screenshot of each page: ``TESSERA_UI_SCREENSHOTS`` (CI artifacts) or a tmp dir."""
    explicit = os.environ.get("TESSERA_UI_SCREENSHOTS")
    folder = Path(explicit) if explicit else tmp_path_factory.mktemp("ui-screenshots", numbered=False)
    folder.mkdir(parents=True, exist_ok=True)
    return folder

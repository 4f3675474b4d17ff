"""A browser tab on the Tessera UI: open a page, wait until it has drawn, and keep what the console said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# An error answer of the API (404 for an empty KV folder, 400 for a batch token's revoke) is logged
# by Chromium as a failed resource load: the page shows it, as it should. Everything else the
# console reports as an error is a fault, a CSP violation ("Refused to ...") above all.
EXPECTED_CONSOLE = ("Failed to load resource: the server responded with a status of",)


class UITab:
    def __init__(self, browser: Any, addr: str, *, width: int = 1200, height: int = 900) -> None:
        self.addr = addr
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, ignore_https_errors=True
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith(EXPECTED_CONSOLE):
            self.errors.append(message.text)

    def open(self, route: str, *, token: str | None = None) -> Any:
        """Load /ui/#/<route> afresh (a full page load), with ``token`` in sessionStorage if given."""
        if token is not None:
            self.page.goto(f"{self.addr}/ui/")
            self.page.evaluate("t => sessionStorage.setItem('tessera.token', t)", token)
        self.page.goto(f"{self.addr}/ui/#/{route}")
        self.page.reload()  # a hash change alone is not a page load
        return self.ready(route.split("/")[0])

    def ready(self, name: str) -> Any:
        """The page ``name`` once it has drawn everything (main.js marks it data-ready)."""
        page = self.page.locator(f'main > .page[data-page="{name}"][data-ready]')
        page.wait_for()
        return page

    def load_seconds(self) -> float:
        """From the start of the page load to now, by the browser's clock."""
        return float(self.page.evaluate("performance.now()")) / 1000

    def shot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> UITab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

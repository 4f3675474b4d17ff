"""The web UI's cold page loads in headless Chromium, the reference's UI and Tessera's side by side.

Both dev servers are started here. Each load is a fresh browser context (empty cache), timed by the
browser's clock from the start of navigation until the login form can be typed into (both UIs), and
for Tessera's other pages until they have drawn their data. Bytes are what crossed the wire (gzip).

    python -m bench.ui_load --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers.servers import ReferenceServer, TesseraServer  # noqa: E402
from tests.ui.conftest import find_chromium  # noqa: E402

# The reference's login form: OpenBao's Ember app, once it has booted and drawn.
REFERENCE_LOGIN = ("/ui/vault/auth?with=token", "input[name=token], input#token, [data-test-token]")
TESSERA_PAGES = ["login", "status", "tokens", "secrets", "policies"]
BYTES_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return nav.transferSize + performance.getEntriesByType("resource")
    .filter((r) => !r.name.includes("/v1/")).reduce((sum, r) => sum + r.transferSize, 0);
}"""


def _load(browser: Any, url: str, ready: str, token: str | None = None) -> tuple[float, int]:
    """One cold load: (seconds until ``ready`` shows, bytes of UI assets transferred)."""
    context = browser.new_context()
    try:
        if token:
            context.add_init_script(f"sessionStorage.setItem('tessera.token', {token!r})")
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(ready, state="visible", timeout=30_000)
        return page.evaluate("performance.now()") / 1000, int(page.evaluate(BYTES_JS))
    finally:
        context.close()


def _median(samples: list[tuple[float, int]]) -> tuple[float, int]:
    return statistics.median(s for s, _ in samples), int(statistics.median(b for _, b in samples))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold loads per page (median shown)")
    args = parser.parse_args()
    executable = find_chromium()
    if executable is None:
        sys.exit("no Chromium found: apt-get install chromium, or set TESSERA_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with ReferenceServer() as reference, TesseraServer() as tessera, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        path, selector = REFERENCE_LOGIN
        ref = _median([_load(browser, reference.addr + path, selector) for _ in range(args.runs)])
        rows = []
        for name in TESSERA_PAGES:
            ready = f'main > .page[data-page="{name}"][data-ready]'
            token = None if name == "login" else tessera.root_token
            samples = [_load(browser, f"{tessera.addr}/ui/#/{name}", ready, token) for _ in range(args.runs)]
            rows.append((name, *_median(samples)))
        browser.close()
    print(f"cold loads, median of {args.runs} (headless Chromium, fresh context each)")
    print(f"{'page':<10} {'reference ms':>13} {'tessera ms':>11} {'reference kB':>13} {'tessera kB':>11}")
    for name, seconds, size in rows:
        ref_ms, ref_kb = (f"{ref[0] * 1000:.0f}", f"{ref[1] / 1000:.0f}") if name == "login" else ("-", "-")
        print(f"{name:<10} {ref_ms:>13} {seconds * 1000:>11.0f} {ref_kb:>13} {size / 1000:>11.1f}")


if __name__ == "__main__":
    main()

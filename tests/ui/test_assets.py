"""The UI's packaged files: all present, answered with the right types, compressed when asked, and small."""

from __future__ import annotations

import gzip
import re

import pytest

from tessera.ui.assets import UIAssets

ASSETS = UIAssets.from_package()
# What the wheel may carry for the UI, uncompressed: a guard against vendoring something big.
SIZE_BUDGET = 100_000


def test_every_file_the_pages_load_is_shipped() -> None:
    """index.html's links and every ES module import resolve to a packaged file (no build step to catch it)."""
    index = ASSETS.files["index.html"].body.decode()
    wanted = {m.removeprefix("/ui/") for m in re.findall(r'(?:src|href)="(/ui/[^"]+)"', index)}
    assert "js/main.js" in wanted
    for name, asset in ASSETS.files.items():
        if not name.endswith(".js"):
            continue
        folder = name.rsplit("/", 1)[0]
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', asset.body.decode()):
            parts = f"{folder}/{target}".split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part != ".":
                    resolved.append(part)
            wanted.add("/".join(resolved))
    missing = sorted(wanted - set(ASSETS.files))
    assert not missing, missing


def test_index_preloads_every_module() -> None:
    """A module missing from the preload list still works, but is fetched a round trip later."""
    index = ASSETS.files["index.html"].body.decode()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/ui/([^"]+)">', index))
    modules = {name for name in ASSETS.files if name.endswith(".js")}
    assert preloaded | {"js/main.js"} == modules


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("js/main.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_content_types(name: str, content_type: str) -> None:
    status, body, headers = ASSETS.answer(name, "")
    assert status == 200 and body == ASSETS.files[name].body
    assert dict(headers)[b"content-type"] == content_type.encode()


def test_a_page_path_gets_the_single_page() -> None:
    _, body, headers = ASSETS.answer("vault/access/tokens", "")
    assert body == ASSETS.files["index.html"].body
    assert dict(headers)[b"content-type"] == b"text/html; charset=utf-8"


def test_gzip_only_when_the_client_accepts_it() -> None:
    _, plain, headers = ASSETS.answer("js/pages/tokens.js", "")
    assert b"content-encoding" not in dict(headers)
    _, packed, headers = ASSETS.answer("js/pages/tokens.js", "gzip, deflate, br")
    assert dict(headers)[b"content-encoding"] == b"gzip"
    assert gzip.decompress(packed) == plain and len(packed) < len(plain)


def test_no_index_is_refused() -> None:
    with pytest.raises(ValueError, match=r"index\.html"):
        UIAssets({"app.css": b""})


def test_the_ui_adds_little_to_the_wheel() -> None:
    raw = sum(len(a.body) for a in ASSETS.files.values())
    packed = sum(len(a.gzipped) for a in ASSETS.files.values())
    print(f"UI assets: {len(ASSETS.files)} files, {raw} bytes, {packed} gzipped")
    assert raw < SIZE_BUDGET

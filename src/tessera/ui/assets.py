"""The UI's static files, shipped in the package and answered under ``/ui/`` with Vault's UI headers.

The files are few and small, so they are read once, when the server starts, and kept in memory
with their gzip form beside them (Vault's UI handler compresses too, hence ``Vary``).
"""

from __future__ import annotations

import gzip
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

# What OpenBao 2.7 sends with every /ui/ answer (vault/ui.go's defaults; no X-Frame-Options there:
# frame-ancestors says the same). Cache-Control and HSTS come with every answer already.
UI_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; connect-src 'self'; img-src 'self' data:; script-src 'self'; "
        b"style-src 'unsafe-inline' 'self'; form-action  'none'; frame-ancestors 'none'; font-src 'self'",
    ),
    (b"service-worker-allowed", b"/"),
    (b"vary", b"Accept-Encoding"),
    (b"x-content-type-options", b"nosniff"),
]
# Go's http.Error text when the UI is off: no handler is registered for /ui/.
NOT_FOUND = (404, b"404 page not found\n", [(b"content-type", b"text/plain; charset=utf-8")])
INDEX = "index.html"
_TYPES = {".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    content_type: bytes
    body: bytes
    gzipped: bytes


class UIAssets:
    """Every file under ``static/``, by its path below /ui/; unknown paths get the single page."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = {name: _asset(name, body) for name, body in files.items()}
        if INDEX not in self.files:
            raise ValueError("the UI has no index.html")

    @classmethod
    def from_package(cls) -> UIAssets:
        return cls(dict(_walk(resources.files("tessera.ui").joinpath("static"), "")))

    def answer(self, path: str, accept_encoding: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """``path`` is what follows ``/ui/``. Like Vault's UI, a path that names no file (a page of
        the single-page app, bookmarked) gets index.html, so the app can route it."""
        asset = self.files.get(path) or self.files[INDEX]
        headers = [(b"content-type", asset.content_type), *UI_HEADERS]
        if "gzip" in accept_encoding and len(asset.gzipped) < len(asset.body):
            return 200, asset.gzipped, [*headers, (b"content-encoding", b"gzip")]
        return 200, asset.body, headers


def _asset(name: str, body: bytes) -> Asset:
    suffix = name[name.rfind(".") :] if "." in name else ""
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") and "charset" not in content_type:
        content_type += "; charset=utf-8"
    return Asset(content_type.encode(), body, gzip.compress(body, mtime=0))


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif not entry.name.startswith("."):
            yield f"{prefix}{entry.name}", entry.read_bytes()

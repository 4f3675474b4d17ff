"""What the HTTP server adds to the framework's envelope: the headers of every JSON answer."""

from __future__ import annotations

# Re-exported for the server's modules until their imports move to framework.envelope.
from ..framework.envelope import error_body, render_error, render_logical

__all__ = ["BASE_HEADERS", "BASE_HEADERS_STR", "error_body", "render_error", "render_logical"]

BASE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# The same for granian's threaded worker, which takes str pairs.
BASE_HEADERS_STR = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in BASE_HEADERS]

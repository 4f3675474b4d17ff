"""The part of GitHub's REST API the github auth method calls, as go-github calls it.

``GET user``, ``GET user/orgs`` and ``GET user/teams`` with the user's token (following the
``Link: rel="next"`` pages), and ``GET orgs/:org`` without one to learn an organization's ID.
``base_url`` (GitHub Enterprise, or a test server) replaces ``https://api.github.com/``; its
certificate is checked against the system's trust store (``SSL_CERT_FILE`` works, as for Go).
An answer GitHub refuses becomes :class:`GitHubError` with go-github's wording.
"""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from typing import Any

import orjson

DEFAULT_BASE_URL = "https://api.github.com/"
TIMEOUT = 30.0
MAX_PAGES = 100  # 10,000 orgs or teams: more than any user has, fewer than a loop forever
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(Exception):
    """GitHub answered, and not with success (go-github's ErrorResponse text)."""

    def __init__(self, text: str, status: int) -> None:
        super().__init__(text)
        self.status = status


class GitHubUnreachable(Exception):
    """GitHub could not be asked at all (DNS, connection, TLS, timeout)."""


class GitHubClient:
    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url or DEFAULT_BASE_URL
        self.token = token
        self.context = ssl.create_default_context()

    def user(self) -> dict[str, Any]:
        return self._get_json(self.base_url + "user")[0]

    def user_orgs(self) -> list[dict[str, Any]]:
        return self._get_pages(self.base_url + "user/orgs?per_page=100")

    def user_teams(self) -> list[dict[str, Any]]:
        return self._get_pages(self.base_url + "user/teams?per_page=100")

    def org(self, name: str) -> dict[str, Any]:
        return self._get_json(self.base_url + "orgs/" + urllib.request.quote(name, safe=""))[0]

    def _get_pages(self, url: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            if next_url is None:
                break
            page, next_url = self._get_json(next_url)
            if isinstance(page, list):
                out.extend(item for item in page if isinstance(item, dict))
        return out

    def _get_json(self, url: str) -> tuple[Any, str | None]:
        request = urllib.request.Request(url, headers={"Accept": "application/vnd.github.v3+json"})
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context) as response:
                body = orjson.loads(response.read() or b"null")
                match = _NEXT.search(response.headers.get("Link", ""))
                return body, (match.group(1) if match else None)
        except urllib.error.HTTPError as exc:
            raise GitHubError(_error_text(url, exc), exc.code) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubUnreachable(f'Get "{url}": {reason}') from None


def _error_text(url: str, exc: urllib.error.HTTPError) -> str:
    """go-github: ``GET <url>: <status> <message> <errors>``."""
    message, errors = "", "[]"
    try:
        doc = orjson.loads(exc.read() or b"{}")
        message = str(doc.get("message", ""))
        if doc.get("errors"):
            errors = str(doc["errors"])
    except (ValueError, AttributeError, OSError):
        pass
    return f"GET {url}: {exc.code} {message} {errors}"

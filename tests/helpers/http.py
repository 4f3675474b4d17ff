"""A tiny HTTP client for tests: one call, Vault's ``LIST`` method included, no client-side magic."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any

import requests
import urllib3

_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread (``requests.Session`` is not meant to be shared across threads)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxies or CA bundles from the environment
        _local.session = session
    return session


def api_url(addr: str, path: str) -> str:
    """``addr`` + ``/v1/`` + ``path``; a path that already starts with ``/v1/`` (or ``/``) is kept."""
    if path.startswith("/"):
        return addr.rstrip("/") + path
    return f"{addr.rstrip('/')}/v1/{path}"


def call(
    addr: str,
    method: str,
    path: str,
    token: str | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    data: bytes | str | None = None,
    verify: bool | str = True,
    timeout: float = 30.0,
) -> tuple[int, Any, Mapping[str, str]]:
    """Send one request; returns (status, parsed JSON body or None, response headers).

    ``path`` is relative to ``/v1/`` (``"sys/health"``) unless it starts with ``/``. ``method`` may be
    any verb, ``LIST`` included. ``json`` is sent as a JSON body (``None`` sends no body; use
    ``data=b"null"`` for a literal null). ``data`` sends raw bytes as they are. A body that is not JSON
    (or empty, as for 204) gives ``None``.
    """
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["X-Vault-Token"] = token
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        response = _session().request(
            method.upper(),
            api_url(addr, path),
            json=json,
            data=data,
            headers=all_headers,
            params=params,
            verify=verify,
            timeout=timeout,
            allow_redirects=False,
        )
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = None
    return response.status_code, body, response.headers


def expect(answer: tuple[int, Any, Mapping[str, str]], status: int | None = None) -> Any:
    """The body of ``answer`` (a :func:`call`'s), once its status is ``status`` (by default: any
    status below 400); otherwise an AssertionError showing the answer."""
    assert answer[0] == status if status is not None else answer[0] < 400, answer[:2]
    return answer[1]

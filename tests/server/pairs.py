"""Side-by-side helpers for the sys and HTTP differential tests (tests/compat/test_{sys,http}_compat.py).

``same`` sends one request to the reference OpenBao and to Tessera and insists on the same status,
keys, error texts and normalised values; ``norm`` also hides what names the product (versions).
"""

from __future__ import annotations

import re
from typing import Any

import requests

from tests.helpers.compat import assert_same_shape, normalize
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import strip

Server = ReferenceServer | TesseraServer
# Values that name the product rather than describe behaviour.
PRODUCT_KEYS = frozenset({"version", "commit_date", "running_plugin_version", "build_date"})


def norm(body: Any) -> Any:
    """normalize() plus product identity (version strings) and Tessera-only keys removed."""

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: ("<product>" if k in PRODUCT_KEYS else walk(v)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(strip(normalize(body)))


def same(
    ref: Server,
    tes: Server,
    method: str,
    path: str,
    *,
    token: str | None = "root",
    tokens: tuple[str, str] | None = None,
    values: bool = True,
    **kwargs: Any,
) -> tuple[int, Any, Any]:
    """Same status, keys, errors and (normalised) values from both; returns (status, ref body, tes body).

    ``tokens`` gives each server its own token (tokens created by a test differ per server).
    """
    ref_token, tes_token = tokens if tokens is not None else (token, token)
    rs, rb, _ = call(ref.addr, method, path, ref_token, **kwargs)
    ts, tb, _ = call(tes.addr, method, path, tes_token, **kwargs)
    where = f"{method} {path} {kwargs.get('json') or ''}"
    assert rs == ts, f"{where}: status reference {rs}, tessera {ts}\n  ref: {rb!r}\n  tes: {tb!r}"
    assert_same_shape(rb, tb)
    if isinstance(rb, dict) and "errors" in rb:
        assert tb["errors"] == rb["errors"], (
            f"{where}: errors\n  ref: {rb['errors']!r}\n  tes: {tb['errors']!r}"
        )
    if values:
        assert norm(rb) == norm(tb), f"{where}: values\n  ref: {norm(rb)!r}\n  tes: {norm(tb)!r}"
    return rs, rb, tb


def raw(server: Server, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A request with nothing added: no token, no redirects followed, the raw response kept."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, server.addr + path, allow_redirects=False, timeout=30, **kwargs)


def unseal_key(server: Server) -> str:
    """The dev server's unseal key, from its start-up banner."""
    match = re.search(r"Unseal Key: (\S+)", server.output())
    assert match, server.output()
    return match.group(1)

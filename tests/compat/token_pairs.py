"""Side-by-side token requests: every token exists twice, once per server, and travels as a pair.

``Duo.same`` sends one request to the reference OpenBao and to Tessera, each with its own token
(``s.``/``b.`` there, ``hvs.``/``hvb.`` here) and its own request body, and insists on the same
status, the same error texts, the same envelope shape and the same normalised values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from tests.helpers.compat import DEFAULT_IGNORED_KEYS, assert_same_shape, normalize
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer

Pair = tuple[str, str]
ROOT: Pair = ("root", "root")
BRAND = ("OpenBao's", "Tessera's")


def strip(obj: Any) -> Any:
    """Drop the keys only one server emits and put the server's brand name on equal footing."""
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in DEFAULT_IGNORED_KEYS}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    if isinstance(obj, str):
        return CAPPED.sub(_round_cap, obj.replace(BRAND[1], BRAND[0]))
    return obj


# "...max_ttl of "59m59s"..." counts down from the issue time: two servers a second apart differ.
CAPPED = re.compile(r'(exceeded the effective max_ttl of )"((?:\d+h)?(?:\d+m)?(?:\d+s)?)"')


def _round_cap(m: re.Match[str]) -> str:
    parts = re.findall(r"(\d+)([hms])", m.group(2))
    seconds = sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    return f'{m.group(1)}"~{round(seconds / 10) * 10}s"'


Body = Any | Callable[[int], Any]


class Duo:
    def __init__(self, reference: ReferenceServer, tessera: TesseraServer) -> None:
        self.ref = reference
        self.tes = tessera
        self.servers = (reference, tessera)

    @staticmethod
    def unique(prefix: str) -> str:
        return prefix + uuid.uuid4().hex[:8]

    def send(
        self,
        method: str,
        path: str,
        *,
        token: Pair | None = ROOT,
        json: Body = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[tuple[int, Any], tuple[int, Any]]:
        """Both raw answers; ``json`` may be a function of the server index (0 reference, 1 Tessera)."""
        out = []
        for i, server in enumerate(self.servers):
            body = json(i) if callable(json) else json
            tok = token[i] if token is not None else None
            status, answer, _ = call(
                server.addr, method, path, tok, json=body, params=params, headers=headers
            )
            out.append((status, answer))
        return out[0], out[1]

    def same(self, method: str, path: str, *, values: bool = True, **kwargs: Any) -> tuple[Any, Any]:
        (rs, rb), (ts, tb) = self.send(method, path, **kwargs)
        where = f"{method} {path} {kwargs.get('json') if not callable(kwargs.get('json')) else '<pair>'}"
        assert rs == ts, f"{where}: status reference {rs}, tessera {ts}\n  ref: {rb!r}\n  tes: {tb!r}"
        rb_s, tb_s = strip(rb), strip(tb)
        assert_same_shape(rb_s, tb_s)
        if isinstance(rb, dict) and "errors" in rb:
            assert tb_s["errors"] == rb_s["errors"], (
                f"{where}: errors\n  ref: {rb['errors']!r}\n  tes: {tb['errors']!r}"
            )
        if values:
            nr, nt = normalize(rb_s), normalize(tb_s)
            assert nr == nt, f"{where}: values differ\n  ref: {nr!r}\n  tes: {nt!r}"
        return rb, tb

    def ok(self, method: str, path: str, expected: int = 204, **kwargs: Any) -> tuple[Any, Any]:
        """Set-up step: both answer ``expected``; values are not compared."""
        (rs, rb), (ts, tb) = self.send(method, path, **kwargs)
        assert (rs, ts) == (expected, expected), f"{method} {path}: {rs} {rb!r} / {ts} {tb!r}"
        return rb, tb

    def create(self, body: Body = None, *, token: Pair = ROOT, path: str = "auth/token/create") -> Pair:
        """A token on each server (the answers are compared); returns the pair of client tokens."""
        rb, tb = self.same("POST", path, token=token, json=body if body is not None else {})
        return rb["auth"]["client_token"], tb["auth"]["client_token"]

    def accessor_pair(self, tokens: Pair) -> Pair:
        rb, tb = self.ok("GET", "auth/token/lookup-self", 200, token=tokens)
        return rb["data"]["accessor"], tb["data"]["accessor"]

    def policy(self, name: str, rules: str) -> None:
        self.ok("PUT", f"sys/policies/acl/{name}", json={"policy": rules})

    def status_of(self, tokens: Pair, path: str = "auth/token/lookup-self") -> tuple[int, int]:
        (rs, _), (ts, _) = self.send("GET", path, token=tokens)
        return rs, ts


def with_token(
    key: str, tokens: Pair, extra: dict[str, Any] | None = None
) -> Callable[[int], dict[str, Any]]:
    """A request body carrying each server's own token under ``key``."""

    def body(i: int) -> dict[str, Any]:
        return {key: tokens[i], **(extra or {})}

    return body

"""Side-by-side helpers for the KV and cubbyhole differential tests (tests/compat/).

``Both`` sends one request to the reference OpenBao and to Tessera and insists they agree;
``cli_same`` does the same with the real ``bao`` CLI, ``hvac_same`` with hvac.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

import requests

from tests.helpers.compat import DEFAULT_IGNORED_KEYS, assert_same_shape, normalize
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer, find_bao

Server = ReferenceServer | TesseraServer
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def strip(obj: Any) -> Any:
    """Drop keys only Tessera emits (``mount_type``) before comparing values."""
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in DEFAULT_IGNORED_KEYS}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


class Both:
    """One mount on each server, and a way to send a request to both and insist they agree."""

    def __init__(self, reference: ReferenceServer, tessera: TesseraServer, mount: str) -> None:
        self.ref = reference
        self.tes = tessera
        self.m = mount

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        tokens: tuple[str, str] = ("root", "root"),
    ) -> tuple[tuple[int, Any], tuple[int, Any]]:
        """Raw answers of both servers, not compared."""
        out = []
        for server, token in ((self.ref, tokens[0]), (self.tes, tokens[1])):
            status, body, _ = call(
                server.addr, method, path, token, json=json, data=data, params=params, headers=headers
            )
            out.append((status, body))
        return out[0], out[1]

    def same(self, method: str, path: str, *, values: bool = True, **kwargs: Any) -> Any:
        """Send to both; same status, same keys, same errors and (normalised) same values."""
        (rs, rb), (ts, tb) = self.send(method, path, **kwargs)
        where = f"{method} {path} {kwargs.get('json') or kwargs.get('params') or ''}"
        assert rs == ts, f"{where}: status reference {rs}, tessera {ts}\n  ref: {rb!r}\n  tes: {tb!r}"
        assert_same_shape(rb, tb)
        if isinstance(rb, dict) and "errors" in rb:
            assert tb["errors"] == rb["errors"], (
                f"{where}: errors\n  ref: {rb['errors']!r}\n  tes: {tb['errors']!r}"
            )
        if values:
            nr, nt = strip(normalize(rb)), strip(normalize(tb))
            assert nr == nt, f"{where}: values differ\n  ref: {nr!r}\n  tes: {nt!r}"
        return rb, tb

    def status(self, method: str, path: str, expected: int, **kwargs: Any) -> None:
        """Both answer with ``expected`` (used for set-up steps)."""
        (rs, rb), (ts, tb) = self.send(method, path, **kwargs)
        assert (rs, ts) == (expected, expected), f"{method} {path}: {rs} {rb!r} / {ts} {tb!r}"


def mount_kv(server: Server, path: str, version: str | None) -> None:
    """Enable a KV engine (version None = no options, i.e. v1) the way the CLI does."""
    body: dict[str, Any] = {"type": "kv"}
    if version is not None:
        body["options"] = {"version": version}
    status, answer, _ = server.call("POST", f"sys/mounts/{path}", json=body)
    assert status == 204, answer


TIME_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
UUID_IN_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _cli_text(text: str) -> str:
    """CLI output with times and request IDs replaced, table padding collapsed (widths follow values)."""
    text = UUID_IN_TEXT.sub("<uuid>", TIME_IN_TEXT.sub("<time>", text))
    return "\n".join(re.sub(r"\s{2,}", "  ", line.rstrip()) for line in text.splitlines())


def bao(server: Server, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the real ``bao`` CLI against one server with the root token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(BAO_ADDR=server.addr, BAO_TOKEN="root", HOME=str(server.workdir), NO_COLOR="1")
    done = subprocess.run(
        [find_bao(), *args], capture_output=True, text=True, env=env, input=stdin, timeout=60, check=False
    )
    out, err = (_cli_text(t.replace(server.addr, "<addr>")) for t in (done.stdout, done.stderr))
    return done.returncode, out, err


def cli_same(both: Both, *args: str) -> tuple[int, str]:
    """The CLI prints the same (normalised) output and exits the same on both servers."""
    ref = bao(both.ref, *args)
    tes = bao(both.tes, *args)
    assert ref == tes, f"bao {' '.join(args)}\n  reference: {ref!r}\n  tessera:   {tes!r}"
    return ref[0], ref[1]


def hvac_same(both: Both, action: Callable[[Any], Any]) -> Any:
    """Run one hvac call on both servers; same result (normalised) or the same exception type."""
    results = []
    for server in (both.ref, both.tes):
        client = server.hvac_client()
        try:
            answer = action(client)
            if isinstance(answer, requests.Response):  # 204s come back as the raw response
                answer = {"status": answer.status_code, "body": answer.json() if answer.content else None}
            results.append(("ok", strip(normalize(answer))))
        except Exception as exc:  # the exception class is what hvac users see
            results.append(("error", type(exc).__name__))
    assert results[0] == results[1], f"hvac\n  reference: {results[0]!r}\n  tessera:   {results[1]!r}"
    return results[0][1]


def policy_token(server: Server, name: str, policy: str) -> str:
    """Write an ACL policy and return a new token holding only it."""
    status, body, _ = server.call("PUT", f"sys/policies/acl/{name}", json={"policy": policy})
    assert status == 204, body
    status, body, _ = server.call("POST", "auth/token/create", json={"policies": [name]})
    assert status == 200, body
    return str(body["auth"]["client_token"])

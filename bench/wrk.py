"""Driving wrk (C, not Python-bound): one Lua script per request, results as one JSON line.

The script's ``response`` hook counts every non-2xx answer per thread (wrk itself only counts
status >= 400), and ``done`` prints totals and latency percentiles, in microseconds, as JSON.
Given a file of request bodies (one per line), each request posts the next one: thread ``k`` of
``n`` takes bodies ``k, k + n, k + 2n, ...`` cyclically, so no two threads send the same body at
the same moment and a body comes back only after the whole file has been sent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .scenarios import Request

LUA = """
wrk.method = {method}
wrk.path = {path}
wrk.headers["Content-Type"] = "application/json"
{token_line}
wrk.body = {body}

local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
  thread:set("first", #threads)
end
function init(args)
  non2xx = 0
{init_bodies}
end
{request_hook}function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "mean": %.1f}}\\n',
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


@dataclass
class WrkSettings:
    threads: int = 2
    connections: int = 16
    duration: float = 10.0
    timeout: float = 10.0


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def ok_rps(self) -> float:
        """Successful answers per second: errors are counted, never credited."""
        return max(0, self.requests - self.non2xx) / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return self.non2xx + self.socket_errors


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal that cannot be closed by the text itself."""
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


INIT_BODIES = """
  bodies = {{}}
  for line in io.lines({path}) do
    table.insert(bodies, line)
  end
  step = {step}
  next_body = first
"""

REQUEST_HOOK = """
function request()
  local body = bodies[next_body]
  next_body = next_body + step
  if next_body > #bodies then
    next_body = next_body - #bodies
  end
  return wrk.format(nil, nil, nil, body)
end
"""


def script(req: Request, bodies: Path | None = None, threads: int = 1) -> str:
    """The Lua script; with ``bodies`` (a file, one JSON body a line) the body changes per request."""
    body = "" if req.body is None else json.dumps(req.body)
    token_line = f'wrk.headers["X-Vault-Token"] = {_lua_string(req.token)}' if req.token else ""
    return LUA.format(
        method=_lua_string(req.method),
        path=_lua_string("/v1/" + req.path),
        token_line=token_line,
        body="nil" if req.body is None else _lua_string(body),
        init_bodies="" if bodies is None else INIT_BODIES.format(path=_lua_string(str(bodies)), step=threads),
        request_hook="" if bodies is None else REQUEST_HOOK,
    )


def write_bodies(bodies: list[Any]) -> Path:
    """A temporary file of JSON bodies, one a line, for :func:`run`'s ``bodies``."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        for body in bodies:
            fh.write(json.dumps(body, separators=(",", ":")) + "\n")
    return Path(fh.name)


def run(addr: str, req: Request, settings: WrkSettings, bodies: Path | None = None) -> WrkResult:
    """Load ``addr`` with ``req`` for ``settings.duration`` seconds and return the totals; with
    ``bodies`` (see :func:`write_bodies`) each request posts the next body of that file."""
    binary = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script(req, bodies, settings.threads))
        lua = Path(fh.name)
    try:
        proc = subprocess.run(
            [
                binary,
                f"-t{settings.threads}",
                f"-c{settings.connections}",
                f"-d{max(1, round(settings.duration))}s",
                f"--timeout={max(1, round(settings.timeout))}s",
                "-s",
                str(lua),
                addr,
            ],
            capture_output=True,
            text=True,
            timeout=settings.duration + settings.timeout + 60,
        )
    finally:
        lua.unlink(missing_ok=True)
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON ") :])
            return WrkResult(
                requests=d["requests"],
                seconds=d["duration_us"] / 1e6,
                non2xx=d["non2xx"],
                socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
                p50_ms=d["p50"] / 1000,
                p90_ms=d["p90"] / 1000,
                p99_ms=d["p99"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

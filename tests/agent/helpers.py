"""The agent as a real subprocess, and AppRole setup on a real server, for the end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.helpers.servers import ServerProcess, _die_with_parent

T = TypeVar("T")

APP_POLICY = """
path "secret/*" { capabilities = ["read", "list"] }
path "kv1/*" { capabilities = ["read", "list"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/revoke" { capabilities = ["update"] }
"""


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll until ``predicate()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ok(server: ServerProcess, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, answer, _ = server.call(method, path, json=body, token=token)
    assert 200 <= status < 300, f"{method} {path} -> {status} {answer!r}"
    return answer


def setup_approle(server: ServerProcess, role: str, workdir: Path, **params: Any) -> tuple[Path, Path]:
    """Enable AppRole (once), the ``app`` policy and a role; write role_id/secret_id files."""
    _, mounts, _ = server.call("GET", "sys/auth")
    if "approle/" not in (mounts.get("data") or mounts):
        ok(server, "POST", "sys/auth/approle", {"type": "approle"})
        ok(server, "PUT", "sys/policies/acl/app", {"policy": APP_POLICY})
    ok(server, "POST", f"auth/approle/role/{role}", {"token_policies": "app", **params})
    role_id = ok(server, "GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
    secret_id = ok(server, "POST", f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]
    role_file, secret_file = workdir / f"{role}.role_id", workdir / f"{role}.secret_id"
    role_file.write_text(role_id)
    secret_file.write_text(secret_id + "\n")
    return role_file, secret_file


def approle_block(role_file: Path, secret_file: Path, *, remove: bool = False, extra: str = "") -> str:
    return (
        'method "approle" {\n'
        '  mount_path = "auth/approle"\n'
        f"{extra}"
        f'  config = {{\n    role_id_file_path = "{role_file}"\n    secret_id_file_path = "{secret_file}"\n'
        f"    remove_secret_id_file_after_reading = {'true' if remove else 'false'}\n  }}\n}}\n"
    )


class AgentProcess:
    """``python -m tessera agent -config=…``, output (stdout and stderr) in a log file."""

    def __init__(self, workdir: Path, config: str, *, args: list[str] | None = None) -> None:
        self.workdir = workdir
        self.config_path = workdir / "agent.hcl"
        self.config_path.write_text(config)
        self.log_path = workdir / "agent.log"
        self.args = args or []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "TESSERA_"))}
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tessera", "agent", f"-config={self.config_path}", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"agent did not exit within {timeout}s:\n{self.log()}") from None

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""

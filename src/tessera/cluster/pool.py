"""The active process's side of worker-process mode: the workers, their keyrings, the feed.

One Python process runs one request's Python at a time (the GIL), so a server that is only
Python-bound (batch-token creation, logins, reads) cannot use a second core. With
``workers = N`` in the config (SQLite or PostgreSQL storage) the server runs N processes on the
same listeners (``SO_REUSEPORT``: the kernel spreads connections among them):

- the **active** process, the one started: it alone writes storage, expires and revokes,
  audits, and answers ``sys/``;
- N-1 **workers**, started by it (``python -m tessera.server.worker_process``): each reads the
  same SQLite file or PostgreSQL database and serves what needs no write, handing the rest to
  the active process over its internal listener (``forwarding.py``), as Vault's performance
  standbys do (``standby.py``). On an HA node the active process is the node's main process,
  which itself serves or forwards to the active node what it is handed.

The active process gives each worker, over the worker's standard input: where things are (the
config file, the internal listener, the shared state file, a secret that marks forwarded
requests) and, at each unseal, its keyring. Nothing secret goes through the command line or the
environment. A worker exits when that pipe closes, so it never outlives the active process.
Caches stay exact through the change feed (``storage/changefeed.py``, ``shared_state.py``; on
PostgreSQL ``storage/pg_changefeed.py`` and ``pg_worker.py``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any

from ..core.core import Core
from .shared_state import SharedState

log = logging.getLogger("tessera.workers")

RESPAWN_CHECK = 1.0  # seconds between checks that every worker still runs
# What a worker runs: its bootstrap needs the listeners and the config, which live in server/.
WORKER_MODULE = "tessera.server.worker_process"


def worker_command() -> list[str]:
    """How a worker is started: this interpreter, the worker's module (a harness that counts a
    worker's instructions runs it under valgrind instead, ``bench/server_instructions.py``)."""
    return [sys.executable, "-m", WORKER_MODULE]


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerPool:
    """The active process's side: the shared state, the workers, and their keyrings."""

    def __init__(self, core: Core, config_path: str, count: int, shared_path: str, log_level: str) -> None:
        self.core = core
        self.config_path = os.path.abspath(config_path)
        self.count = count
        self.log_level = log_level
        self.shared_path = shared_path  # see ``shared_state_path``
        self.secret = secrets.token_hex(32)
        self.internal = f"127.0.0.1:{free_loopback_port()}"
        self.shared: SharedState | None = None
        self.processes: list[subprocess.Popen[bytes]] = []
        self._epoch = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._hello: dict[str, Any] = {}

    def start(self) -> None:
        """Start logging changes, then the workers (the listeners may already be serving)."""
        self.shared = SharedState(self.shared_path, create=True)
        enable = getattr(self.core.physical, "enable_change_feed", None)
        if enable is None:
            raise ValueError("worker processes need SQLite or PostgreSQL storage")
        enable(self.shared)
        self.core.unseal_hooks.append(self._unsealed)
        self.core.seal_hooks.append(self._sealed)
        hello = {
            "config": self.config_path,
            "internal": self.internal,
            "secret": self.secret,
            "shared": self.shared_path,
            "log_level": self.log_level,
            "listen": os.environ.get("TESSERA_WORKER_LISTEN", ""),
        }
        self._hello = hello
        for slot in range(self.count - 1):
            self.processes.append(self._spawn(slot))
        if not self.core.sealed:
            self._unsealed()
        threading.Thread(target=self._watch, name="tessera-workers", daemon=True).start()
        log.info(
            "started %d worker process(es); forwarded requests arrive on %s",
            len(self.processes),
            self.internal,
        )

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        """Worker number ``slot`` (a replacement takes the slot of the one it replaces)."""
        proc = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, close_fds=True)
        assert proc.stdin is not None
        _send(proc.stdin, dict(self._hello, slot=slot))
        return proc

    def _watch(self) -> None:
        """A worker that died is started again (its clients reconnect to the others meanwhile)."""
        while not self._stopping.wait(RESPAWN_CHECK):
            with self._lock:
                for i, proc in enumerate(self.processes):
                    if proc.poll() is None or self._stopping.is_set():
                        continue
                    log.error("worker process %d exited (%s); starting another", proc.pid, proc.returncode)
                    replacement = self._spawn(i)
                    self.processes[i] = replacement
                    if self._epoch and self.shared is not None and self.shared.read()[1]:
                        _send_quietly(replacement, self._keyring_message())

    def _keyring_message(self) -> dict[str, Any]:
        return {
            "epoch": self._epoch,
            "keyring": base64.b64encode(self.core.barrier.keyring().serialize()).decode(),
        }

    def _unsealed(self) -> None:
        """A new unseal: its keyring to every worker first, then the epoch that lets them use it."""
        assert self.shared is not None
        with self._lock:
            self._epoch += 1
            message = self._keyring_message()
            for proc in self.processes:
                _send_quietly(proc, message)
            self.shared.publish_epoch(self._epoch)

    def _sealed(self) -> None:
        """Before the seal's answer leaves: every worker hands its next request over."""
        if self.shared is not None:
            self.shared.publish_epoch(0)

    def signal(self, sig: int) -> None:
        """Pass a signal on (SIGHUP: each worker reloads its own TLS listeners)."""
        with self._lock:
            for proc in self.processes:
                if proc.poll() is None:
                    proc.send_signal(sig)

    def stop(self) -> None:
        self._stopping.set()
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        self.processes.clear()
        if self.shared is not None:
            self.shared.close()
            try:
                os.unlink(self.shared_path)
            except OSError:
                pass


def shared_state_path(storage_type: str, options: dict[str, str]) -> str:
    """Where the mapped file lives: beside SQLite's file; for a database elsewhere (PostgreSQL),
    a new file of this server's own in shared memory (or the temporary folder)."""
    if storage_type in ("sqlite", "file"):
        return options["path"] + ".tessera-shm"
    folder = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="tessera-workers-", suffix=".shm", dir=folder)
    os.close(fd)
    return path


def _send_quietly(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    if proc.stdin is not None and proc.poll() is None:
        try:
            _send(proc.stdin, message)
        except OSError as exc:
            log.error("worker %d no longer listens: %s", proc.pid, exc)


def _send(pipe: IO[bytes], message: dict[str, Any]) -> None:
    pipe.write(json.dumps(message).encode() + b"\n")
    pipe.flush()


# -- the worker's end of the pipe -----------------------------------------------------------------


def read_hello() -> dict[str, Any] | None:
    """A worker's first line from the active process: where things are (see ``WorkerPool.start``)."""
    line = sys.stdin.buffer.readline()
    return json.loads(line) if line else None


def follow_keyrings(offer: Callable[[int, bytes], None]) -> None:
    """Keyrings from the active process, to ``offer``; when it is gone, so is this worker."""
    for line in sys.stdin.buffer:
        try:
            message = json.loads(line)
            offer(int(message["epoch"]), base64.b64decode(message["keyring"]))
        except (ValueError, KeyError, TypeError):
            log.error("unreadable message from the active process")
    os._exit(0)

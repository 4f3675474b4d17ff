"""The listeners' lifecycle: serve them, stop them, and on SIGHUP swap in renewed TLS certificates.

Vault's listeners re-read ``tls_cert_file`` and ``tls_key_file`` on SIGHUP (its certificate
getter reloads), so an operator renews a certificate without a restart and without dropping
clients. granian cannot swap a certificate in place, but it binds with ``SO_REUSEPORT``: a new
server for the listener starts on the same address with the new pair, and once it listens the
old one stops gracefully (requests in flight finish; new connections reach the new one).

The new pair is read once into a private snapshot (memory-backed ``/dev/shm`` where there is
one) and checked there before granian sees it: granian loads the files again in Rust, where an
unreadable file aborts the process, so it must never read a file that can still change. A pair
that does not load keeps the old server serving, and the error is logged as Vault logs it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from .config import ListenerConfig
from .tls_front import TLSFrontServer, tls_context

log = logging.getLogger("tessera.server")

READY_TIMEOUT = 10.0  # seconds a new server has to start listening before the swap is abandoned
_POLL = 0.02

# Builds a listener's server; the paths, when given, replace the listener's certificate files.
Builder = Callable[[ListenerConfig, "TLSFiles | None"], Any]


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    ca: Path | None = None


@dataclass
class Slot:
    """One listener and the server that serves it now (replaced on a certificate reload)."""

    server: Any
    listener: ListenerConfig | None = None  # None: not reloadable (the internal listener)
    build: Builder | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    served: bytes = b""  # digest of the certificate files the server loaded (reloads skip the same)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.server.serve())


class Listeners:
    """Every listener of this process; ``serve()`` returns once all of them have stopped."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self._swapped = asyncio.Event()
        self._lock = asyncio.Lock()
        self.stopping = False

    def add(self, server: Any, listener: ListenerConfig | None = None, build: Builder | None = None) -> None:
        slot = Slot(server, listener, build)
        if listener is not None and not listener.tls_disable:
            slot.served = _digest(_read_files(listener))
        self.slots.append(slot)

    async def serve(self) -> None:
        for slot in self.slots:
            if slot.task is None:
                slot.start()
        while True:
            tasks = [slot.task for slot in self.slots if slot.task is not None]
            if all(task.done() for task in tasks):
                break
            self._swapped.clear()
            swapped = asyncio.ensure_future(self._swapped.wait())
            done, _ = await asyncio.wait([*tasks, swapped], return_when=asyncio.FIRST_COMPLETED)
            swapped.cancel()
            # A server retired by a reload may end as it likes; a current one failing ends them all.
            current = {slot.task for slot in self.slots}
            failed = [t for t in done if t in current and not t.cancelled() and t.exception()]
            if failed:
                self.stop()  # as asyncio.gather did: one listener failing ends the server
                raise failed[0].exception()  # type: ignore[misc]

    def stop(self) -> None:
        self.stopping = True
        for slot in self.slots:
            slot.server.stop()

    async def reload_tls(self) -> list[str]:
        """SIGHUP: each TLS listener's certificate and key read again; returns the errors."""
        errors: list[str] = []
        retiring: list[asyncio.Task[None]] = []
        async with self._lock:  # two SIGHUPs in a row: one swap at a time
            for slot in self.slots:
                if slot.listener is None or slot.listener.tls_disable:
                    continue
                try:
                    old = await self._reload_slot(slot)
                except (OSError, ssl.SSLError, ValueError, ReloadError) as exc:
                    errors.append(
                        f"error encountered reloading listener: {_reason(exc)}"
                        f" (listener {slot.listener.address} keeps its previous certificate)"
                    )
                else:
                    if old is not None:
                        retiring.append(old)
        if retiring:  # outside the lock: an old server may take a while to finish its last requests
            await asyncio.wait(retiring)
        return errors

    async def _reload_slot(self, slot: Slot) -> asyncio.Task[None] | None:
        """The slot on its files as they are now; returns the replaced server's task, still finishing."""
        listener = slot.listener
        assert listener is not None
        contents = _read_files(listener)
        digest = _digest(contents)
        # Unchanged (a SIGHUP for log rotation): connections stay as they are.
        if hmac.compare_digest(digest, slot.served):
            log.info("listener %s: TLS certificate unchanged", listener.address)
            return None
        old = None
        snapshot = Path(tempfile.mkdtemp(prefix="tessera-tls-", dir=_private_tmp()))
        try:
            files = _snapshot(contents, snapshot)
            _check_pair(files)
            if _is_tls_front(slot.server):  # a new context, which new connections take
                slot.server.context = _front_context(_with_files(listener, files))
            else:
                old = await self._start_replacement(slot, files)
        finally:
            shutil.rmtree(snapshot, ignore_errors=True)  # loaded by now: nothing reads them again
        slot.served = digest
        log.info("listener %s: serving its renewed TLS certificate", listener.address)
        return old

    async def _start_replacement(self, slot: Slot, files: TLSFiles) -> asyncio.Task[None] | None:
        """The listener's new server, listening, in the old one's place; returns the old one's task."""
        assert slot.listener is not None and slot.build is not None
        port = slot.listener.host_port[1]
        before = listening_sockets(port)
        fresh = Slot(slot.build(slot.listener, files), slot.listener, slot.build)
        fresh.start()
        await _wait_listening(fresh, port, before)
        if self.stopping:  # SIGTERM meanwhile: the new server stops with the rest
            _retire(fresh.server)
            raise ReloadError("the server is shutting down")
        old_server, old_task = slot.server, slot.task
        slot.server, slot.task = fresh.server, fresh.task
        self._swapped.set()
        _retire(old_server)
        return old_task


def _retire(server: Any) -> None:
    """Stop accepting, gracefully: requests in flight finish (hyper closes idle keep-alive
    connections, whose clients reconnect to the new server)."""
    getattr(server, "retire", server.stop)()


def _with_files(listener: ListenerConfig, files: TLSFiles) -> ListenerConfig:
    ca = str(files.ca) if files.ca else listener.tls_client_ca_file
    return dataclasses.replace(
        listener, tls_cert_file=str(files.cert), tls_key_file=str(files.key), tls_client_ca_file=ca
    )


class ReloadError(Exception):
    pass


def _is_tls_front(server: Any) -> bool:
    return isinstance(server, TLSFrontServer)


def _front_context(listener: ListenerConfig) -> Any:
    """The TLS front's context (pyOpenSSL, which raises rather than aborts on a bad file)."""
    try:
        return tls_context(listener)
    except SSL.Error as exc:
        raise ReloadError(f"could not load the certificate and key: {exc}") from None


def _reason(exc: BaseException) -> str:
    """Go's words where Vault's reload would say the same (``open ...: no such file or directory``)."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"open {exc.filename}: {exc.strerror.lower()}"
    return str(exc) or type(exc).__name__


def _private_tmp() -> str | None:
    """Memory-backed when the machine has it: the private key's copy never reaches a disk."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _read_files(listener: ListenerConfig) -> tuple[bytes, bytes, bytes | None]:
    """The certificate, key and client CA as they are now (read once: they may change meanwhile)."""
    ca = Path(listener.tls_client_ca_file).read_bytes() if listener.tls_client_ca_file else None
    return Path(listener.tls_cert_file).read_bytes(), Path(listener.tls_key_file).read_bytes(), ca


def _digest(contents: tuple[bytes, bytes, bytes | None]) -> bytes:
    digest = hashlib.sha256()
    for part in contents:
        digest.update(hashlib.sha256(part if part is not None else b"-").digest())
    return digest.digest()


def _snapshot(contents: tuple[bytes, bytes, bytes | None], directory: Path) -> TLSFiles:
    """The files' contents where nothing else writes (a 0700 directory, 0600 files)."""

    def write(data: bytes, name: str) -> Path:
        target = directory / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return target

    cert, key, ca = contents
    return TLSFiles(write(cert, "cert.pem"), write(key, "key.pem"), write(ca, "ca.pem") if ca else None)


def _check_pair(files: TLSFiles) -> None:
    """What Go's ``tls.X509KeyPair`` checks, in its words, then OpenSSL's view (granian's)."""
    try:
        leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    except ValueError:
        raise ReloadError("tls: failed to find any PEM data in certificate input") from None
    try:
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except TypeError:  # encrypted: granian would ask for the passphrase on the terminal
        raise ReloadError("tls: the private key is encrypted (no passphrase can be given)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ReloadError("tls: failed to find any PEM data in key input") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(serialization.Encoding.DER, public) != key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise ReloadError("tls: private key does not match public key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(files.cert), str(files.key))
    if files.ca is not None:
        ctx.load_verify_locations(str(files.ca))


async def _wait_listening(slot: Slot, port: int, before: set[int]) -> None:
    """Until the new server holds a listening socket of its own; stopped and an error if it never does."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not (listening_sockets(port) - before):
        assert slot.task is not None
        if slot.task.done() or time.monotonic() > deadline:
            slot.server.stop()
            if not slot.task.done():
                await asyncio.wait([slot.task], timeout=READY_TIMEOUT)
            raise ReloadError("the server with the new certificate did not start listening")
        await asyncio.sleep(_POLL)


def listening_sockets(port: int) -> set[int]:
    """The inodes of this process's TCP sockets listening on ``port`` (Linux's /proc)."""
    ours = set()
    for entry in os.scandir("/proc/self/fd"):
        try:
            target = os.readlink(entry.path)
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(int(target[8:-1]))
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in ours:
                found.add(inode)
    return found

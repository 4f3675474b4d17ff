"""Audit devices: file (a path, ``stdout`` or ``discard``), socket (tcp/udp/unix) and syslog.

Each device formats entries itself (its own salt, raw/HMAC switches, prefix and format) and
raises ``DeviceError`` when it cannot record one; the broker decides what that means for the
request. Options are parsed as OpenBao's factories parse them, with the same error texts, so
``sys/audit/<path>`` refuses a bad device with the reference's message.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from ..framework.errors import multierror
from ..gocompat.durations import DurationError, parse_duration_second
from .formats import encode
from .formatter import FormatConfig, LogInput, RequestInfo, format_request, format_response
from .hashing import LazySalt, Salt

log = logging.getLogger("tessera.audit")

DEVICE_TYPES = ("file", "socket", "syslog")
SYSLOG_PATHS = ["/dev/log", "/var/run/syslog", "/var/run/log"]
SYSLOG_FACILITIES = {
    name: code << 3
    for code, name in enumerate(
        ["KERN", "USER", "MAIL", "DAEMON", "AUTH", "SYSLOG", "LPR", "NEWS", "UUCP", "CRON", "AUTHPRIV", "FTP"]
    )
}
SYSLOG_FACILITIES.update({f"LOCAL{i}": (16 + i) << 3 for i in range(8)})
LOG_INFO = 6


class DeviceError(Exception):
    """A device that cannot be built or cannot write; the text is Go's error text."""


def go_errno_text(exc: OSError) -> str:
    """syscall.Errno's wording: strerror with a lowercase first letter."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def parse_bool(text: str) -> bool:
    """strconv.ParseBool, with its error text."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise DeviceError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _format_options(options: dict[str, str]) -> tuple[str, FormatConfig]:
    """The options every device shares: format, hmac_accessor, log_raw, elide_list_responses."""
    fmt = options.get("format", "json")
    if fmt not in ("json", "jsonx"):
        raise DeviceError(f'unknown format type "{fmt}"')
    cfg = FormatConfig()
    if "hmac_accessor" in options:
        cfg.hmac_accessor = parse_bool(options["hmac_accessor"])
    if "log_raw" in options:
        cfg.raw = parse_bool(options["log_raw"])
    if "elide_list_responses" in options:
        cfg.elide_list_responses = parse_bool(options["elide_list_responses"])
    return fmt, cfg


def test_probe() -> LogInput:
    """generateAuditTestProbe: the line a new device must be able to write before it is enabled."""
    return LogInput(request=RequestInfo(id=str(uuid.uuid4()), operation="update", path="sys/audit/test"))


class Device:
    """One enabled audit device: formats with its own salt and writes somewhere."""

    kind = ""

    def __init__(self, options: dict[str, str], salt: LazySalt, fmt: str, cfg: FormatConfig) -> None:
        self.options = options
        self.salt = salt
        self.format = fmt
        self.config = cfg
        self.prefix = options.get("prefix", "")
        self.lock = threading.Lock()

    # -- what the broker calls ------------------------------------------------------------
    def log_request(self, inp: LogInput) -> None:
        entry = format_request(inp, self.config, self._hasher())
        self.write(encode(entry, self.format, self.prefix))

    def log_response(self, inp: LogInput) -> None:
        entry = format_response(inp, self.config, self._hasher())
        self.write(encode(entry, self.format, self.prefix))

    def log_test_message(self) -> None:
        """The probe, hashed with a throw-away salt: enabling must not write the real one yet."""
        temporary = Salt(str(uuid.uuid4()))
        entry = format_request(test_probe(), self.config, temporary.identified_hmac)
        self.write(encode(entry, self.format, self.prefix))

    def get_hash(self, value: str) -> str:
        return self.salt.get().identified_hmac(value)

    def reload(self) -> None:
        """SIGHUP: reopen whatever the device writes to (file rotation)."""

    def close(self) -> None:
        """Release the file or connection (disable, seal)."""

    def invalidate(self) -> None:
        self.salt.invalidate()

    # -- for subclasses -------------------------------------------------------------------
    def _hasher(self) -> Any:
        return None if self.config.raw else self.salt.get().identified_hmac

    def write(self, payload: bytes) -> None:
        raise NotImplementedError


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FileDevice(Device):
    """Appends to a file kept open between writes; reopened on SIGHUP and after a failed write."""

    kind = "file"

    def __init__(self, options: dict[str, str], salt: LazySalt) -> None:
        path = options.get("file_path")
        if path is None:
            path = options.get("path")
            if path is None:
                raise DeviceError("file_path is required")
        if path.lower() in ("stdout", "discard"):
            path = path.lower()
        fmt, cfg = _format_options(options)
        super().__init__(options, salt, fmt, cfg)
        self.path = path
        self.fd: int | None = None
        self.mode = self._parse_mode(options.get("mode"))
        if path not in ("stdout", "discard"):
            try:
                self._open()
            except OSError as exc:
                raise DeviceError(
                    f'sanity check failed; unable to open "{path}" for writing: {self._os_error(exc)}'
                ) from None

    def _parse_mode(self, raw: str | None) -> int:
        if raw is None:
            return 0o600
        try:
            if not raw or not all(c in "01234567" for c in raw):
                raise ValueError
            mode = int(raw, 8)
        except ValueError:
            raise DeviceError(f'strconv.ParseUint: parsing "{raw}": invalid syntax') from None
        if mode >= 1 << 32:
            raise DeviceError(f'strconv.ParseUint: parsing "{raw}": value out of range')
        if mode == 0:
            if self.path in ("stdout", "discard"):
                return 0o600
            try:
                return os.stat(self.path).st_mode & 0o7777
            except OSError as exc:
                raise DeviceError(f"stat {self.path}: {go_errno_text(exc)}") from None
        if mode & 0xFFF00000:  # os.FileMode type bits (ModeDir and the like)
            raise DeviceError("file mode does not represent a regular file")
        return mode & ~0o111  # never executable (HCSEC-2025-14)

    def _os_error(self, exc: OSError) -> str:
        op = getattr(exc, "tessera_op", "open")
        return f"{op} {exc.filename or self.path}: {go_errno_text(exc)}"

    def _mkdir_all(self, directory: str) -> None:
        """os.MkdirAll with the file's mode, reporting the first mkdir that fails."""
        if not directory or os.path.isdir(directory):
            return
        self._mkdir_all(os.path.dirname(directory.rstrip("/")))
        try:
            os.mkdir(directory, self.mode & 0o777)
        except FileExistsError:
            return
        except OSError as exc:
            exc.tessera_op = "mkdir"  # type: ignore[attr-defined]
            exc.filename = directory
            raise

    def _open(self) -> None:
        if self.fd is not None:
            return
        self._mkdir_all(os.path.dirname(self.path))
        self.fd = os.open(self.path, os.O_APPEND | os.O_WRONLY | os.O_CREAT, self.mode & 0o777)
        if self.path != "/dev/null" and self.mode:
            try:
                os.chmod(self.path, self.mode & 0o777)
            except OSError as exc:
                exc.tessera_op = "chmod"  # type: ignore[attr-defined]
                raise

    def _close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.close(fd)
            except OSError:
                pass

    def write(self, payload: bytes) -> None:
        if self.path == "discard":
            return
        if self.path == "stdout":
            try:
                _write_all(1, payload)
            except OSError as exc:
                raise DeviceError(f"write /dev/stdout: {go_errno_text(exc)}") from None
            return
        with self.lock:
            try:
                self._open()
                assert self.fd is not None
                _write_all(self.fd, payload)
                return
            except OSError:
                pass
            # Reopen once (the file may have been moved or its disk freed), then give up.
            self._close()
            try:
                self._open()
                assert self.fd is not None
                _write_all(self.fd, payload)
            except OSError as exc:
                self._close()
                raise DeviceError(f"write {self.path}: {go_errno_text(exc)}") from None

    def log_test_message(self) -> None:
        if self.path == "discard":
            return
        super().log_test_message()

    def reload(self) -> None:
        if self.path in ("stdout", "discard"):
            return
        with self.lock:
            self._close()
            try:
                self._open()
            except OSError as exc:
                raise DeviceError(self._os_error(exc)) from None

    def close(self) -> None:
        with self.lock:
            self._close()


def _split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        raise OSError(f"address {address}: missing port in address")
    if not port.isdigit():
        raise OSError(f"address {address}: unknown port")
    return host.strip("[]") or "127.0.0.1", int(port)


class SocketDevice(Device):
    """Writes each entry to a tcp, udp or unix socket, reconnecting once when a write fails."""

    kind = "socket"
    NETWORKS = {
        "tcp": (socket.AF_UNSPEC, socket.SOCK_STREAM),
        "tcp4": (socket.AF_INET, socket.SOCK_STREAM),
        "tcp6": (socket.AF_INET6, socket.SOCK_STREAM),
        "udp": (socket.AF_UNSPEC, socket.SOCK_DGRAM),
        "udp4": (socket.AF_INET, socket.SOCK_DGRAM),
        "udp6": (socket.AF_INET6, socket.SOCK_DGRAM),
        "unix": (socket.AF_UNIX, socket.SOCK_STREAM),
        "unixgram": (socket.AF_UNIX, socket.SOCK_DGRAM),
    }

    def __init__(self, options: dict[str, str], salt: LazySalt) -> None:
        address = options.get("address")
        if address is None:
            raise DeviceError("address is required")
        self.address = address
        self.socket_type = options.get("socket_type", "tcp")
        try:
            self.write_timeout = float(parse_duration_second(options.get("write_timeout", "2s")))
        except DurationError as exc:
            raise DeviceError(str(exc)) from None
        fmt, cfg = _format_options(options)
        super().__init__(options, salt, fmt, cfg)
        self.conn: socket.socket | None = None

    def _dial(self) -> None:
        """net.Dialer.DialContext with the write timeout, Go's error wording on failure."""
        self._disconnect()
        kind = self.NETWORKS.get(self.socket_type)
        if kind is None:
            raise DeviceError(f"dial {self.socket_type} {self.address}: unknown network {self.socket_type}")
        family, stype = kind
        try:
            if family == socket.AF_UNIX:
                conn = socket.socket(family, stype)
                conn.settimeout(self.write_timeout or None)
                conn.connect(self.address)
            else:
                host, port = _split_host_port(self.address)
                infos = socket.getaddrinfo(host, port, family, stype)
                fam, _, proto, _, sockaddr = infos[0]
                conn = socket.socket(fam, stype, proto)
                conn.settimeout(self.write_timeout or None)
                conn.connect(sockaddr)
        except OSError as exc:
            detail = go_errno_text(exc) if exc.errno else str(exc)
            raise DeviceError(f"dial {self.socket_type} {self.address}: connect: {detail}") from None
        self.conn = conn

    def _disconnect(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                conn.close()
            except OSError:
                pass

    def _send(self, payload: bytes) -> None:
        if self.conn is None:
            self._dial()
        assert self.conn is not None
        try:
            self.conn.settimeout(self.write_timeout or None)
            self.conn.sendall(payload)
        except OSError as exc:
            raise DeviceError(f"write {self.socket_type} {self.address}: {go_errno_text(exc)}") from None

    def write(self, payload: bytes) -> None:
        with self.lock:
            try:
                self._send(payload)
                return
            except DeviceError as first:
                try:
                    self._dial()
                except DeviceError as second:
                    raise DeviceError(multierror(str(first), str(second))) from None
            self._send(payload)

    def reload(self) -> None:
        with self.lock:
            self._dial()

    def close(self) -> None:
        with self.lock:
            self._disconnect()


class SyslogDevice(Device):
    """Sends each entry to the local syslog daemon, as Go's log/syslog does (unixgram, then unix)."""

    kind = "syslog"

    def __init__(self, options: dict[str, str], salt: LazySalt) -> None:
        facility = options.get("facility", "AUTH")
        self.tag = options.get("tag", "vault")
        fmt, cfg = _format_options(options)
        super().__init__(options, salt, fmt, cfg)
        code = SYSLOG_FACILITIES.get(facility.upper())
        if code is None:
            raise DeviceError(f"invalid syslog facility: {facility.upper()}")
        self.priority = code | LOG_INFO
        self.conn: socket.socket | None = None
        with self.lock:
            self._connect()

    def _connect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        for stype in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            for path in SYSLOG_PATHS:
                conn = socket.socket(socket.AF_UNIX, stype)
                conn.settimeout(1.0)
                try:
                    conn.connect(path)
                except OSError:
                    conn.close()
                    continue
                self.conn = conn
                return
        raise DeviceError("Unix syslog delivery error")

    def _send(self, message: str) -> None:
        assert self.conn is not None
        stamp = time.strftime("%b %e %H:%M:%S")
        nl = "" if message.endswith("\n") else "\n"
        line = f"<{self.priority}>{stamp} {self.tag}[{os.getpid()}]: {message}{nl}"
        self.conn.sendall(line.encode())

    def write(self, payload: bytes) -> None:
        message = payload.decode("utf-8", "replace")
        with self.lock:
            if self.conn is not None:
                try:
                    self._send(message)
                    return
                except OSError:
                    pass
            self._connect()
            try:
                self._send(message)
            except OSError as exc:
                raise DeviceError(go_errno_text(exc)) from None

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


def create_device(kind: str, options: dict[str, str], salt: LazySalt) -> Device:
    """newAuditBackend: the device for ``kind``, or DeviceError with the reference's text."""
    if kind == "file":
        return FileDevice(options, salt)
    if kind == "socket":
        return SocketDevice(options, salt)
    if kind == "syslog":
        return SyslogDevice(options, salt)
    raise DeviceError(f'unknown backend type: "{kind}"')

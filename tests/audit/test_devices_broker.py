"""Devices (file, socket, syslog) and the broker, driven directly: option errors in the reference's
words, where each device writes, reconnects and reopens, and the table kept through the barrier."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.audit import devices as devices_mod
from tessera.audit.broker import AuditBroker, AuditEntry, AuditError, DeclaredDevice, parse_declared
from tessera.audit.devices import DeviceError, FileDevice, SocketDevice, SyslogDevice, create_device
from tessera.audit.formatter import LogInput, RequestInfo
from tessera.audit.hashing import LazySalt
from tessera.core.core import Core, CoreConfig
from tessera.storage.inmem import InmemPhysical
from tests.auth._memstore import MemStorage


def salt() -> LazySalt:
    return LazySalt(MemStorage())


def probe(path: str = "secret/data/x") -> LogInput:
    return LogInput(request=RequestInfo(id="rid", operation="read", path=path, client_token="tok"))


# Texts recorded from the reference (PUT sys/audit/<path> answers).
@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("bogus", {}, 'unknown backend type: "bogus"'),
        ("file", {}, "file_path is required"),
        ("file", {"file_path": "discard", "format": "xml"}, 'unknown format type "xml"'),
        (
            "file",
            {"file_path": "discard", "hmac_accessor": "maybe"},
            'strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (
            "file",
            {"file_path": "/tmp/x.log", "mode": "999"},
            'strconv.ParseUint: parsing "999": invalid syntax',
        ),
        (
            "file",
            {"file_path": "/proc/nope/x.log"},
            'sanity check failed; unable to open "/proc/nope/x.log" for writing: mkdir /proc/nope: no such file or directory',
        ),
        ("socket", {}, "address is required"),
        ("syslog", {"facility": "nope"}, "invalid syslog facility: NOPE"),
    ],
)
def test_option_errors(kind: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(DeviceError) as err:
        create_device(kind, options, salt())
    assert str(err.value) == message


def test_file_device_writes_lines_and_strips_exec_bits(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit.log"
    device = FileDevice({"file_path": str(path), "mode": "0755"}, salt())
    device.log_request(probe())
    device.log_test_message()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["request"]["path"] for line in lines] == ["secret/data/x", "sys/audit/test"]
    assert lines[0]["request"]["client_token"].startswith("hmac-sha256:")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    device.close()


def test_file_device_reopens_and_reports_failure(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    device = FileDevice({"file_path": str(path)}, salt())
    path.rename(tmp_path / "moved.log")
    device.reload()  # SIGHUP: a new file at the configured path
    device.log_request(probe())
    assert path.exists() and len(path.read_text().splitlines()) == 1
    path.unlink()
    path.mkdir()
    with pytest.raises(DeviceError):
        device.reload()
    with pytest.raises(DeviceError, match="is a directory"):
        device.log_request(probe())


def test_stdout_and_discard(capfd: pytest.CaptureFixture[str]) -> None:
    FileDevice({"file_path": "DISCARD"}, salt()).log_request(probe())
    FileDevice({"path": "stdout", "prefix": "AUD "}, salt()).log_request(probe())
    out = capfd.readouterr().out
    assert out.startswith("AUD {") and out.count("\n") == 1


@pytest.fixture
def tcp_server() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while chunk := conn.recv(65536):
                    received.append(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{srv.getsockname()[1]}", received
    srv.close()


def _wait_for(predicate: Any) -> None:
    for _ in range(200):
        if predicate():
            return
        threading.Event().wait(0.02)
    raise AssertionError("timed out")


def test_socket_device_tcp(tcp_server: tuple[str, list[bytes]]) -> None:
    address, received = tcp_server
    device = SocketDevice({"address": address}, salt())
    device.log_test_message()
    device.log_request(probe())
    _wait_for(lambda: b"".join(received).count(b"\n") == 2)
    lines = b"".join(received).decode().splitlines()
    assert json.loads(lines[1])["request"]["path"] == "secret/data/x"
    device.close()


def test_socket_device_udp_and_unix(tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    device = SocketDevice({"address": f"127.0.0.1:{udp.getsockname()[1]}", "socket_type": "udp"}, salt())
    device.log_request(probe())
    assert json.loads(udp.recv(65536))["type"] == "request"
    udp.close()
    sock_path = str(tmp_path / "audit.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(sock_path)
    unix.listen()
    device = SocketDevice({"address": sock_path, "socket_type": "unix"}, salt())
    device.log_request(probe())
    conn, _ = unix.accept()
    assert json.loads(conn.recv(65536))["type"] == "request"
    conn.close()
    unix.close()


def test_socket_device_refused_in_go_words() -> None:
    device = SocketDevice({"address": "127.0.0.1:1"}, salt())
    with pytest.raises(DeviceError) as err:
        device.log_test_message()
    refused = "dial tcp 127.0.0.1:1: connect: connection refused"
    assert str(err.value) == f"2 errors occurred:\n\t* {refused}\n\t* {refused}\n\n"


def test_syslog_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeviceError, match="Unix syslog delivery error"):
        monkeypatch.setattr(devices_mod, "SYSLOG_PATHS", [str(tmp_path / "none")])
        SyslogDevice({}, salt())
    log_path = str(tmp_path / "log")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(log_path)
    monkeypatch.setattr(devices_mod, "SYSLOG_PATHS", [log_path])
    device = SyslogDevice({"facility": "local0", "tag": "tessera"}, salt())
    device.log_request(probe())
    message = daemon.recv(65536).decode()
    assert message.startswith("<134>")  # LOCAL0 (16 << 3) | INFO (6)
    head, _, body = message.partition(": ")
    assert head.endswith(f"tessera[{os.getpid()}]") and json.loads(body)["type"] == "request"
    device.close()
    daemon.close()


# -- the broker, on a real (in-memory) core ---------------------------------------------------------
@pytest.fixture
def initialized() -> Iterator[tuple[Core, str]]:
    """An unsealed core and its one unseal key (a test that seals it unseals it again)."""
    c = Core(InmemPhysical(), CoreConfig(extra={"unsafe_allow_api_audit_creation": True}))
    keys = c.initialize(1, 1)["keys"]
    c.unseal(keys[0])
    yield c, keys[0]
    c.shutdown()


@pytest.fixture
def core(initialized: tuple[Core, str]) -> Core:
    return initialized[0]


@pytest.fixture
def unseal_key(initialized: tuple[Core, str]) -> str:
    return initialized[1]


def test_table_is_kept_through_the_barrier(core: Core, unseal_key: str, tmp_path: Path) -> None:
    broker: AuditBroker = core.audit
    broker.enable(AuditEntry(path="file", type="file", options={"file_path": str(tmp_path / "a.log")}))
    digest = broker.get_hash("file/", "value")
    with pytest.raises(AuditError, match="path already in use"):
        broker.enable(AuditEntry(path="file/sub", type="file", options={"file_path": "discard"}))
    core.seal()
    assert core.audit is None
    core.unseal(unseal_key)
    assert [e.path for e in core.audit.table()] == ["file/"]
    assert core.audit.get_hash("file", "value") == digest
    assert core.audit.table()[0].accessor.startswith("audit_file_")
    assert core.audit.disable("file/") and not core.audit.disable("file/")
    with pytest.raises(AuditError, match='unknown audit backend "file/"'):
        core.audit.get_hash("file", "value")


def test_broker_needs_one_device_to_succeed(core: Core, tmp_path: Path) -> None:
    broker: AuditBroker = core.audit
    good = tmp_path / "good.log"
    broker.enable(AuditEntry(path="good", type="file", options={"file_path": str(good)}))
    broker.enable(AuditEntry(path="bad", type="file", options={"file_path": str(tmp_path / "bad.log")}))
    (tmp_path / "bad.log").unlink()
    (tmp_path / "bad.log").mkdir()
    assert broker.reload()  # the bad device reports its error
    assert broker.log_request(probe())
    broker.disable("good")
    assert not broker.log_request(probe())


def test_unseal_fails_when_no_device_can_start(core: Core, unseal_key: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    core.audit.enable(AuditEntry(path="file", type="file", options={"file_path": str(path)}))
    core.seal()
    path.unlink()
    path.mkdir()
    with pytest.raises(RuntimeError, match="failed to setup audit table"):
        core.unseal(unseal_key)


def test_declared_devices(core: Core, tmp_path: Path) -> None:
    raw = {"file": {"cfg": {"options": {"file_path": str(tmp_path / "c.log")}, "description": "d"}}}
    declared = parse_declared(raw)
    assert declared == [
        DeclaredDevice(
            type="file", path="cfg", description="d", options={"file_path": str(tmp_path / "c.log")}
        )
    ]
    core.audit.apply_declared(declared)
    assert core.audit.find("cfg/").table == "audit-config"
    core.audit.apply_declared(declared)  # unchanged configuration: nothing to do
    changed = [DeclaredDevice(type="file", path="cfg", options={"file_path": "discard"})]
    with pytest.raises(RuntimeError, match="modifications to audit devices are not allowed"):
        core.audit.apply_declared(changed)
    core.audit.apply_declared([])
    assert core.audit.find("cfg/") is None

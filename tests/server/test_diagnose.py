"""``tessera operator diagnose``: what it finds wrong, in plain words, and its exit codes."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tessera.server.diagnose import FAILURE, SUCCESS, WARNING, Check, diagnose
from tests.helpers.servers import free_port, hcl_config, tessera_on_sqlite

TESSERA = [sys.executable, "-m", "tessera"]


def _find(check: Check, name: str) -> Check:
    if check.name.startswith(name):
        return check
    for child in check.children:
        found = _find_or_none(child, name)
        if found is not None:
            return found
    raise AssertionError(f"no check {name!r} in {check.to_json()}")


def _find_or_none(check: Check, name: str) -> Check | None:
    try:
        return _find(check, name)
    except AssertionError:
        return None


def _cli(config: Path | None) -> subprocess.CompletedProcess[str]:
    args = [*TESSERA, "operator", "diagnose"] + ([f"-config={config}"] if config else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def _cert(tmp_path: Path, days: int) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"cert-{days}.pem", tmp_path / f"key-{days}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_a_syntax_error_fails_plainly(tmp_path: Path) -> None:
    config = tmp_path / "bad.hcl"
    config.write_text('listener "tcp" {\n  address = \n')
    proc = _cli(config)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "[ failure ] Parse Configuration: error parsing config" in proc.stdout


def test_an_initialised_sqlite_server_while_it_runs(tmp_path: Path) -> None:
    server = tessera_on_sqlite(tmp_path).start()
    try:
        assert _find(diagnose(str(server.config)), "Check Storage").status == WARNING  # not initialised yet
        server.init()
        result = diagnose(str(server.config))
        storage = _find(result, "Check Storage")
        assert (storage.status, storage.message) == (SUCCESS, "storage is reachable and initialised")
        bind = _find(result, "Bind")
        assert bind.status == WARNING and bind.message == f"127.0.0.1:{server.port} is in use"
    finally:
        server.cleanup()


def test_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    config = tmp_path / "s.hcl"
    config.write_text(
        hcl_config(free_port(), storage="sqlite", storage_options={"path": "/nonexistent/dir/t.db"})
    )
    storage = _find(diagnose(str(config)), "Check Storage")
    assert storage.status == FAILURE
    assert "/nonexistent/dir does not exist or is not writable" in storage.message


def test_tls_certificates(tmp_path: Path) -> None:
    soon_cert, soon_key = _cert(tmp_path, 10)
    long_cert, long_key = _cert(tmp_path, 365)
    cases = [
        (soon_cert, soon_key, WARNING, "the certificate expires on"),
        (long_cert, long_key, SUCCESS, "certificate valid until"),
        (long_cert, soon_key, FAILURE, "the certificate and key do not load together"),
        (tmp_path / "missing.pem", long_key, FAILURE, "does not exist or cannot be read"),
    ]
    for cert, key, status, message in cases:
        config = tmp_path / "tls.hcl"
        config.write_text(hcl_config(free_port(), tls_cert_file=cert, tls_key_file=key))
        tls = _find(diagnose(str(config)), "TLS")
        assert tls.status == status and message in tls.message, (cert, key, tls)


def test_exit_codes_and_a_missing_flag(tmp_path: Path) -> None:
    config = tmp_path / "dev.hcl"
    config.write_text(hcl_config(free_port()))  # inmem, no TLS: warnings only
    proc = _cli(config)
    assert proc.returncode == 2
    assert "[ warning ] Check Storage (inmem): inmem storage loses every secret" in proc.stdout
    missing = _cli(None)
    assert missing.returncode == 1 and "Must specify a configuration file using -config." in missing.stderr

"""Test OpenPGP keys (generated with pysequoia) and the decryption Vault's docs describe."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pysequoia


@dataclass
class HolderKey:
    """A generated key pair: ``pub`` is what ``gpg --export KEYID | base64`` would give."""

    cert: pysequoia.Cert
    pub: str
    fingerprint: str

    def decrypt(self, b64: str) -> str:
        """``base64 -d | gpg -dq``, done with Sequoia."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            secrets = self.cert.secrets
            assert secrets is not None
            return pysequoia.decrypt(base64.b64decode(b64), decryptor=secrets.decryptor()).bytes.decode()

    def decrypt_hex(self, hex_text: str) -> str:
        """The ``keys`` (hex) form of the same message."""
        return self.decrypt(base64.b64encode(bytes.fromhex(hex_text)).decode())


def make_key(name: str = "operator") -> HolderKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cert = pysequoia.Cert.generate(f"{name} <{name}@example.com>")
    return HolderKey(cert, base64.b64encode(bytes(cert)).decode(), cert.fingerprint.lower())


def sign_only_key() -> str:
    """A valid key without an encryption subkey (base64): nothing can be encrypted to it."""
    from pysequoia.packet import PacketPile, Tag

    packets = []
    for packet in PacketPile.from_bytes(bytes(make_key("signer").cert)):
        if packet.tag == Tag.PublicSubkey:
            break
        packets.append(bytes(packet))
    return base64.b64encode(b"".join(packets)).decode()


class GnuPG:
    """Real gpg in a throw-away GNUPGHOME (``None`` from ``start`` when gpg is not installed)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = dict(os.environ, GNUPGHOME=str(home))

    @classmethod
    def start(cls) -> GnuPG | None:
        if shutil.which("gpg") is None:
            return None
        home = Path(tempfile.mkdtemp(prefix="gnupg-", dir="/tmp"))  # short path: gpg-agent's socket
        home.chmod(0o700)
        return cls(home)

    def run(self, *args: str, stdin: bytes = b"") -> bytes:
        proc = subprocess.run(
            ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    def generate(self, uid: str = "gpg operator <gpg@example.com>") -> str:
        """A gpg-generated key; its public half as ``gpg --export | base64``."""
        self.run("--quick-generate-key", uid, "default", "default", "never")
        return base64.b64encode(self.run("--export", uid)).decode()

    def decrypt(self, b64: str) -> str:
        """``echo $KEY | base64 -d | gpg -dq``, literally."""
        return self.run("-dq", stdin=base64.b64decode(b64)).decode()

    def stop(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], env=self.env, capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)

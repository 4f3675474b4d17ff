"""Token sinks: where the agent hands the token to the application (Vault's ``sink "file"``).

The file is replaced atomically (a temp file in the same directory, then ``rename``), so a reader
never sees a half-written or empty token. It is rewritten on every (re)authentication, not on
renewals: the token stays the same then. Optional per-sink response wrapping (``wrap_ttl``) and
Diffie-Hellman encryption (``dh_type = "curve25519"``) follow Vault's formats.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import stat
import uuid
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .client import Client
from .config import ConfigError, SinkConfig
from .hclog import kv
from .tokens import Subscription

DEFAULT_MODE = 0o640


def go_file_mode(mode: int) -> str:
    """os.FileMode.String() for a regular file: ``-rw-r-----``."""
    return stat.filemode(stat.S_IFREG | mode)


def encode_wrap_info(info: dict[str, Any]) -> str:
    """jsonutil.EncodeJSON of api.SecretWrapInfo: Go's field order, a trailing newline."""
    keys = ("token", "accessor", "ttl", "creation_time", "creation_path", "wrapped_accessor")
    ordered = {k: info[k] for k in keys if k in info and (k != "wrapped_accessor" or info[k])}
    return orjson.dumps(ordered).decode() + "\n"


class FileSink:
    """``sink "file" { config = { path, mode } }``."""

    def __init__(self, cfg: SinkConfig) -> None:
        self.log = logging.getLogger("agent.sink.file")
        self.cfg = cfg
        self.log.info("creating file sink")
        path = cfg.config.get("path")
        if path is None:
            raise ConfigError("'path' not specified for file sink")
        if not isinstance(path, str):
            raise ConfigError("could not parse 'path' as string")
        self.path = path
        self.mode = DEFAULT_MODE
        if "mode" in cfg.config:
            mode = cfg.config["mode"]
            if not isinstance(mode, int) or isinstance(mode, bool):
                raise ConfigError("could not parse 'mode' as integer")
            if mode < 0 or mode > 0o7777:
                raise ConfigError("file mode does not represent a regular file")
            self.mode = mode
        try:
            self.write_token("")
        except OSError as exc:
            raise ConfigError(f"error during write check: {exc}") from None
        self.log.info(kv("file sink configured", path=self.path, mode=go_file_mode(self.mode)))
        self._dh_private: Any = None
        self._dh_remote: bytes = b""

    def write_token(self, token: str) -> None:
        """Write to ``<name>.tmp.<random>`` then rename over the target; a blank token only checks writability."""
        directory = os.path.dirname(self.path) or "."
        suffix = uuid.uuid4().hex[:8]
        tmp = os.path.join(directory, f"{os.path.basename(self.path)}.tmp.{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, self.mode)
        except OSError as exc:
            raise OSError(
                f"error opening temp file in dir {directory} for writing: open {tmp}: {_strerror(exc)}"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(token or suffix)
        except OSError as exc:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise OSError(f"error writing to {tmp}: {_strerror(exc)}") from None
        if not token:
            os.remove(tmp)
            return
        os.rename(tmp, self.path)
        self.log.info(kv("token written", path=self.path))

    def encrypt(self, token: str) -> str:
        """dhutil: X25519 with the public key in ``dh_path``, optional HKDF, AES-GCM with ``aad``."""
        if not self._dh_remote:
            try:
                with open(self.cfg.dh_path, "rb") as fh:
                    info = orjson.loads(fh.read())
            except FileNotFoundError:
                raise ValueError("no dh parameters file found, and no cached pub key") from None
            remote = base64.b64decode(info.get("curve25519_public_key") or "")
            if not remote:
                raise ValueError("public key is nil")
            self._dh_remote = remote
        if self._dh_private is None:
            self._dh_private = X25519PrivateKey.generate()
        ours = self._dh_private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        secret = self._dh_private.exchange(X25519PublicKey.from_public_bytes(self._dh_remote))
        key = secret
        if self.cfg.derive_key:
            if ours == self._dh_remote:
                raise ValueError("same public key supplied for both participants")
            salt, info_bytes = sorted([ours, self._dh_remote])
            key = HKDF(hashes.SHA256(), 32, salt=salt, info=info_bytes).derive(secret)
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, token.encode(), self.cfg.aad.encode() or None)
        envelope = {
            "curve25519_public_key": base64.b64encode(ours).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "encrypted_payload": base64.b64encode(sealed).decode(),
        }
        return orjson.dumps(envelope).decode() + "\n"


def _strerror(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def new_sink(cfg: SinkConfig) -> FileSink:
    if cfg.type != "file":
        raise ConfigError(f'unknown sink type "{cfg.type}"')
    return FileSink(cfg)


class SinkServer:
    """Push each new token to every sink; a failed write is retried after 1–3 s."""

    def __init__(
        self,
        client: Client,
        sub: Subscription,
        sinks: list[FileSink],
        *,
        exit_after_auth: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.log = logging.getLogger("agent.sink.server")
        self.client = client
        self.sub = sub
        self.sinks = sinks
        self.exit_after_auth = exit_after_auth
        self.rng = rng or random.Random()

    async def _wrap(self, token: str, ttl: int) -> str:
        resp = await self.client.request(
            "PUT", "sys/wrapping/wrap", token=token, data={"token": token}, wrap_ttl=f"{ttl}s"
        )
        info = (resp or {}).get("wrap_info")
        if not isinstance(info, dict):
            raise ValueError("nil wrap info returned, not writing out to sink")
        return encode_wrap_info(info)

    async def _write(self, sink: FileSink, token: str) -> None:
        value = token
        if sink.cfg.wrap_ttl > 0:
            try:
                value = await self._wrap(token, sink.cfg.wrap_ttl)
            except Exception as exc:
                raise ValueError(f"error wrapping token, not writing out to sink: {exc})") from None
        if sink.cfg.dh_type:
            value = sink.encrypt(value)
        sink.write_token(value)

    async def run(self) -> None:
        """Runs until cancelled, or (exit_after_auth) until every sink holds the first token."""
        self.log.info("starting sink server")
        try:
            while True:
                token = await self.sub.next()
                pending = list(self.sinks)
                while pending and not self.sub.pending():
                    try:
                        await self._write(pending[0], token)
                        pending.pop(0)
                    except Exception as exc:
                        backoff = 2 + (self.rng.random() * 2 - 1)
                        self.log.error(
                            kv(
                                "error returned by sink function, retrying",
                                error=exc,
                                backoff=f"{backoff:.2f}s",
                            )
                        )
                        await asyncio.sleep(backoff)
                if not pending and self.exit_after_auth:
                    return
        finally:
            self.log.info("sink server stopped")

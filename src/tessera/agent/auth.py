"""Auto-auth: the login methods and the handler that keeps a token alive (Vault's AuthHandler.Run).

The loop: authenticate (backing off exponentially between ``min_backoff`` and ``max_backoff`` on
failure, so an unreachable server is not hammered), publish the token, watch its lifetime (renewing
a renewable token), and when the watcher says the token is done — renewal impossible, refused, or
the max TTL near — authenticate again. Each step is logged with Vault Agent's wording.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..gocompat.durations import format_go_duration
from .client import Client
from .config import ConfigError, MethodConfig, parse_bool
from .hclog import kv
from .lifetime import Lifetime, LifetimeWatcher, renew_token
from .sink import encode_wrap_info
from .tokens import TokenBus

log = logging.getLogger("agent.auth.handler")

DEFAULT_MIN_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 300.0


class AuthMethodError(Exception):
    """The method could not produce login data (files missing, empty…)."""


@dataclass
class LoginRequest:
    path: str
    data: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)
    client: Client | None = None  # a method's own connection settings (cert: its client certificate)


def _read_trimmed(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


class AppRoleMethod:
    """``method "approle"``: role_id (and secret_id) from files; the secret_id file is removed after reading by default."""

    def __init__(self, mount_path: str, config: dict[str, Any], client: Client) -> None:
        self.log = logging.getLogger("agent.auth.approle")
        self.mount_path = mount_path
        self.client = client
        if "role_id_file_path" not in config:
            raise ConfigError("missing 'role_id_file_path' value")
        self.role_id_file = config["role_id_file_path"]
        if not isinstance(self.role_id_file, str):
            raise ConfigError("could not convert 'role_id_file_path' config value to string")
        if not self.role_id_file:
            raise ConfigError("'role_id_file_path' value is empty")
        self.secret_id_file = ""
        self.remove_secret_id = True
        self.wrapping_path = ""
        self.cached_role_id = ""
        self.cached_secret_id = ""
        if "secret_id_file_path" in config:
            self.secret_id_file = config["secret_id_file_path"]
            if not isinstance(self.secret_id_file, str):
                raise ConfigError("could not convert 'secret_id_file_path' config value to string")
            if "remove_secret_id_file_after_reading" in config:
                try:
                    self.remove_secret_id = parse_bool(config["remove_secret_id_file_after_reading"])
                except ConfigError as exc:
                    raise ConfigError(
                        f"error parsing 'remove_secret_id_file_after_reading' value: {exc}"
                    ) from None
            if "secret_id_response_wrapping_path" in config:
                self.wrapping_path = str(config["secret_id_response_wrapping_path"])
                if not self.wrapping_path:
                    raise ConfigError("'secret_id_response_wrapping_path' value is empty")

    async def login(self) -> LoginRequest:
        if os.path.exists(self.role_id_file):
            try:
                role_id = _read_trimmed(self.role_id_file)
            except OSError as exc:
                if not self.cached_role_id:
                    raise AuthMethodError(
                        f"error reading role ID file and no cached role ID known: {exc}"
                    ) from None
                self.log.warning(kv("error reading role ID file", error=exc))
                role_id = ""
            if role_id:
                self.cached_role_id = role_id
            elif not self.cached_role_id:
                raise AuthMethodError("role ID file empty and no cached role ID known")
            else:
                self.log.warning("role ID file exists but read empty value, re-using cached value")
        if not self.cached_role_id:
            raise AuthMethodError("no known role ID")
        path = f"{self.mount_path}/login"
        if not self.secret_id_file:
            return LoginRequest(path, {"role_id": self.cached_role_id})
        if os.path.exists(self.secret_id_file):
            try:
                secret_id = _read_trimmed(self.secret_id_file)
            except OSError as exc:
                if not self.cached_secret_id:
                    raise AuthMethodError(
                        f"error reading secret ID file and no cached secret ID known: {exc}"
                    ) from None
                self.log.warning(kv("error reading secret ID file", error=exc))
                secret_id = ""
            if secret_id:
                if self.wrapping_path:
                    secret_id = await self._unwrap(secret_id)
                self.cached_secret_id = secret_id
                if self.remove_secret_id:
                    try:
                        os.remove(self.secret_id_file)
                    except OSError as exc:
                        self.log.error(kv("error removing secret ID file after reading", error=exc))
            elif not self.cached_secret_id:
                raise AuthMethodError("secret ID file empty and no cached secret ID known")
            else:
                self.log.warning("secret ID file exists but read empty value, re-using cached value")
        if not self.cached_secret_id:
            raise AuthMethodError("no known secret ID")
        return LoginRequest(path, {"role_id": self.cached_role_id, "secret_id": self.cached_secret_id})

    async def _unwrap(self, wrapping_token: str) -> str:
        """Check the wrapping token's creation path before unwrapping: a forged token must not pass."""
        try:
            looked = await self.client.request("PUT", "sys/wrapping/lookup", data={"token": wrapping_token})
        except Exception as exc:
            raise AuthMethodError(f"error looking up wrapped secret ID: {exc}") from None
        data = (looked or {}).get("data")
        if not isinstance(data, dict):
            raise AuthMethodError("data in response nil when looking up wrapped secret ID")
        creation_path = data.get("creation_path")
        if creation_path != self.wrapping_path:
            self.log.error(
                kv(
                    "SECURITY: unable to validate wrapping token creation path",
                    expected=self.wrapping_path,
                    found=creation_path,
                )
            )
            raise AuthMethodError("unable to validate wrapping token creation path")
        try:
            unwrapped = await self.client.request("PUT", "sys/wrapping/unwrap", token=wrapping_token)
        except Exception as exc:
            raise AuthMethodError(f"error unwrapping secret ID: {exc}") from None
        secret_id = ((unwrapped or {}).get("data") or {}).get("secret_id")
        if not isinstance(secret_id, str) or not secret_id:
            raise AuthMethodError("secret_id in response nil when unwrapping secret ID")
        return secret_id


class TokenFileMethod:
    """``method "token_file"``: an existing token, validated with ``auth/token/lookup-self``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.log = logging.getLogger("agent.auth.token_file")
        if "token_file_path" not in config:
            raise ConfigError("missing 'token_file_path' value")
        self.path = config["token_file_path"]
        if not isinstance(self.path, str):
            raise ConfigError("could not convert 'token_file_path' config value to string")
        if not self.path:
            raise ConfigError("'token_file_path' value is empty")
        self.cached = ""

    async def login(self) -> LoginRequest:
        token = ""
        try:
            token = _read_trimmed(self.path)
        except OSError as exc:
            if not self.cached:
                raise AuthMethodError(f"error reading token file and no cached token known: {exc}") from None
            self.log.warning(kv("error reading token file", error=exc))
        if token:
            self.cached = token
        elif not self.cached:
            raise AuthMethodError("token file empty and no cached token known")
        else:
            self.log.warning("token file exists but read empty value, re-using cached value")
        return LoginRequest("auth/token/lookup-self", {"token": self.cached})


class JWTMethod:
    """``method "jwt"``: a JWT from a file (a CI platform's identity token), read at each login.

    The platform rewrites the file with a fresh token; the newest one read is cached, so a login
    after the file was removed (``remove_jwt_after_reading``, the default) still has a token.
    """

    def __init__(self, mount_path: str, config: dict[str, Any]) -> None:
        self.log = logging.getLogger("agent.auth.jwt")
        self.mount_path = mount_path
        for key in ("path", "role"):
            if key not in config:
                raise ConfigError(f"missing '{key}' value")
            if not isinstance(config[key], str):
                raise ConfigError(f"could not convert '{key}' config value to string")
        self.path: str = config["path"]
        self.role: str = config["role"]
        self.remove_after_reading = True
        if "remove_jwt_after_reading" in config:
            try:
                self.remove_after_reading = parse_bool(config["remove_jwt_after_reading"])
            except ConfigError as exc:
                raise ConfigError(f"error parsing 'remove_jwt_after_reading' value: {exc}") from None
        self.cached = ""

    def _ingest(self) -> None:
        """Read the file if it is there, keep a non-empty token, remove the file if asked."""
        if not os.path.exists(self.path):
            return
        try:
            token = _read_trimmed(self.path)
        except OSError as exc:
            self.log.error(kv("error reading jwt file", error=exc))
            return
        if not token:
            self.log.warning("jwt file exists but read empty value, re-using cached value")
            return
        if not hmac.compare_digest(token.encode(), self.cached.encode()):
            self.log.debug("new jwt file found")
        self.cached = token
        if self.remove_after_reading:
            try:
                os.remove(self.path)
            except OSError as exc:
                self.log.error(kv("error removing jwt file", error=exc))

    async def login(self) -> LoginRequest:
        self._ingest()
        if not self.cached:
            raise AuthMethodError("no known jwt")
        return LoginRequest(f"{self.mount_path}/login", {"role": self.role, "jwt": self.cached})


class CertMethod:
    """``method "cert"``: log in with a TLS client certificate (Vault Agent's cert method).

    ``client_cert``/``client_key``/``ca_cert`` in the method's config give the login its own TLS
    settings; without them the agent's ``vault`` block (``client_cert``...) is used. ``name``
    picks one trusted certificate entry. With ``reload = true`` the files are read again for
    every login, so a renewed certificate is picked up.
    """

    def __init__(self, mount_path: str, config: dict[str, Any], client: Client) -> None:
        self.path = f"{mount_path}/login"
        self.name = _optional_str(config, "name")
        self.client_cert = _optional_str(config, "client_cert")
        self.client_key = _optional_str(config, "client_key")
        self.ca_cert = _optional_str(config, "ca_cert")
        try:
            self.reload = parse_bool(config.get("reload", False))
        except ConfigError as exc:
            raise ConfigError(f"error parsing 'reload' value: {exc}") from None
        self.base = client
        self.own: Client | None = None

    def _client(self) -> Client | None:
        if not (self.client_cert or self.client_key or self.ca_cert):
            return None
        if self.own is None or self.reload:
            try:
                self.own = self.base.with_tls(
                    ca_cert=self.ca_cert, client_cert=self.client_cert, client_key=self.client_key
                )
            except (OSError, ValueError) as exc:
                raise AuthMethodError(f"error loading the client certificate: {exc}") from None
        return self.own

    async def login(self) -> LoginRequest:
        return LoginRequest(self.path, {"name": self.name}, client=self._client())


def _optional_str(config: dict[str, Any], key: str) -> str:
    value = config.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"could not convert '{key}' config value to string")
    return value


AuthMethod = AppRoleMethod | TokenFileMethod | JWTMethod | CertMethod


#: The auto-auth method types the agent knows, each with how to build it from its configuration.
METHODS: dict[str, Callable[[MethodConfig, Client], AuthMethod]] = {
    "approle": lambda cfg, client: AppRoleMethod(cfg.mount_path, cfg.config, client),
    "token_file": lambda cfg, client: TokenFileMethod(cfg.config),
    "jwt": lambda cfg, client: JWTMethod(cfg.mount_path, cfg.config),
    "cert": lambda cfg, client: CertMethod(cfg.mount_path, cfg.config, client),
}


def new_method(cfg: MethodConfig, client: Client) -> AuthMethod:
    """GetAutoAuthMethodFromConfig for the methods Tessera serves."""
    build = METHODS.get(cfg.type)
    if build is None:
        raise ConfigError(f'unknown auth method "{cfg.type}"')
    return build(cfg, client)


class Backoff:
    """autoAuthBackoff: double on each failure, trim 0–25 % at random, cap at max; reset on success."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random) -> None:
        self.min = minimum if minimum > 0 else DEFAULT_MIN_BACKOFF
        self.max = maximum if maximum > 0 else DEFAULT_MAX_BACKOFF
        self.current = self.min
        self.rng = rng

    def next(self) -> None:
        doubled = min(2 * self.current, self.max)
        self.current = doubled - self.rng.random() * doubled / 4

    def reset(self) -> None:
        self.current = self.min

    def __str__(self) -> str:
        return format_go_duration(int(self.current * 100) / 100)


class AuthHandler:
    """Authenticate, publish, renew, and authenticate again — until cancelled."""

    def __init__(
        self,
        client: Client,
        method: AuthMethod,
        bus: TokenBus,
        *,
        min_backoff: float = 0.0,
        max_backoff: float = 0.0,
        exit_on_err: bool = False,
        wrap_ttl: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.method = method
        self.bus = bus
        self.rng = rng or random.Random()
        self.backoff = Backoff(min_backoff, max_backoff, self.rng)
        if self.backoff.min >= self.backoff.max:
            raise ConfigError("auth handler: min_backoff cannot be greater than max_backoff")
        self.exit_on_err = exit_on_err
        self.wrap_ttl = wrap_ttl

    async def _fail(self, message: str, error: object) -> None:
        """Log one failure and sleep the current backoff (or stop if exit_on_err)."""
        fields: dict[str, Any] = {"backoff": str(self.backoff)}
        if error is not None:
            fields = {"error": error, **fields}
        log.error(kv(message, **fields))
        if self.exit_on_err:
            raise AuthFatalError(f"{message}: {error}")
        await asyncio.sleep(self.backoff.current)
        self.backoff.next()

    async def run(self) -> None:
        log.info("starting auth handler")
        try:
            await self._loop()
        finally:
            log.info("auth handler stopped")

    async def _loop(self) -> None:
        while True:
            log.info("authenticating")
            try:
                login = await self.method.login()
            except AuthMethodError as exc:
                await self._fail("error getting path or data from method", exc)
                continue
            token_file = login.path == "auth/token/lookup-self"
            try:
                if token_file:
                    resp = await self.client.request("GET", login.path, token=login.data["token"])
                else:
                    wrap = f"{self.wrap_ttl}s" if self.wrap_ttl > 0 else ""
                    resp = await (login.client or self.client).request(
                        "PUT", login.path, data=login.data, wrap_ttl=wrap, headers=login.headers
                    )
            except Exception as exc:
                await self._fail("error authenticating", exc)
                continue
            resp = resp or {}
            if self.wrap_ttl > 0:
                if await self._publish_wrapped(resp):
                    return
                continue
            lifetime = await self._publish(resp, token_file)
            if lifetime is None:
                continue
            self.backoff.reset()
            if lifetime.lease_duration == 0:
                # a token without TTL (root, or token_file's) never needs renewing nor replacing;
                # watching it would re-authenticate in a tight loop
                log.info("not starting token renewal process, as token has unlimited TTL")
                await asyncio.Event().wait()
            await self._watch(lifetime)

    async def _publish(self, resp: dict[str, Any], token_file: bool) -> Lifetime | None:
        if token_file:
            data = resp.get("data")
            if not isinstance(data, dict):
                await self._fail("token file validation failed, token may be invalid", None)
                return None
            token = data.get("id")
            if not isinstance(token, str) or not token:
                await self._fail("token file validation returned empty client token", None)
                return None
            ttl = float(data.get("ttl") or 0)
            lifetime = Lifetime(token, ttl, bool(data.get("renewable")))
            log.info("authentication successful, sending token to sinks")
            self.bus.publish(token)
            if data.get("type") == "batch":
                log.info(
                    kv("note that this token type is batch, and batch tokens cannot be renewed", ttl=int(ttl))
                )
            return lifetime
        auth = resp.get("auth")
        if not isinstance(auth, dict):
            await self._fail("authentication returned nil auth info", None)
            return None
        token = auth.get("client_token")
        if not isinstance(token, str) or not token:
            await self._fail("authentication returned empty client token", None)
            return None
        lifetime = Lifetime(token, float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
        log.info("authentication successful, sending token to sinks")
        self.bus.publish(token)
        if auth.get("token_type") == "batch" or not lifetime.renewable:
            log.info(
                kv(
                    "token is not renewable; it will be replaced before it expires",
                    ttl=int(lifetime.lease_duration),
                )
            )
        return lifetime

    async def _publish_wrapped(self, resp: dict[str, Any]) -> bool:
        """Wrapped login: the sink gets the wrap_info JSON and the handler waits (nothing to renew)."""
        info = resp.get("wrap_info")
        if not isinstance(info, dict):
            await self._fail("authentication returned nil wrap info", None)
            return False
        if not info.get("token"):
            await self._fail("authentication returned empty wrapped client token", None)
            return False
        log.info("authentication successful, sending wrapped token to sinks and pausing")
        self.bus.publish(encode_wrap_info(info))
        self.backoff.reset()
        await asyncio.Event().wait()
        return True

    async def _watch(self, lifetime: Lifetime) -> None:
        def renewed(duration: float) -> None:
            log.info(kv("renewed auth token", ttl=f"{int(duration)}s"))

        def failed(exc: BaseException, retry_in: float | None) -> None:
            first = str(exc).splitlines()
            text = " ".join(line.strip() for line in first if line.strip())
            if retry_in is None:
                log.warning(kv("token renewal refused; re-authenticating before it expires", error=text))
            else:
                log.warning(kv("error renewing token", error=text, retry_in=f"{retry_in:.1f}s"))

        watcher = LifetimeWatcher(
            lifetime,
            lambda tok, inc: renew_token(self.client, tok, inc),
            on_renew=renewed,
            on_error=failed,
            rng=self.rng,
        )
        log.info("starting renewal process")
        try:
            err = await watcher.run()
        except asyncio.CancelledError:
            log.info("shutdown triggered, stopping lifetime watcher")
            raise
        log.info("lifetime watcher done channel triggered")
        if err is not None:
            log.error(kv("error renewing token", error=" ".join(str(err).split())))


class AuthFatalError(Exception):
    """``exit_on_err``: the first auto-auth failure ends the agent."""

"""``login``: authenticate (token, userpass, cert, github) and store the token in ``~/.vault-token``."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Any

from .. import api
from ..api import APIError
from ..args import ArgsError, ensure_trailing_slash, parse_args_data_string, sanitize_path
from ..base import BINARY, FLAGS_FIELD, FLAGS_FORMAT, FLAGS_HTTP, PRODUCT, Command, UsageError
from ..env import read_env
from ..flags import parse_bool, wrap
from ..gojson import Struct
from ..output import Secret, output_secret, print_raw_field
from .login_oidc import oidc_login

#: login methods the CLI knows (as Vault: approle is API-only)
#: The auth types ``-method`` accepts, each with the LoginCommand method that logs in with it.
LOGIN_HANDLERS = {
    "token": "_token_auth",
    "userpass": "_userpass_auth",
    "radius": "_userpass_auth",
    "ldap": "_userpass_auth",
    "oidc": "_oidc_auth",
    "cert": "_cert_auth",
    "github": "_github_auth",
}


class LoginCommand(Command):
    name = "login"
    synopsis = "Authenticate locally"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera login [options] [AUTH K=V...]

  Authenticates users or machines to Vault using the provided arguments. A
  successful authentication results in a Vault token - conceptually similar to
  a session token on a website. By default, this token is cached on the local
  machine for future requests.

  The default auth method is "token". If not supplied via the CLI,
  Vault will prompt for input. If the argument is "-", the values are read
  from stdin.

  The -method flag allows using other auth methods, such as userpass or
  ldap.

  Authenticate using a token:

      $ tessera login 96ddf4bc-d217-f3ba-f9bd-017055595017

  Authenticate using username and password:

      $ tessera login -method=userpass username=my-username password=my-password

  For more information about the list of configuration parameters available for
  a given auth method, use the "tessera auth help TYPE" command.
"""

    command_flags = (
        (
            "method",
            "string",
            'Type of authentication to use such as "userpass" or "ldap". Note this corresponds to the TYPE, not the enabled path. Use -path to specify the path where the authentication is enabled.',
            "token",
        ),
        (
            "path",
            "string",
            "Remote path in Vault where the auth method is enabled. This defaults to the TYPE of method (e.g. userpass -> userpass/).",
        ),
        (
            "no-store",
            "bool",
            "Do not persist the token to the token helper (usually the local filesystem) after authentication for use in future requests. The token will only be displayed in the command output.",
        ),
        (
            "no-print",
            "bool",
            "Do not display the token. The token will be still be stored to the configured token helper.",
        ),
        (
            "token-only",
            "bool",
            'Output only the token with no verification. This flag is a shortcut for "-field=token -no-store". Setting those flags to other values will have no affect.',
        ),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        no_store, no_print, field = self.flag("no-store"), self.flag("no-print"), self.flag("field")
        token_only = self.flag("token-only")
        if token_only:
            no_store, field = True, "token"
        if no_store and no_print:
            raise UsageError(wrap("-no-store and -no-print cannot be used together"))
        method = sanitize_path(self.flag("method")) or "token"
        mount = self.flag("path") or ensure_trailing_slash(method)
        if method not in LOGIN_HANDLERS:
            raise UsageError(
                wrap(
                    f'Unknown auth method: {method}. Use "{BINARY} auth list" to see the complete list of auth '
                    "methods. Additionally, some auth methods are only available via the HTTP API."
                )
            )
        stdin = sys.stdin if not self.flag("non-interactive") else None
        if method == "token" and args and "=" not in args[0]:
            args = ["token=" + args[0], *args[1:]]
        try:
            config = parse_args_data_string(args, stdin)
        except ArgsError as exc:
            raise UsageError(f"Error parsing configuration: {exc}") from None
        config.setdefault("mount", mount)
        if not config["mount"]:
            config["mount"] = mount
        client = self.client_without_token()
        if method != "token":
            client.token = ""
        self._client = client
        try:
            secret = self._auth(method, config)
        except APIError as exc:
            self.ui.error(f"Error authenticating: {exc}")
            return 2
        if secret is None:
            self.ui.error("Vault returned an empty secret")
            return 2
        if secret.auth is None:
            if secret.wrap_info is not None and not no_store and not token_only:
                self.ui.error("Error extracting token: wrapped response does not contain a token")
                return 2
            self.ui.error(
                wrap(
                    "Vault returned a secret, but the secret has no authentication information attached. "
                    "This should never happen and is likely a bug."
                )
            )
            return 2
        token = secret.auth["client_token"]
        if not no_store:
            try:
                api.helper_store(token)
            except OSError as exc:
                self.ui.error(f"Error storing token: {exc.strerror or exc}")
                self.ui.error(
                    wrap(
                        "Authentication was successful, but the token was not persisted. The resulting "
                        "token is shown below for your records."
                    )
                    + "\n"
                )
                output_secret(self.ui, secret)
                return 2
            self._warn_env_token()
        elif not token_only:
            self.ui.warn(
                wrap(
                    "The token was not stored in token helper. Set the VAULT_TOKEN environment variable or "
                    f"pass the token below with each request to {PRODUCT}."
                )
                + "\n"
            )
        if no_print:
            return 0
        if field:
            return print_raw_field(self.ui, secret, field)
        if self.ui.format == "table":
            self.ui.output(
                wrap(
                    "Success! You are now authenticated. The token information displayed below is already "
                    f'stored in the token helper. You do NOT need to run "{BINARY} login" again. Future '
                    f"{PRODUCT} requests will automatically use this token."
                )
                + "\n"
            )
        return output_secret(self.ui, secret)

    def _warn_env_token(self) -> None:
        if read_env("VAULT_TOKEN"):
            self.ui.warn(
                wrap(
                    "WARNING! The VAULT_TOKEN environment variable is set! The value of this variable will "
                    "take precedence; if this is unwanted please unset VAULT_TOKEN or update its value "
                    "accordingly."
                )
                + "\n"
            )

    def _auth(self, method: str, config: dict[str, str]) -> Secret | None:
        handler: Callable[[str, dict[str, str]], Secret | None] = getattr(self, LOGIN_HANDLERS[method])
        return handler(method, config)

    def _oidc_auth(self, method: str, config: dict[str, str]) -> Secret | None:
        return oidc_login(self, config)  # type: ignore[no-any-return]

    def _cert_auth(self, method: str, config: dict[str, str]) -> Secret | None:
        return self._login_write(config.get("mount") or "cert", {"name": config.get("name", "")})

    def _login_write(self, mount: str, body: dict[str, str]) -> Secret | None:
        """``auth/<mount>/login`` with ``body``: the client certificate, if any, goes in the TLS handshake."""
        secret = self.request_secret("PUT", f"auth/{mount}/login".replace("//", "/"), body=body)
        if secret is None:
            raise APIError("empty response from credential provider")
        return secret

    def _github_auth(self, method: str, config: dict[str, str]) -> Secret | None:
        """Vault's github CLI handler: ``token=``, else VAULT_AUTH_GITHUB_TOKEN, else a prompt."""
        token = config.get("token") or read_env("VAULT_AUTH_GITHUB_TOKEN")
        if not token:
            if self.flag("non-interactive"):
                raise APIError("'token' not supplied and refusing to pull from stdin")
            token = _prompt("GitHub Personal Access Token (will be hidden): ")
        return self._login_write(config.get("mount") or "github", {"token": token.strip()})

    def _token_auth(self, method: str, config: dict[str, str]) -> Secret | None:
        """The token method: look the token up (``lookup=false`` skips it) and build the auth block."""
        lookup = True
        if "lookup" in config:
            try:
                lookup = parse_bool(config["lookup"])
            except ValueError as exc:
                raise APIError(f'Failed to parse "lookup" as boolean: {exc}') from None
        token = config.get("token")
        if token is None:
            if self.flag("non-interactive"):
                raise APIError("'token' not supplied and refusing to pull from stdin")
            token = _prompt("Token (will be hidden): ")
        token = token.strip()
        if not token:
            raise APIError("a token must be passed to auth, please view the help for more information")
        if not lookup:
            return Secret(auth=_auth_struct(client_token=token))
        client = self.client()
        client.token = token
        client.wrap_ttl = ""
        try:
            secret = self.request_secret("GET", "auth/token/lookup-self")
        except APIError as exc:
            raise APIError(f"error looking up token: {exc}") from None
        if secret is None:
            raise APIError("empty response from lookup-self")
        data = secret.data or {}
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else data.get("meta")
        token_policies = (
            [str(p) for p in data["policies"]] if isinstance(data.get("policies"), list) else None
        )
        identity = data.get("identity_policies")
        identity_policies = [str(p) for p in identity] if isinstance(identity, list) else None
        policies = None
        if token_policies is not None:
            policies = token_policies + (identity_policies or [])
        return Secret(
            auth=_auth_struct(
                client_token=str(data.get("id") or ""),
                accessor=str(data.get("accessor") or ""),
                policies=policies,
                token_policies=token_policies,
                identity_policies=identity_policies,
                metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else None,
                lease_duration=_int(data.get("ttl")),
                renewable=bool(data.get("renewable")),
            )
        )

    def _userpass_auth(self, method: str, config: dict[str, str]) -> Secret | None:
        username = config.get("username", "")
        password = config.get("password", "")
        if not username:
            raise APIError("'username' must be specified")
        if not password:
            if self.flag("non-interactive"):
                raise APIError("'password' must be specified and refusing to pull from stdin")
            password = _prompt("Password (will be hidden): ")
        mount = config.get("mount") or method
        path = f"auth/{mount}/login/{username}".replace("//", "/")
        try:
            secret = self.request_secret("PUT", path, body={"password": password})
        except APIError:
            raise
        if secret is None:
            raise APIError("empty response from credential provider")
        return secret


def _auth_struct(**fields: Any) -> Struct:
    base = Struct(
        client_token="",
        accessor="",
        policies=None,
        token_policies=None,
        identity_policies=None,
        metadata=None,
        orphan=False,
        entity_id="",
        lease_duration=0,
        renewable=False,
        mfa_requirement=None,
    )
    base.update(fields)
    return base


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _prompt(text: str) -> str:
    """Read a secret from the terminal (Go's password.Read), prompting on stderr."""
    if not sys.stdin.isatty():
        sys.stderr.write(text + "\n")
        raise APIError(
            "An error occurred attempting to ask for a token. The raw error message is shown below, but "
            "usually this is because you attempted to pipe a value into the command or you are executing "
            'outside of a terminal (tty). If you want to pipe the value, pass "-" as the argument to read '
            "from stdin. The raw error was: file descriptor 0 is not a terminal"
        )
    try:
        return getpass.getpass(text, stream=sys.stderr)
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\n")
        raise APIError("user interrupted") from None

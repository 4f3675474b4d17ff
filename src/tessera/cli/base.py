"""What every command shares: the common flag groups, the HTTP client, the token lookup and help.

Commands subclass ``Command``, declare their own flags in ``add_flags`` and implement ``run``. The
HTTP and output flags are the Vault CLI's, with the same names, defaults and environment variables.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..clientutil import TLSSettings
from ..gocompat.durations import format_go_duration
from . import api
from .env import lookup_env, read_env
from .flags import Flag, FlagError, FlagGroup, FlagRow, FlagSet, parse_bool
from .output import UI, Secret, output_secret

PRODUCT = "Vault"
BINARY = "tessera"

FLAGS_HTTP = 1
FLAGS_FIELD = 2
FLAGS_FORMAT = 4
FLAGS_DETAILED = 8

GLOBAL_FLAGS = ("output-curl-string", "output-policy", "format", "detailed")


#: The HTTP Options every API command has (the Vault CLI's names, defaults and variables).
HTTP_FLAGS: tuple[FlagRow, ...] = (
    (
        "address",
        "string",
        "Address of the Vault server.",
        "https://127.0.0.1:8200",
        "VAULT_ADDR",
    ),
    ("agent-address", "string", "Address of the Agent.", "", "VAULT_AGENT_ADDR"),
    (
        "ca-cert",
        "string",
        "Path on the local disk to a single PEM-encoded CA certificate to verify the Vault server's SSL certificate. This takes precedence over -ca-path.",
        "",
        "VAULT_CACERT",
    ),
    (
        "ca-path",
        "string",
        "Path on the local disk to a directory of PEM-encoded CA certificates to verify the Vault server's SSL certificate.",
        "",
        "VAULT_CAPATH",
    ),
    (
        "client-cert",
        "string",
        "Path on the local disk to a single PEM-encoded CA certificate to use for TLS authentication to the Vault server. If this flag is specified, -client-key is also required.",
        "",
        "VAULT_CLIENT_CERT",
    ),
    (
        "client-key",
        "string",
        "Path on the local disk to a single PEM-encoded private key matching the client certificate from -client-cert.",
        "",
        "VAULT_CLIENT_KEY",
    ),
    (
        "namespace",
        "string",
        "The namespace to use for the command. Setting this is not necessary but allows using relative paths. -ns can be used as shortcut.",
        "(not set)",
        "VAULT_NAMESPACE",
    ),
    Flag(
        "ns",
        "string",
        "Alias for -namespace. This takes precedence over -namespace.",
        "(not set)",
        hidden=True,
    ),
    (
        "tls-server-name",
        "string",
        "Name to use as the SNI host when connecting to the Vault server via TLS.",
        "",
        "VAULT_TLS_SERVER_NAME",
    ),
    (
        "tls-skip-verify",
        "bool",
        "Disable verification of TLS certificates. Using this option is highly discouraged as it decreases the security of data transmissions to and from the Vault server.",
        False,
        "VAULT_SKIP_VERIFY",
    ),
    (
        "disable-redirects",
        "bool",
        "Disable the default client behavior, which honors a single redirect response from a request.",
        False,
        "VAULT_DISABLE_REDIRECTS",
    ),
    (
        "policy-override",
        "bool",
        "Override a Sentinel policy that has a soft-mandatory enforcement_level specified.",
    ),
    (
        "wrap-ttl",
        "duration",
        'Wraps the response in a cubbyhole token with the requested TTL. The response is available via the "tessera unwrap" command. The TTL is specified as a numeric string with suffix like "30s" or "5m".',
        0,
        "VAULT_WRAP_TTL",
    ),
    (
        "mfa",
        "slice",
        "Supply MFA credentials as part of X-Vault-MFA header.",
        None,
        "VAULT_MFA",
    ),
    (
        "output-curl-string",
        "bool",
        "Instead of executing the request, print an equivalent cURL command string and exit.",
    ),
    (
        "output-policy",
        "bool",
        "Instead of executing the request, print an example HCL policy that would be required to run this command and exit.",
    ),
    ("unlock-key", "string", "Key to unlock a namespace API lock."),
    (
        "header",
        "map",
        "Key-value pair provided as key=value to provide http header added to any request done by the CLI. Trying to add headers starting with 'X-Vault-' is forbidden and will make the command fail. This can be specified multiple times.",
    ),
    (
        "non-interactive",
        "bool",
        "When set true, prevents asking the user for input via the terminal.",
    ),
)

#: The Output Options, each for the commands whose ``flag_bits`` include its bit.
OUTPUT_FLAGS: tuple[tuple[int, FlagRow], ...] = (
    (
        FLAGS_FIELD,
        (
            "field",
            "string",
            "Print only the field with the given name. Specifying this option will take precedence over other formatting directives. The result will not have a trailing newline making it ideal for piping to other processes.",
        ),
    ),
    (
        FLAGS_FORMAT,
        (
            "format",
            "string",
            'Print the output in the given format. Valid formats are "table", "json", "yaml", or "pretty". "raw" is allowed for \'tessera read\' operations only.',
            "table",
            "VAULT_FORMAT",
        ),
    ),
    (
        FLAGS_DETAILED,
        ("detailed", "bool", "Enables additional metadata during some operations.", False, "VAULT_DETAILED"),
    ),
)


def env_display(name: str) -> str:
    """How help texts name an environment variable (Vault's spelling)."""
    return name if name.startswith("VAULT_") else "VAULT_" + name


class UsageError(Exception):
    """A local error: print the message and exit 1."""


class Command:
    """Base class of every leaf command."""

    name: ClassVar[str] = ""
    synopsis: ClassVar[str] = ""
    usage: ClassVar[str] = ""
    flag_bits: ClassVar[int] = FLAGS_HTTP
    #: a trailing ``-flag`` after positional arguments is warned about (as Vault does)
    warn_trailing_flags: ClassVar[bool] = True
    #: the command's own flags, when they are a fixed table ("Command Options")
    command_flags: ClassVar[tuple[FlagRow, ...]] = ()
    #: further titled groups of fixed flags, after those
    flag_groups: ClassVar[tuple[tuple[str, tuple[FlagRow, ...]], ...]] = ()

    def __init__(self, ui: UI, output_curl: bool = False) -> None:
        self.ui = ui
        self.output_curl = output_curl
        self.fs = FlagSet()
        self._client: api.Client | None = None
        self._build_flags()

    # -- flags -----------------------------------------------------------------------------------

    def _build_flags(self) -> None:
        fs = self.fs
        if self.flag_bits & FLAGS_HTTP:
            fs.add_rows(fs.group("HTTP Options"), HTTP_FLAGS)
        output = [row for bit, row in OUTPUT_FLAGS if self.flag_bits & bit]
        if output:
            fs.add_rows(fs.group("Output Options"), output)
        if self.command_flags:
            fs.add_rows(self.command_group(), self.command_flags)
        for title, rows in self.flag_groups:
            fs.add_rows(self.command_group(title), rows)
        self.add_flags(fs)

    def add_flags(self, fs: FlagSet) -> None:
        """Declare the command's own flags when they are not a fixed table (override)."""

    def command_group(self, title: str = "Command Options") -> FlagGroup:
        return self.fs.group(title)

    def flag(self, name: str) -> Any:
        return self.fs[name]

    def parse(self, argv: list[str], allow_raw: bool = False) -> list[str]:
        """Parse the flags; warn about flags given after arguments; raise UsageError on bad flags."""
        try:
            err: FlagError | None = None
            try:
                args = self.fs.parse(argv)
            except FlagError as exc:
                err = exc
                args = []
            if self.warn_trailing_flags:
                trailing = [
                    a
                    for a in args
                    if a.startswith("-") and a != "-" and a.lstrip("-").partition("=")[0] not in GLOBAL_FLAGS
                ]
                if trailing and self.ui.format == "table":
                    self.ui.warn(
                        "Command flags must be provided before positional arguments. The following "
                        f"arguments will not be parsed as flags: [{','.join(trailing)}]"
                    )
            if err is not None:
                raise err
        except FlagError as exc:
            raise UsageError(str(exc)) from None
        if self.ui.format == "raw" and not allow_raw:
            raise UsageError("This command does not support the -format=raw option.")
        return args

    # -- client ------------------------------------------------------------------------------------

    def client_without_token(self) -> api.Client:
        """The API client with address, TLS and namespace settings from flags and environment."""
        fs = self.fs
        address = read_env("VAULT_ADDR") or "https://127.0.0.1:8200"
        if "address" in fs.by_name and fs.was_set("address"):
            address = fs["address"]
        agent = fs["agent-address"] if "agent-address" in fs.by_name else read_env("VAULT_AGENT_ADDR")
        if agent:
            address = agent
        namespace = ""
        if "namespace" in fs.by_name:
            ns = fs["ns"] if fs["ns"] != "(not set)" else fs["namespace"]
            if ns != "(not set)":
                namespace = ns.strip("/") + "/" if ns.strip("/") else ""
        skip = read_env("VAULT_SKIP_VERIFY")
        skip_verify = False
        if skip:
            try:
                skip_verify = parse_bool(skip)
            except ValueError:
                raise UsageError("failed to read environment: could not parse VAULT_SKIP_VERIFY") from None
        if "tls-skip-verify" in fs.by_name and fs["tls-skip-verify"]:
            skip_verify = True
        wrap_ttl = fs["wrap-ttl"] if "wrap-ttl" in fs.by_name else 0
        headers = fs["header"] if "header" in fs.by_name else None
        if headers:
            forbidden = [k for k in headers if k.startswith("X-Vault-")]
            if forbidden:
                raise UsageError(
                    f"failed to setup Headers[{', '.join(forbidden)}]: Header starting by 'X-Vault-' are for internal usage only"
                )
        return api.Client(
            address,
            lookup_env("VAULT_TOKEN") or "",
            tls=TLSSettings(
                ca_cert=self._opt("ca-cert", "VAULT_CACERT"),
                ca_path=self._opt("ca-path", "VAULT_CAPATH"),
                client_cert=self._opt("client-cert", "VAULT_CLIENT_CERT"),
                client_key=self._opt("client-key", "VAULT_CLIENT_KEY"),
                tls_server_name=self._opt("tls-server-name", "VAULT_TLS_SERVER_NAME"),
                skip_verify=skip_verify,
            ),
            namespace=namespace,
            wrap_ttl=format_go_duration(wrap_ttl) if wrap_ttl else "",
            output_curl=self.output_curl,
            headers=headers,
            disable_redirects=bool(fs["disable-redirects"]) if "disable-redirects" in fs.by_name else False,
        )

    def _opt(self, flag: str, env: str) -> str:
        if flag in self.fs.by_name:
            return str(self.fs[flag] or "")
        return read_env(env)

    def client(self) -> api.Client:
        """The client with the token from the environment or else from the token helper."""
        if self._client is None:
            client = self.client_without_token()
            if not client.token:
                client.token = api.helper_get()
            self._client = client
        return self._client

    # -- helpers -----------------------------------------------------------------------------------

    def logical(self, method: str, path: str, **kwargs: Any) -> Secret | None:
        """Logical().Read/List/Write/Delete: a 404 carrying data or warnings still yields the secret.

        Reads and lists return it (or None) without error; writes and deletes raise ``LogicalError``
        carrying it, so the caller prints the error and then the secret, as Vault does.
        """
        try:
            resp = self.client().request(method, path, **kwargs)
        except api.ResponseError as exc:
            if exc.status != 404:
                raise
            secret = None
            if not exc.raw and isinstance(exc.body, dict):
                try:
                    secret = Secret.parse(exc.body)
                except ValueError:
                    secret = None
                if secret is not None and not (secret.warnings or secret.data):
                    secret = None
            if method == "GET":
                return secret
            raise LogicalError(exc, secret) from None
        return parse_secret(resp)

    def request_secret(self, method: str, path: str, **kwargs: Any) -> Secret | None:
        """A request whose answer is an envelope (api functions without 404 handling)."""
        return parse_secret(self.client().request(method, path, **kwargs))

    def run(self, args: list[str]) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def main(self, argv: list[str]) -> int:
        """Run the command; local usage errors print their message and exit 1."""
        try:
            return self.run(argv)
        except UsageError as exc:
            self.ui.error(str(exc))
            return 1
        except api.APIError as exc:
            self.ui.error(str(exc))
            return 2

    def fail(self, prefix: str, exc: Exception, code: int = 2) -> int:
        """Print ``<prefix>: <error>`` (and any secret a failed write carried) and return ``code``."""
        self.ui.error(f"{prefix}: {exc}")
        secret = getattr(exc, "secret", None)
        if secret is not None:
            output_secret(self.ui, secret)
        return code

    def parse_args(self, argv: list[str], low: int, high: int | None = None, what: str = "") -> list[str]:
        """Parse the flags, then check the number of arguments left (see :meth:`nargs`)."""
        args = self.parse(argv)
        self.nargs(args, low, high, what)
        return args

    def nargs(self, args: list[str], low: int, high: int | None = None, what: str = "") -> None:
        """The CLI's argument-count messages."""
        if high is None:
            high = low
        expected = what or (str(low) if low == high else f"{low}-{high}")
        if len(args) < low:
            raise UsageError(f"Not enough arguments (expected {expected}, got {len(args)})")
        if len(args) > high:
            raise UsageError(f"Too many arguments (expected {expected}, got {len(args)})")

    def help(self) -> str:
        """Usage text followed by the flag sections."""
        text = self.usage.strip("\n")
        flags = self.fs.help(env_display)
        return text + ("\n\n" + flags if flags else "")


class LogicalError(api.ResponseError):
    """A failed write or delete; ``secret`` is the data the 404 answer still carried, if any."""

    def __init__(self, exc: api.ResponseError, secret: Secret | None) -> None:
        self.secret = secret
        super().__init__(exc.method, exc.url, exc.status, exc.errors, exc.raw, exc.namespace, exc.body)


def parse_secret(resp: api.Response) -> Secret | None:
    """api.ParseSecret of a response body."""
    try:
        return Secret.parse(resp.json())
    except ValueError as exc:
        raise api.APIError(str(exc)) from None

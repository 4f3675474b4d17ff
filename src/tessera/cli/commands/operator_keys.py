"""``operator generate-root`` and ``operator rekey``: the key-holder ceremonies.

Both talk to the unauthenticated endpoints (``sys/generate-root/*``, ``sys/rekey/*``), as Vault's CLI
does, so a lost root token can be regenerated from unseal keys alone; ``-recovery-token`` drives
``sys/generate-recovery-token/*`` of a server in recovery mode. Texts and layouts are OpenBao's
(``bao operator generate-root`` / ``bao operator rekey``).
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from ...core import pgpkeys
from ...core.rootgen import OTP_LENGTH, GenerateRootError, decode_token, generate_otp
from ..api import APIError
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import wrap
from ..gojson import Struct
from ..output import columnize, output_data, print_raw

#: -key-threshold of operator init and operator rekey
KEY_THRESHOLD_USAGE = "Number of key shares required to reconstruct the root key. This must be less than or equal to -key-shares."


def read_stdin(cmd: Command) -> str:
    if cmd.flag("non-interactive"):
        return ""
    try:
        return sys.stdin.read()
    except OSError as exc:
        raise UsageError(f"Failed to read from stdin: {exc}") from None


def prompt_hidden(label: str) -> str:
    """password.Read: only from a terminal."""
    if not sys.stdin.isatty():
        sys.stdout.write(label + "\n")
        raise OSError("file descriptor 0 is not a terminal")
    return getpass.getpass(label)


def pgp_key_file(value: str, name: str = "pgp-key") -> str:
    """PubKeyFileFlag: one file holding a binary, base64 or armored public key (base64 out)."""
    if not value:
        return ""
    try:
        keys = pgpkeys.parse_key_files(value)
    except pgpkeys.PGPKeyError as exc:
        raise UsageError(f'invalid value "{value}" for flag -{name}: {exc}') from None
    if len(keys) > 1:
        raise UsageError(f'invalid value "{value}" for flag -{name}: can only specify one pgp key')
    return keys[0]


def pgp_key_files(values: list[str] | None, name: str) -> list[str]:
    """PubKeyFilesFlag: given once, comma-separated files, each read as ReadPGPFile does."""
    values = list(values or [])
    if not values:
        return []
    if len(values) > 1:
        raise UsageError(f'invalid value "{values[1]}" for flag -{name}: can only be specified once')
    try:
        return pgpkeys.parse_key_files(values[0])
    except pgpkeys.PGPKeyError as exc:
        raise UsageError(f'invalid value "{values[0]}" for flag -{name}: {exc}') from None


# -- generate-root ------------------------------------------------------------------------------
def _root_status(body: Any) -> Struct:
    """api.GenerateRootStatusResponse."""
    d = body if isinstance(body, dict) else {}
    return Struct(
        nonce=str(d.get("nonce") or ""),
        started=bool(d.get("started")),
        progress=int(d.get("progress") or 0),
        required=int(d.get("required") or 0),
        complete=bool(d.get("complete")),
        encoded_token=str(d.get("encoded_token") or ""),
        encoded_root_token=str(d.get("encoded_root_token") or ""),
        pgp_fingerprint=str(d.get("pgp_fingerprint") or ""),
        otp=str(d.get("otp") or ""),
        otp_length=int(d.get("otp_length") or 0),
    )


class OperatorGenerateRootCommand(Command):
    name = "operator generate-root"
    synopsis = "Generates a new root token"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera operator generate-root [options] [KEY]

  Generates a new root token by combining a quorum of share holders. One of
  the following must be provided to start the root token generation:

    - A base64-encoded one-time-password (OTP) provided via the "-otp" flag.
      Use the "-generate-otp" flag to generate a usable value. The resulting
      token is XORed with this value when it is returned. Use the "-decode"
      flag to output the final value.

    - A file containing a PGP key or a keybase username in the "-pgp-key"
      flag. The resulting token is encrypted with this public key.

  An unseal key may be provided directly on the command line as an argument to
  the command. If key is specified as "-", the command will read from stdin. If
  a TTY is available, the command will prompt for text.

  Generate an OTP code for the final token:

      $ tessera operator generate-root -generate-otp

  Start a root token generation:

      $ tessera operator generate-root -init -otp="..."
      $ tessera operator generate-root -init -pgp-key="..."

  Enter an unseal key to progress root token generation:

      $ tessera operator generate-root -otp="..."
"""

    command_flags = (
        (
            "init",
            "bool",
            "Start a root token generation. This can only be done if there is not currently one in progress.",
        ),
        (
            "cancel",
            "bool",
            "Reset the root token generation progress. This will discard any submitted unseal keys or configuration.",
        ),
        (
            "status",
            "bool",
            "Print the status of the current attempt without providing an unseal key.",
        ),
        (
            "decode",
            "string",
            'The value to decode; setting this triggers a decode operation.  If the value is "-" then read the encoded token from stdin.',
        ),
        (
            "generate-otp",
            "bool",
            'Generate and print a high-entropy one-time-password (OTP) suitable for use with the "-init" flag.',
        ),
        (
            "dr-token",
            "bool",
            "Set this flag to do generate root operations on DR Operational tokens.",
        ),
        (
            "recovery-token",
            "bool",
            "Set this flag to do generate root operations on Recovery Operational tokens.",
        ),
        ("otp", "string", 'OTP code to use with "-decode" or "-init".'),
        (
            "pgp-key",
            "string",
            'Path to a file on disk containing a binary or base64-encoded public PGP key. This can also be specified as a Keybase username using the format "keybase:<username>". When supplied, the generated root token will be encrypted and base64-encoded with the given public key.',
        ),
        (
            "nonce",
            "string",
            "Nonce value provided at initialization. The same nonce value must be provided with each unseal key.",
        ),
    )

    def _base(self) -> str:
        if self.flag("dr-token"):
            return "sys/replication/dr/secondary/generate-operation-token"
        return "sys/generate-recovery-token" if self.flag("recovery-token") else "sys/generate-root"

    def _status(self) -> Struct:
        return _root_status(self.client().request("GET", f"{self._base()}/attempt").json())

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if len(args) > 1:
            raise UsageError(f"Too many arguments (expected 0-1, got {len(args)})")
        self.client()
        if self.flag("generate-otp"):
            return self._generate_otp()
        if self.flag("decode"):
            return self._decode(self.flag("decode"), self.flag("otp"))
        if self.flag("cancel"):
            return self._cancel()
        if self.flag("init"):
            return self._init(self.flag("otp"), pgp_key_file(self.flag("pgp-key")))
        if self.flag("status"):
            return self._show_status()
        return self._provide(args[0].strip() if args else "")

    def _generate_otp(self) -> int:
        try:
            status = self._status()
        except APIError as exc:
            return self.fail("Error getting root generation status", exc)
        otp = generate_otp(status["otp_length"] or OTP_LENGTH)
        if self.ui.format in ("", "table"):
            return print_raw(self.ui, otp)
        return output_data(self.ui, {"otp": otp, "otp_length": len(otp)})

    def _decode(self, encoded: str, otp: str) -> int:
        if not otp:
            raise UsageError("Missing otp: use -otp to supply it")
        if encoded == "-":
            encoded = read_stdin(self)
            if not encoded:
                raise UsageError(
                    'Missing encoded value. When using -decode="-" value must be passed via stdin.'
                )
        try:
            status = self._status()
        except APIError as exc:
            return self.fail("Error getting root generation status", exc)
        try:
            token = decode_token(encoded, otp, status["otp_length"])
        except GenerateRootError as exc:
            raise UsageError(f"Error decoding root token: {exc}") from None
        if self.ui.format in ("", "table"):
            return print_raw(self.ui, token)
        return output_data(self.ui, {"token": token})

    def _cancel(self) -> int:
        try:
            self.client().request("DELETE", f"{self._base()}/attempt")
        except APIError as exc:
            return self.fail("Error canceling root token generation", exc)
        self.ui.output("Success! Root token generation canceled (if it was started)")
        return 0

    def _init(self, otp: str, pgp_key: str) -> int:
        if otp and pgp_key:
            raise UsageError("Error initializing: cannot specify both -otp and -pgp-key")
        try:
            body = (
                self.client()
                .request("PUT", f"{self._base()}/attempt", body={"otp": otp, "pgp_key": pgp_key})
                .json()
            )
        except APIError as exc:
            return self.fail("Error initializing root generation", exc)
        return self._print(_root_status(body))

    def _show_status(self) -> int:
        try:
            status = self._status()
        except APIError as exc:
            return self.fail("Error getting root generation status", exc)
        return self._print(status)

    def _provide(self, key: str) -> int:
        try:
            status = self._status()
        except APIError as exc:
            return self.fail("Error getting root generation status", exc)
        if not status["started"]:
            self.ui.error(
                wrap(
                    "No root generation is in progress. Start a root generation by running "
                    '"tessera operator generate-root -init".'
                )
            )
            self.ui.warn(
                wrap(
                    "If starting root generation using the OTP method and generating your own OTP, the "
                    f"length of the OTP string needs to be {status['otp_length']} characters in length."
                )
            )
            return 1
        key, nonce = read_key_share(self, key, status["nonce"])
        try:
            body = (
                self.client()
                .request("PUT", f"{self._base()}/update", body={"key": key, "nonce": nonce})
                .json()
            )
        except APIError as exc:
            return self.fail("Error posting unseal key", exc)
        return self._print(_root_status(body))

    def _print(self, status: Struct) -> int:
        """printStatus: a two-column table without a header."""
        if self.ui.format != "table":
            return output_data(self.ui, status)
        out = [
            f"Nonce | {status['nonce']}",
            f"Started | {str(status['started']).lower()}",
            f"Progress | {status['progress']}/{status['required']}",
            f"Complete | {str(status['complete']).lower()}",
        ]
        if status["pgp_fingerprint"]:
            out.append(f"PGP Fingerprint | {status['pgp_fingerprint']}")
        if status["encoded_token"]:
            out.append(f"Encoded Token | {status['encoded_token']}")
        elif status["encoded_root_token"]:
            out.append(f"Encoded Root Token | {status['encoded_root_token']}")
        if status["otp"]:
            self.ui.warn(
                wrap(
                    "A One-Time-Password has been generated for you and is shown in the OTP field. You will "
                    "need this value to decode the resulting root token, so keep it safe."
                )
            )
            out.append(f"OTP | {status['otp']}")
        if status["otp_length"]:
            out.append(f"OTP Length | {status['otp_length']}")
        self.ui.output(columnize(out))
        return 0


def read_key_share(
    cmd: Command, key: str, nonce: str, kind: str = "Unseal", label: str = "Operation"
) -> tuple[str, str]:
    """The key share to submit (``-`` reads stdin, none prompts) and the nonce to submit it with.

    The nonce is the -nonce flag's, or, when the key is prompted for, the operation's own ``nonce``.
    """
    given = cmd.flag("nonce")
    if key == "-":
        key = read_stdin(cmd)
    elif not key:
        if cmd.flag("non-interactive"):
            raise UsageError(
                wrap(
                    "Refusing to read from stdin with -non-interactive specified; specify nonce via the -nonce flag"
                )
            )
        given = nonce
        sys.stdout.write(f"{label} nonce: {nonce}\n")
        try:
            key = prompt_hidden(f"{kind} Key (will be hidden): ")
        except (OSError, EOFError) as exc:
            raise UsageError(
                wrap(
                    f"An error occurred attempting to ask for the {kind.lower()} key. The raw error "
                    "message is shown below, but usually this is because you attempted to pipe a value into "
                    "the command or you are executing outside of a terminal (tty). If you want to pipe the "
                    f'value, pass "-" as the argument to read from stdin. The raw error was: {exc}'
                )
            ) from None
    if not given:
        raise UsageError("Missing nonce value: specify it via the -nonce flag")
    return key.strip(), given

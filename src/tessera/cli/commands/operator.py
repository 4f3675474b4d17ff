"""``operator init|unseal|seal|rotate|key-status|members``."""

from __future__ import annotations

import getpass
import re
import sys
from datetime import UTC, datetime
from typing import Any

from ..api import APIError
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, wrap
from ..gojson import Struct
from ..output import columnize, output_data, table_output
from .misc import output_seal_status
from .operator_keys import KEY_THRESHOLD_USAGE, pgp_key_file, pgp_key_files


class OperatorInitCommand(Command):
    name = "operator init"
    synopsis = "Initializes a server"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera operator init [options]

  Initializes a Vault server. Initialization is the process by which Vault's
  storage backend is prepared to receive data. Since Vault servers share the
  same storage backend in HA mode, you only need to initialize one Vault to
  initialize the storage backend.

  During initialization, Vault generates an in-memory root key and applies
  Shamir's secret sharing algorithm to disassemble that root key into a
  configuration number of key shares such that a configurable subset of those
  key shares must come together to regenerate the root key. These keys are
  often called "unseal keys" in Vault's documentation.

  This command cannot be run against an already-initialized Vault cluster.

  Start initialization with the default options:

      $ tessera operator init

  Initialize, but encrypt the unseal keys with pgp keys:

      $ tessera operator init \\
          -key-shares=3 \\
          -key-threshold=2 \\
          -pgp-keys="keybase:hashicorp,keybase:jefferai,keybase:sethvargo"

  For a complete list of examples, please see the documentation.
"""

    flag_groups = (
        (
            "Common Options",
            (
                (
                    "status",
                    "bool",
                    "Print the current initialization status. An exit code of 0 means the Vault is already initialized. An exit code of 1 means an error occurred. An exit code of 2 means the Vault is not initialized.",
                ),
                Flag(
                    "key-shares",
                    "int",
                    'Number of key shares to split the generated root key into. This is the number of "unseal keys" to generate.',
                    0,
                    aliases=("n",),
                ),
                Flag("key-threshold", "int", KEY_THRESHOLD_USAGE, 0, aliases=("t",)),
                (
                    "pgp-keys",
                    "slice",
                    "Comma-separated list of paths to files on disk containing public PGP keys.",
                ),
                (
                    "root-token-pgp-key",
                    "string",
                    "Path to a file on disk containing a binary or base64-encoded public PGP key.",
                ),
            ),
        ),
        (
            "Auto Unseal Options",
            (
                (
                    "recovery-shares",
                    "int",
                    "Number of key shares to split the recovery key into. This is only used in Auto Unseal mode.",
                    5,
                ),
                (
                    "recovery-threshold",
                    "int",
                    "Number of key shares required to reconstruct the recovery key. This is only used in Auto Unseal mode.",
                    3,
                ),
                (
                    "recovery-pgp-keys",
                    "slice",
                    "Behaves like -pgp-keys, but for the recovery key shares. This is only used in Auto Unseal mode.",
                ),
            ),
        ),
    )

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        client = self.client()
        saved, client.output_curl = client.output_curl, False
        try:
            seal = client.request("GET", "sys/seal-status").json() or {}
        except APIError as exc:
            self.ui.error(str(exc))
            return 2
        finally:
            client.output_curl = saved
        shares, threshold = self.flag("key-shares"), self.flag("key-threshold")
        rshares, rthreshold = self.flag("recovery-shares"), self.flag("recovery-threshold")
        if not seal.get("recovery_seal"):
            shares, threshold = shares or 5, threshold or 3
            rshares = rthreshold = 0
        if self.flag("status"):
            return self._status()
        body = Struct(
            secret_shares=shares,
            secret_threshold=threshold,
            pgp_keys=pgp_key_files(self.flag("pgp-keys"), "pgp-keys") or None,
            recovery_shares=rshares,
            recovery_threshold=rthreshold,
            recovery_pgp_keys=pgp_key_files(self.flag("recovery-pgp-keys"), "recovery-pgp-keys") or None,
            root_token_pgp_key=pgp_key_file(self.flag("root-token-pgp-key"), "root-token-pgp-key"),
        )
        try:
            resp = client.request("PUT", "sys/init", body=body).json() or {}
        except APIError as exc:
            return self.fail("Error initializing", exc)
        keys, keys_b64 = resp.get("keys") or [], resp.get("keys_base64") or []
        rkeys, rkeys_b64 = resp.get("recovery_keys") or [], resp.get("recovery_keys_base64") or []
        if self.ui.format != "table":
            return output_data(
                self.ui,
                Struct(
                    unseal_keys_b64=resp.get("keys_base64"),
                    unseal_keys_hex=resp.get("keys"),
                    unseal_shares=shares if keys else 1,
                    unseal_threshold=threshold if keys else 1,
                    recovery_keys_b64=resp.get("recovery_keys_base64"),
                    recovery_keys_hex=resp.get("recovery_keys"),
                    recovery_keys_shares=rshares,
                    recovery_keys_threshold=rthreshold,
                    root_token=resp.get("root_token", ""),
                ),
            )
        out = self.ui.output
        for i, key in enumerate(keys):
            out(f"Unseal Key {i + 1}: {keys_b64[i] if len(keys_b64) == len(keys) else key}")
        for i, key in enumerate(rkeys):
            out(f"Recovery Key {i + 1}: {rkeys_b64[i] if len(rkeys_b64) == len(rkeys) else key}")
        out("")
        out(f"Initial Root Token: {resp.get('root_token', '')}")
        if keys:
            out("")
            out(
                wrap(
                    f"Vault initialized with {shares} key shares and a key threshold of {threshold}. Please "
                    "securely distribute the key shares printed above. When the Vault is re-sealed, restarted, "
                    f"or stopped, you must supply at least {threshold} of these keys to unseal it before it can "
                    "start servicing requests."
                )
            )
            out("")
            out(
                wrap(
                    f"Vault does not store the generated root key. Without at least {threshold} keys to "
                    "reconstruct the root key, Vault will remain permanently sealed!"
                )
            )
            out("")
            out(
                wrap(
                    "It is possible to generate new unseal keys, provided you have a quorum of existing unseal "
                    'keys shares. See "tessera operator rotate-keys" for more information.'
                )
            )
        else:
            out("")
            out("Success! Vault is initialized")
        if rkeys:
            out("")
            out(
                wrap(
                    f"Recovery key initialized with {rshares} key shares and a key threshold of {rthreshold}. "
                    "Please securely distribute the key shares printed above."
                )
            )
        return 0

    def _status(self) -> int:
        try:
            inited = bool((self.client().request("GET", "sys/init").json() or {}).get("initialized"))
        except APIError as exc:
            self.ui.error(f"Error checking init status: {exc}")
            return 1
        if self.ui.format == "table":
            self.ui.output("Vault is initialized" if inited else "Vault is not initialized")
        else:
            output_data(self.ui, Struct(initialized=inited))
        return 0 if inited else 2


class OperatorUnsealCommand(Command):
    name = "operator unseal"
    synopsis = "Unseals the Vault server"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera operator unseal [options] [KEY]

  Provide a portion of the root key to unseal a Vault server. Vault starts
  in a sealed state. It cannot perform operations until it is unsealed. This
  command accepts a portion of the root key (an "unseal key").

  The unseal key can be supplied as an argument to the command, but this is
  not recommended as the unseal key will be available in your history:

      $ tessera operator unseal IXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyo=

  Instead, run the command with no arguments and it will prompt for the key:

      $ tessera operator unseal
      Key (will be hidden): IXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyo=
"""

    command_flags = (
        ("reset", "bool", "Discard any previously entered keys to the unseal process."),
        (
            "migrate",
            "bool",
            "Indicate that this share is provided with the intent that it is part of a seal migration process.",
        ),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 0, 1, "1")
        key = args[0].strip() if args else ""
        client = self.client()
        if self.flag("reset"):
            try:
                status = client.request("PUT", "sys/unseal", body={"reset": True}).json() or {}
            except APIError as exc:
                return self.fail("Error resetting unseal process", exc)
            return output_seal_status(self, status)
        if not key:
            if self.flag("non-interactive"):
                raise UsageError(
                    wrap(
                        "Refusing to read from stdin with -non-interactive specified; specify unseal key as an argument to this command"
                    )
                )
            try:
                if not sys.stdin.isatty():
                    raise OSError("file descriptor 0 is not a terminal")
                key = getpass.getpass("Unseal Key (will be hidden): ").strip()
            except (OSError, EOFError) as exc:
                sys.stdout.write("Unseal Key (will be hidden): \n")
                raise UsageError(
                    wrap(
                        "An error occurred attempting to ask for an unseal key. The raw error message is shown "
                        "below, but usually this is because you attempted to pipe a value into the unseal command "
                        "or you are executing outside of a terminal (tty). You should run the unseal command from "
                        "a terminal for maximum security. If this is not an option, the unseal key can be "
                        f"provided as the first argument to the unseal command. The raw error was:\n\n{exc}"
                    )
                ) from None
        try:
            status = (
                client.request(
                    "PUT", "sys/unseal", body=Struct(key=key, reset=False, migrate=self.flag("migrate"))
                ).json()
                or {}
            )
        except APIError as exc:
            return self.fail("Error unsealing", exc)
        return output_seal_status(self, status)


class OperatorSealCommand(Command):
    name = "operator seal"
    synopsis = "Seals the Vault server"
    usage = """
Usage: tessera operator seal [options]

  Seals the Vault server. Sealing tells the Vault server to stop responding
  to any operations until it is unsealed. When sealed, the Vault server
  discards its in-memory root key to unlock the data, so it is physically
  blocked from responding to operations unsealed.

  Seal the Vault server:

      $ tessera operator seal
"""

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        try:
            self.client().request("PUT", "sys/seal")
        except APIError as exc:
            return self.fail("Error sealing", exc)
        self.ui.output("Success! Vault is sealed.")
        return 0


def _key_status(cmd: Command) -> dict[str, Any]:
    body = cmd.client().request("GET", "sys/key-status").json() or {}
    data = body.get("data") if isinstance(body.get("data"), dict) else body
    if "term" not in data:
        raise APIError("term not found in response")
    return data


def _key_status_struct(data: dict[str, Any]) -> Struct:
    return Struct(
        term=int(data.get("term", 0)),
        install_time=str(data.get("install_time", "")),
        encryptions=int(data.get("encryptions", 0) or 0),
    )


def _key_status_table(data: dict[str, Any]) -> str:
    when = str(data.get("install_time", ""))
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$", when)
    if m:
        zone = "+00:00" if m.group(2) == "Z" else m.group(2)
        parsed = datetime.fromisoformat(m.group(1) + zone)
        when = parsed.astimezone(UTC).strftime("%d %b %y %H:%M UTC")
    return columnize(
        [
            f"Key Term | {data.get('term', 0)}",
            f"Install Time | {when}",
            f"Encryption Count | {data.get('encryptions', 0) or 0}",
        ]
    )


class OperatorRotateCommand(Command):
    name = "operator rotate"
    synopsis = "Rotates the underlying encryption key"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera operator rotate [options]

  Rotates the underlying encryption key which is used to secure data written
  to the storage backend. This installs a new key in the key ring. This new
  key is used to encrypted new data, while older keys in the ring are used to
  decrypt older data.

  This is an online operation and does not cause downtime. This command is run
  per-cluster (not per-server), since Vault servers in HA mode share the same
  storage backend.

  Rotate Vault's encryption key:

      $ tessera operator rotate

  For a full list of examples, please see the documentation.
"""

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        try:
            self.client().request("POST", "sys/rotate/keyring")
        except APIError as exc:
            return self.fail("Error rotating key", exc)
        try:
            data = _key_status(self)
        except APIError as exc:
            return self.fail("Error reading key status", exc)
        if self.ui.format == "table":
            self.ui.output("Success! Rotated key")
            self.ui.output("")
            self.ui.output(_key_status_table(data))
            return 0
        return output_data(self.ui, _key_status_struct(data))


class OperatorKeyStatusCommand(Command):
    name = "operator key-status"
    synopsis = "Provides information about the active encryption key"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera operator key-status [options]

  Provides information about the active encryption key. Specifically,
  the current key term and the key installation time.

  Get the key status:

      $ tessera operator key-status

  For a full list of examples, please see the documentation.
"""

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        try:
            data = _key_status(self)
        except APIError as exc:
            return self.fail("Error reading key status", exc)
        if self.ui.format == "table":
            self.ui.output(_key_status_table(data))
            return 0
        return output_data(self.ui, _key_status_struct(data))


class OperatorMembersCommand(Command):
    name = "operator members"
    synopsis = "Returns the list of nodes in the cluster"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera operator members

  Provides the details of all the nodes in the cluster.

      $ tessera operator members
"""

    def run(self, args: list[str]) -> int:
        self.parse(args)
        try:
            body = self.client().request("GET", "sys/ha-status").json() or {}
        except APIError as exc:
            self.ui.error(str(exc))
            return 2
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        nodes = []
        for n in data.get("nodes") or []:
            node = Struct(
                hostname=n.get("hostname", ""),
                api_address=n.get("api_address", ""),
                cluster_address=n.get("cluster_address", ""),
                active_node=bool(n.get("active_node")),
                last_echo=n.get("last_echo"),
                version=n.get("version", ""),
            )
            if n.get("upgrade_version"):
                node["upgrade_version"] = n["upgrade_version"]
            nodes.append(node)
        if self.ui.format != "table":
            return output_data(self.ui, Struct(Nodes=nodes or None))
        rows = [
            "Host Name | API Address | Cluster Address | Active Node | Version | Upgrade Version | Last Echo"
        ]
        for n in nodes:
            echo = str(n["last_echo"] or "")
            if echo:
                echo = echo.split(".")[0].rstrip("Z") + ("Z" if echo.endswith("Z") else "")
            active = "true" if n["active_node"] else "false"
            rows.append(
                f"{n['hostname']} | {n['api_address']} | {n['cluster_address']} | {active} | {n['version']} | {n.get('upgrade_version', '')} | {echo}"
            )
        self.ui.output(table_output(rows))
        return 0

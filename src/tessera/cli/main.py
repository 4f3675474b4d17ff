"""``tessera``: the command line, dispatching to Vault-compatible commands (and to the server).

Mirrors the Vault CLI's runner: global ``-format``/``-detailed``/``-output-curl-string`` are found
anywhere in the arguments, the longest matching command name wins (``kv metadata get``), ``-h``
prints the command's help, an unknown command prints the command list with exit code 127, and a
command group without a subcommand prints its help with exit code 1. Nothing ever ends in a Python
traceback: unexpected failures are reported as ``Error …`` with exit code 1 (local) or 2 (server).
"""

from __future__ import annotations

import importlib
import io
import sys
from typing import Any

from . import api
from .env import read_env
from .output import FORMATS, UI
from .processes import process_command

#: command name -> "module:Class" (imported only when used, to keep startup fast)
COMMANDS: dict[str, str] = {
    "status": "misc:StatusCommand",
    "version": "misc:VersionCommand",
    "print token": "misc:PrintTokenCommand",
    "path-help": "misc:PathHelpCommand",
    "login": "login:LoginCommand",
    "token create": "token:TokenCreateCommand",
    "token lookup": "token:TokenLookupCommand",
    "token renew": "token:TokenRenewCommand",
    "token revoke": "token:TokenRevokeCommand",
    "token capabilities": "token:TokenCapabilitiesCommand",
    "token issuers": "token:TokenIssuersCommand",
    "token cut-issuer": "token:TokenCutIssuerCommand",
    "read": "generic:ReadCommand",
    "write": "generic:WriteCommand",
    "list": "generic:ListCommand",
    "delete": "generic:DeleteCommand",
    "patch": "generic:PatchCommand",
    "policy write": "policy:PolicyWriteCommand",
    "policy read": "policy:PolicyReadCommand",
    "policy list": "policy:PolicyListCommand",
    "policy delete": "policy:PolicyDeleteCommand",
    "policy fmt": "policy:PolicyFmtCommand",
    "secrets enable": "mount_config:SecretsEnableCommand",
    "secrets disable": "mounts:SecretsDisableCommand",
    "secrets list": "mounts:SecretsListCommand",
    "secrets tune": "mount_config:SecretsTuneCommand",
    "secrets move": "mounts:SecretsMoveCommand",
    "auth enable": "mount_config:AuthEnableCommand",
    "auth disable": "mounts:AuthDisableCommand",
    "auth list": "mounts:AuthListCommand",
    "auth tune": "mount_config:AuthTuneCommand",
    "kv put": "kv:KVPutCommand",
    "kv get": "kv:KVGetCommand",
    "kv delete": "kv:KVDeleteCommand",
    "kv undelete": "kv:KVUndeleteCommand",
    "kv destroy": "kv:KVDestroyCommand",
    "kv list": "kv:KVListCommand",
    "kv patch": "kv_more:KVPatchCommand",
    "kv rollback": "kv_more:KVRollbackCommand",
    "kv metadata get": "kv_more:KVMetadataGetCommand",
    "kv metadata put": "kv_more:KVMetadataPutCommand",
    "kv metadata patch": "kv_more:KVMetadataPatchCommand",
    "kv metadata delete": "kv_more:KVMetadataDeleteCommand",
    "operator init": "operator:OperatorInitCommand",
    "operator unseal": "operator:OperatorUnsealCommand",
    "operator seal": "operator:OperatorSealCommand",
    "operator rotate": "operator:OperatorRotateCommand",
    "operator key-status": "operator:OperatorKeyStatusCommand",
    "operator members": "operator:OperatorMembersCommand",
    "operator diagnose": "diagnose:OperatorDiagnoseCommand",
    "operator generate-root": "operator_keys:OperatorGenerateRootCommand",
    "operator rekey": "operator_rekey:OperatorRekeyCommand",
    "lease renew": "lease:LeaseRenewCommand",
    "lease revoke": "lease:LeaseRevokeCommand",
    "lease lookup": "lease:LeaseLookupCommand",
    "audit enable": "audit:AuditEnableCommand",
    "audit disable": "audit:AuditDisableCommand",
    "audit list": "audit:AuditListCommand",
}

#: command groups: name -> (synopsis, help text)
GROUPS: dict[str, tuple[str, str]] = {
    "token": (
        "Interact with tokens",
        "This command groups subcommands for interacting with tokens. Users can\n  create, lookup, renew, and revoke tokens.",
    ),
    "policy": (
        "Interact with policies",
        "This command groups subcommands for interacting with policies. Users can\n  write, read, and list policies in Vault.",
    ),
    "secrets": (
        "Interact with secrets engines",
        "This command groups subcommands for interacting with Vault's secrets\n  engines. Each secret engine behaves differently.",
    ),
    "auth": (
        "Interact with auth methods",
        "This command groups subcommands for interacting with Vault's auth\n  methods. Users can list, enable, disable, and get help for different\n  auth methods.",
    ),
    "kv": (
        "Interact with Vault's Key-Value storage",
        "This command has subcommands for interacting with Vault's key-value\n  store.",
    ),
    "kv metadata": (
        "Interact with Vault's Key-Value storage",
        "This command has subcommands for interacting with the metadata endpoint in\n  Vault's key-value store.",
    ),
    "operator": (
        "Perform operator-specific tasks",
        "This command groups subcommands for operators interacting with Vault.\n  Most users will not need to interact with these commands.",
    ),
    "lease": (
        "Interact with leases",
        "This command groups subcommands for interacting with leases. Users can\n  revoke or renew leases.",
    ),
    "audit": (
        "Interact with audit devices",
        "This command groups subcommands for interacting with Vault's audit devices.\n  Users can list, enable, and disable audit devices.",
    ),
    "print": (
        "Prints runtime configurations",
        "This command groups subcommands for interacting with Vault's runtime\n  values.",
    ),
}

COMMON = ["read", "write", "delete", "list", "login", "server", "status"]
SYNOPSES = {
    "read": "Read data and retrieves secrets",
    "write": "Write data, configuration, and secrets",
    "delete": "Delete secrets and configuration",
    "list": "List data or secrets",
    "login": "Authenticate locally",
    "server": "Start a Tessera server",
    "status": "Print seal and HA status",
    "patch": "Patch data, configuration, and secrets",
    "path-help": "Retrieve API help for paths",
    "version": "Prints the Tessera CLI version",
}


def load(name: str) -> Any:
    """The command class registered under ``name``."""
    module, cls = COMMANDS[name].split(":")
    return getattr(importlib.import_module(f"tessera.cli.commands.{module}"), cls)


def _setup_env(args: list[str]) -> tuple[list[str], str, bool, bool]:
    """setupEnv: the output format, -detailed and -output-curl-string from anywhere in the args."""
    fmt = ""
    detailed = False
    have_detailed = False
    curl = False
    next_is_format = False
    for arg in args:
        if next_is_format:
            next_is_format = False
            fmt = arg
            continue
        if arg == "--":
            break
        if len(args) == 1 and arg in ("-v", "-version", "--version"):
            args = ["version"]
            break
        if arg in ("-output-curl-string", "--output-curl-string"):
            curl = True
            continue
        if arg.startswith(("-format=", "--format=")):
            fmt = arg.partition("=")[2]
        if arg in ("-format", "--format"):
            next_is_format = True
        if arg.startswith(("-detailed=", "--detailed=")):
            detailed = arg.partition("=")[2].lower() in ("1", "t", "true")
            have_detailed = True
        if arg in ("-detailed", "--detailed"):
            detailed = have_detailed = True
    if not fmt:
        fmt = read_env("VAULT_FORMAT")
    fmt = fmt.lower() or "table"
    env_detailed = read_env("VAULT_DETAILED")
    if not have_detailed and env_detailed:
        detailed = env_detailed.lower() in ("1", "t", "true")
    return args, fmt, detailed, curl


def _names() -> list[str]:
    return sorted({*COMMANDS, *GROUPS, "server"})


def _resolve(args: list[str]) -> tuple[str, list[str], bool, list[str]]:
    """mitchellh/cli's argument processing: (command, its args, -h seen, flags before it)."""
    is_help = False
    top_flags: list[str] = []
    sub = ""
    sub_args: list[str] = []
    names = set(_names())
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        if arg in ("-h", "-help", "--help"):
            is_help = True
            i += 1
            continue
        if not sub and arg.startswith("-"):
            top_flags.append(arg)
        if not sub and arg and not arg.startswith("-"):
            j = i
            while j < len(args) and args[j] and " " not in args[j] and not args[j].startswith("-"):
                j += 1
            words = args[i:j]
            sub = arg
            for k in range(len(words), 0, -1):
                cand = " ".join(words[:k])
                if cand in names:
                    sub = cand
                    break
            consumed = sub.count(" ")
            sub_args = args[i + consumed + 1 :]
            break
        i += 1
    if is_help is False:
        is_help = any(a in ("-h", "-help", "--help") for a in sub_args[: _dashdash(sub_args)])
    return sub, sub_args, is_help, top_flags


def _dashdash(args: list[str]) -> int:
    return args.index("--") if "--" in args else len(args)


def top_help() -> str:
    """The command list printed for ``tessera -h`` or an unknown command."""
    lines = ["Usage: tessera <command> [args]", "", "Common commands:"]
    width = max(len(n) for n in COMMON) + 6
    lines += [f"    {n.ljust(width)}{SYNOPSES[n]}" for n in COMMON]
    others = [n for n in _names() if " " not in n and n not in COMMON]
    width = max(len(n) for n in others) + 6
    lines += ["", "Other commands:"]
    lines += [f"    {n.ljust(width)}{GROUPS[n][0] if n in GROUPS else SYNOPSES.get(n, '')}" for n in others]
    return "\n".join(lines)


def _subcommands_help(name: str) -> str:
    prefix = name + " "
    subs = sorted({n[len(prefix) :].split(" ")[0] for n in (*COMMANDS, *GROUPS) if n.startswith(prefix)})
    if not subs:
        return ""
    width = max(len(s) for s in subs) + 4
    rows = []
    for s in subs:
        full = prefix + s
        syn = GROUPS[full][0] if full in GROUPS else load(full).synopsis
        rows.append(f"    {s.ljust(width)}{syn}")
    return "\n\nSubcommands:\n" + "\n".join(rows)


def group_help(name: str) -> str:
    return (
        f"Usage: tessera {name} <subcommand> [options] [args]\n\n  {GROUPS[name][1]}\n\n"
        "  Please see the individual subcommand help for detailed usage information."
    )


def run(argv: list[str]) -> int:
    """Run one CLI invocation and return its exit code."""
    process = process_command(argv[0]) if argv else None
    if process is not None:
        return int(process(argv[1:]) or 0)
    args, fmt, detailed, curl = _setup_env(argv)
    ui = UI(format=fmt, detailed=detailed)
    if fmt not in FORMATS:
        ui.error(f"Invalid output format: {fmt}")
        return 1
    name, sub_args, is_help, top_flags = _resolve(args)
    process = process_command(name) if name == "server" else None
    if process is not None:
        return int(process(sub_args) or 0)
    if not name or (name not in COMMANDS and name not in GROUPS):
        if not name and is_help:
            print(top_help())
            return 0
        sys.stderr.write(top_help() + "\n")
        return 127
    if name in COMMANDS:
        cmd = load(name)(ui, output_curl=curl)
        text = cmd.help() + _subcommands_help(name)
    else:
        cmd = None
        text = group_help(name) + _subcommands_help(name)
    if top_flags:
        sys.stderr.write(
            "Invalid flags before the subcommand. If these flags are for\n"
            "the subcommand, please put them after the subcommand.\n\n" + text + "\n"
        )
        return 1
    if is_help:
        print(text)
        return 0
    if cmd is None:
        sys.stderr.write(text + "\n")
        return 1
    if curl:
        ui.stderr = io.StringIO()
    code = cmd.main(sub_args)
    if curl:
        return _curl_result(ui, code)
    return code


def _curl_result(ui: UI, code: int) -> int:
    curl = api.LAST_CURL
    if code == 0 or curl is None:
        if code == 0:
            sys.stderr.write("Could not generate cURL command")
            return 1
        sys.stderr.write(ui.stderr.getvalue() + "Unable to generate cURL string from command\n")
        return code
    print(curl)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console entry point: never lets a traceback reach the user."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = run(argv)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as exc:
        sys.stderr.write(f"Error: {exc}\n")
        code = 2 if isinstance(exc, api.APIError) else 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return code


if __name__ == "__main__":
    sys.exit(main())

"""``policy write|read|list|delete|fmt``: ACL policies under ``sys/policies/acl``."""

from __future__ import annotations

import os
import re
import sys

from ...policy.parser import PolicyParseError, parse_policy
from ..api import APIError, ResponseError
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command
from ..gojson import Struct
from ..output import output_data


class PolicyWriteCommand(Command):
    name = "policy write"
    synopsis = "Uploads a named policy from a file"
    flag_bits = FLAGS_HTTP
    usage = """
Usage: tessera policy write [options] NAME PATH

  Uploads a policy with name NAME from the contents of a local file PATH or
  stdin. If PATH is "-", the policy is read from stdin. Otherwise, it is
  loaded from the file at the given path on the local disk.

  Upload a policy named "my-policy" from "/tmp/policy.hcl" on the local disk:

      $ tessera policy write my-policy /tmp/policy.hcl

  Upload a policy from stdin:

      $ cat my-policy.hcl | tessera policy write my-policy -
"""

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 2)
        client = self.client()
        name = args[0]
        formatted = name.lower().strip()
        path = args[1].strip()
        if path == "-":
            rules = sys.stdin.read()
        else:
            try:
                with open(path, encoding="utf-8") as fh:
                    rules = fh.read()
            except OSError as exc:
                self.ui.error(f"Error opening policy file: open {path}: {(exc.strerror or str(exc)).lower()}")
                return 2
        try:
            client.request("PUT", f"sys/policies/acl/{formatted}", body={"policy": rules})
        except APIError as exc:
            return self.fail("Error uploading policy", exc)
        if name != formatted:
            self.ui.warn(f'Policy name was converted from "{name}" to "{formatted}"')
        self.ui.output(f"Success! Uploaded policy: {formatted}")
        return 0


class PolicyReadCommand(Command):
    name = "policy read"
    synopsis = "Prints the contents of a policy"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera policy read [options] [NAME]

  Prints the contents and metadata of the Vault policy named NAME. If the policy
  does not exist, an error is returned.

  Read the policy named "my-policy":

      $ tessera policy read my-policy
"""

    def run(self, args: list[str]) -> int:
        name = _policy_name(self, args)
        client = self.client()
        try:
            body = client.request("GET", f"sys/policies/acl/{name}").json() or {}
            rules = str(((body.get("data") or {}).get("policy")) or "")
        except ResponseError as exc:
            if exc.status != 404:
                return self.fail(f"Error reading policy named {name}", exc)
            rules = ""
        except APIError as exc:
            return self.fail(f"Error reading policy named {name}", exc)
        if not rules:
            self.ui.error(f"No policy named: {name}")
            return 2
        if self.ui.format == "table":
            self.ui.output(rules.strip())
            return 0
        return output_data(self.ui, Struct(policy=rules))


class PolicyListCommand(Command):
    name = "policy list"
    synopsis = "Lists the installed policies"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera policy list [options]

  Lists the names of the policies that are installed on the Vault server.

  List the available policies:

      $ tessera policy list

  For a full list of examples, please see the documentation.
"""

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        try:
            body = self.client().request("GET", "sys/policies/acl", params=[("list", "true")]).json() or {}
        except APIError as exc:
            return self.fail("Error listing policies", exc)
        policies = [str(p) for p in ((body.get("data") or {}).get("keys") or [])]
        if self.ui.format == "table":
            for p in policies:
                self.ui.output(p)
            return 0
        return output_data(self.ui, policies)


class PolicyDeleteCommand(Command):
    name = "policy delete"
    synopsis = "Deletes a policy by name"
    flag_bits = FLAGS_HTTP
    usage = """
Usage: tessera policy delete [options] NAME

  Deletes the policy named NAME in the Vault server. Once the policy is deleted,
  all tokens associated with the policy are affected immediately.

  Delete the policy named "my-policy":

      $ tessera policy delete my-policy

  Note that it is not possible to delete the "default" or "root" policies.
  These are built-in policies.
"""

    def run(self, args: list[str]) -> int:
        name = _policy_name(self, args)
        client = self.client()
        try:
            client.request("DELETE", f"sys/policies/acl/{name}")
        except APIError as exc:
            return self.fail(f"Error deleting {name}", exc)
        self.ui.output(f"Success! Deleted policy: {name}")
        return 0


class PolicyFmtCommand(Command):
    name = "policy fmt"
    synopsis = "Formats a policy on disk"
    flag_bits = 0
    usage = """
Usage: tessera policy fmt [options] PATH

  Formats a local policy file to the policy specification. This command will
  overwrite the file at the given PATH with the properly-formatted policy
  file contents.

  Format the local file "my-policy.hcl" as a policy file:

      $ tessera policy fmt my-policy.hcl
"""

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        path = os.path.expanduser(args[0].strip())
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            self.ui.error(f"Error reading source file: open {path}: {(exc.strerror or str(exc)).lower()}")
            return 1
        try:
            validate_policy(text)
        except ValueError as exc:
            self.ui.error(f"failed to parse policy: {exc}")
            return 1
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(format_hcl(text))
        except OSError as exc:
            self.ui.error(f"Error writing result: {exc}")
            return 1
        self.ui.output(f"Success! Formatted policy: {path}")
        return 0


def validate_policy(text: str) -> None:
    """Parse the policy with the server's own parser, so ``policy fmt`` refuses what the server would."""
    try:
        parse_policy(text)
    except PolicyParseError as exc:
        raise ValueError(str(exc)) from None


def format_hcl(text: str) -> str:
    """A canonical layout for simple HCL: two-space indents, ``key = value``, lists as ``["a", "b"]``."""
    out = []
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            out.append("")
            continue
        if line.startswith("}"):
            depth = max(depth - 1, 0)
        m = re.match(r'^([A-Za-z_][\w-]*|"[^"]*")\s*=\s*(.*)$', line)
        if m:
            value = m.group(2)
            if value.startswith("[") and value.endswith("]"):
                items = [i.strip() for i in value[1:-1].split(",") if i.strip()]
                value = "[" + ", ".join(items) + "]"
            line = f"{m.group(1)} = {value}"
        line = re.sub(r'^(\w+)\s+("[^"]*")\s*\{', r"\1 \2 {", line)
        out.append("  " * depth + line)
        if line.endswith("{"):
            depth += 1
    result = "\n".join(out).strip("\n")
    result = re.sub(r"\n{3,}", "\n\n", result)
    return result + "\n"


def _policy_name(cmd: Command, args: list[str]) -> str:
    """The one NAME argument, as the server stores policy names (trimmed, lower case)."""
    return cmd.parse_args(args, 1)[0].strip().lower()

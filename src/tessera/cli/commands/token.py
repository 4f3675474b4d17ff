"""``token create|lookup|renew|revoke|capabilities|issuers|cut-issuer``: the token store from the
command line (``revoke -batch``, ``issuers`` and ``cut-issuer`` are Tessera's own)."""

from __future__ import annotations

from ...gocompat.durations import format_go_duration
from ..api import APIError
from ..base import FLAGS_FIELD, FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, FlagRow
from ..gojson import Struct
from ..output import output_data, output_secret, print_raw_field, table_output

#: token lookup's and renew's -accessor
_ACCESSOR_FLAG: FlagRow = (
    "accessor",
    "bool",
    "Treat the argument as an accessor instead of a token. When this option is selected, the output will NOT include the token.",
)


class TokenCreateCommand(Command):
    name = "token create"
    synopsis = "Create a new token"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera token create [options]

  Creates a new token that can be used for authentication. This token will be
  created as a child of the currently authenticated token. The generated token
  will inherit all policies and permissions of the currently authenticated
  token unless you explicitly define a subset list policies to assign to the
  token.

  A ttl can also be associated with the token. If a ttl is not associated
  with the token, then it cannot be renewed. If a ttl is associated with
  the token, it will expire after that amount of time unless it is renewed.

  Metadata associated with the token (specified with "-metadata") is written
  to the audit log when the token is used.

  If a role is specified, the role may override parameters specified here.
"""

    command_flags = (
        (
            "id",
            "string",
            "Value for the token. By default, this is an auto-generated string. Specifying this value requires sudo permissions.",
        ),
        (
            "display-name",
            "string",
            "Name to associate with this token. This is a non-sensitive value that can be used to help identify created secrets (e.g. prefixes).",
        ),
        (
            "ttl",
            "duration",
            'Initial TTL to associate with the token. Token renewals may be able to extend beyond this value, depending on the configured maximum TTLs. This is specified as a numeric string with suffix like "30s" or "5m".',
        ),
        (
            "explicit-max-ttl",
            "duration",
            'Explicit maximum lifetime for the token. Unlike normal TTLs, the maximum TTL is a hard limit and cannot be exceeded. This is specified as a numeric string with suffix like "30s" or "5m".',
        ),
        (
            "period",
            "duration",
            'If specified, every renewal will use the given period. Periodic tokens do not expire (unless -explicit-max-ttl is also provided). Setting this value requires sudo permissions. This is specified as a numeric string with suffix like "30s" or "5m".',
        ),
        ("renewable", "bool", "Allow the token to be renewed up to it's maximum TTL.", True),
        (
            "orphan",
            "bool",
            "Create the token with no parent. This prevents the token from being revoked when the token which created it expires. Setting this value requires root or sudo permissions.",
        ),
        (
            "no-default-policy",
            "bool",
            'Detach the "default" policy from the policy set for this token.',
        ),
        (
            "use-limit",
            "int",
            "Number of times this token can be used. After the last use, the token is automatically revoked. By default, tokens can be used an unlimited number of times until their expiration.",
        ),
        (
            "role",
            "string",
            'Name of the role to create the token against. Specifying -role may override other arguments. The locally authenticated Vault token must have permission for "auth/token/create/<role>".',
        ),
        ("type", "string", 'The type of token to create. Can be "service" or "batch".', "service"),
        (
            "metadata",
            "map",
            "Arbitrary key=value metadata to associate with the token. This metadata will show in the audit log when the token is used. This can be specified multiple times to add multiple pieces of metadata.",
        ),
        (
            "policy",
            "slice",
            "Name of a policy to associate with this token. This can be specified multiple times to attach multiple policies.",
        ),
        (
            "entity-alias",
            "string",
            "Name of the entity alias to associate with during token creation. Only works in combination with -role argument and used entity alias must be listed in allowed_entity_aliases. If this has been specified, the entity will not be inherited from the parent.",
        ),
    )

    def run(self, args: list[str]) -> int:
        self.parse_args(args, 0)
        f = self.flag
        renewable = f("renewable") and f("type") != "batch"
        body = Struct()
        if f("id"):
            body["id"] = f("id")
        if f("policy"):
            body["policies"] = f("policy")
        if f("metadata"):
            body["meta"] = f("metadata")
        body["ttl"] = format_go_duration(f("ttl"))
        body["explicit_max_ttl"] = format_go_duration(f("explicit-max-ttl"))
        body["period"] = format_go_duration(f("period"))
        if f("orphan"):
            body["no_parent"] = True
        if f("no-default-policy"):
            body["no_default_policy"] = True
        body["display_name"] = f("display-name")
        body["num_uses"] = f("use-limit")
        body["renewable"] = renewable
        body["type"] = f("type")
        body["entity_alias"] = f("entity-alias")
        path = f"auth/token/create/{f('role')}" if f("role") else "auth/token/create"
        try:
            secret = self.request_secret("POST", path, body=body)
        except APIError as exc:
            return self.fail("Error creating token", exc)
        if f("field"):
            return print_raw_field(self.ui, secret, f("field")) if secret else 0
        return output_secret(self.ui, secret)


class TokenLookupCommand(Command):
    name = "token lookup"
    synopsis = "Display information about a token"
    flag_bits = FLAGS_HTTP | FLAGS_FIELD | FLAGS_FORMAT
    usage = """
Usage: tessera token lookup [options] [TOKEN | ACCESSOR]

  Displays information about a token or accessor. If a TOKEN is not provided,
  the locally authenticated token is used.

  Get information about the locally authenticated token (this uses the
  /auth/token/lookup-self endpoint and permission):

      $ tessera token lookup

  Get information about a particular token (this uses the /auth/token/lookup
  endpoint and permission):

      $ tessera token lookup 96ddf4bc-d217-f3ba-f9bd-017055595017

  Get information about a token via its accessor:

      $ tessera token lookup -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da

  For a full list of examples, please see the documentation.
"""

    command_flags = (_ACCESSOR_FLAG,)

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        accessor = self.flag("accessor")
        if accessor and len(args) < 1:
            raise UsageError(f"Not enough arguments with -accessor (expected 1, got {len(args)})")
        if accessor and len(args) > 1:
            raise UsageError(f"Too many arguments with -accessor (expected 1, got {len(args)})")
        if len(args) > 1:
            raise UsageError(f"Too many arguments (expected 0-1, got {len(args)})")
        token = args[0].strip() if args else ""
        try:
            if not token:
                secret = self.request_secret("GET", "auth/token/lookup-self")
            elif accessor:
                secret = self.request_secret("POST", "auth/token/lookup-accessor", body={"accessor": token})
            else:
                secret = self.request_secret("POST", "auth/token/lookup", body={"token": token})
        except APIError as exc:
            return self.fail("Error looking up token", exc)
        if self.flag("field"):
            return print_raw_field(self.ui, secret, self.flag("field")) if secret else 0
        return output_secret(self.ui, secret)


class TokenRenewCommand(Command):
    name = "token renew"
    synopsis = "Renew a token lease"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera token renew [options] [TOKEN]

  Renews a token's lease, extending the amount of time it can be used. If a
  TOKEN is not provided, the locally authenticated token is used. A token
  accessor can be used as well. Lease renewal will fail if the token is not
  renewable, the token has already been revoked, or if the token has already
  reached its maximum TTL.

  Renew a token (this uses the /auth/token/renew endpoint and permission):

      $ tessera token renew 96ddf4bc-d217-f3ba-f9bd-017055595017

  Renew the currently authenticated token (this uses the /auth/token/renew-self
  endpoint and permission):

      $ tessera token renew

  Renew a token requesting a specific increment value:

      $ tessera token renew -increment=30m 96ddf4bc-d217-f3ba-f9bd-017055595017

  For a full list of examples, please see the documentation.
"""

    command_flags = (
        _ACCESSOR_FLAG,
        Flag(
            "increment",
            "duration",
            'Request a specific increment for renewal. This increment may not be honored, for instance in the case of periodic tokens. If not supplied, Vault will use the default TTL. This is specified as a numeric string with suffix like "30s" or "5m".',
            0,
            aliases=("i",),
        ),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 0, 1, "1")
        token = args[0].strip() if args else ""
        inc = max(self.flag("increment"), 0)
        try:
            if not token:
                secret = self.request_secret("PUT", "auth/token/renew-self", body={"increment": inc})
            elif self.flag("accessor"):
                secret = self.request_secret(
                    "POST", "auth/token/renew-accessor", body={"accessor": token, "increment": inc}
                )
            else:
                secret = self.request_secret(
                    "PUT", "auth/token/renew", body={"increment": inc, "token": token}
                )
        except APIError as exc:
            return self.fail("Error renewing token", exc)
        return output_secret(self.ui, secret)


class TokenRevokeCommand(Command):
    name = "token revoke"
    synopsis = "Revoke a token and its children"
    flag_bits = FLAGS_HTTP
    usage = """
Usage: tessera token revoke [options] [TOKEN | ACCESSOR]

  Revokes authentication tokens and their children. If a TOKEN is not provided,
  the locally authenticated token is used. The "-mode" flag can be used to
  control the behavior of the revocation. See the "-mode" flag documentation
  for more information.

  Revoke a token and all the token's children:

      $ tessera token revoke 96ddf4bc-d217-f3ba-f9bd-017055595017

  Revoke a token leaving the token's children:

      $ tessera token revoke -mode=orphan 96ddf4bc-d217-f3ba-f9bd-017055595017

  Revoke a token by accessor:

      $ tessera token revoke -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da

  Refuse a leaked batch token until it expires (sudo; Tessera only):

      $ tessera token revoke -batch hvb.AAAAAQ...

  For a full list of examples, please see the documentation.
"""

    command_flags = (
        ("accessor", "bool", "Treat the argument as an accessor instead of a token."),
        ("self", "bool", "Perform the revocation on the currently authenticated token."),
        (
            "batch",
            "bool",
            "Put a batch token on the deny-list until it would expire (Tessera only; sudo).",
        ),
        (
            "mode",
            "string",
            'Type of revocation to perform. If unspecified, Vault will revoke the token and all of the token\'s children. If "orphan", Vault will revoke only the token, leaving the children as orphans. If "path", tokens created from the given authentication path prefix are deleted along with their children.',
        ),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        token = args[0].strip() if args else ""
        mode, self_, accessor = self.flag("mode"), self.flag("self"), self.flag("accessor")
        if mode not in ("", "orphan", "path"):
            raise UsageError(f"Invalid mode: {mode}")
        if self_ and args:
            raise UsageError(f"Too many arguments with -self (expected 0, got {len(args)})")
        if not self_ and len(args) > 1:
            raise UsageError(f"Too many arguments (expected 1 or -self, got {len(args)})")
        if not self_ and not args:
            raise UsageError(f"Not enough arguments (expected 1 or -self, got {len(args)})")
        if self_ and accessor:
            raise UsageError("Cannot use -self with -accessor!")
        if self_ and mode:
            raise UsageError("Cannot use -self with -mode!")
        if accessor and mode:
            raise UsageError(f"Cannot use -accessor with -mode={mode}!")
        if self.flag("batch") and (self_ or accessor or mode):
            raise UsageError("Cannot use -batch with -self, -accessor or -mode!")
        client = self.client()
        try:
            if self.flag("batch"):
                client.request("POST", "auth/token/revoke-batch", body={"token": token})
            elif self_:
                client.request("PUT", "auth/token/revoke-self")
            elif accessor:
                client.request("POST", "auth/token/revoke-accessor", body={"accessor": token})
            elif mode == "orphan":
                client.request("PUT", "auth/token/revoke-orphan", body={"token": token})
            elif mode == "path":
                client.request("PUT", f"sys/leases/revoke-prefix/{token}")
            else:
                client.request("PUT", "auth/token/revoke", body={"token": token})
        except APIError as exc:
            return self.fail("Error revoking token", exc)
        self.ui.output("Success! Revoked token (if it existed)")
        return 0


class TokenCapabilitiesCommand(Command):
    name = "token capabilities"
    synopsis = "Print capabilities of a token on a path"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera token capabilities [options] [TOKEN] PATH

  Fetches the capabilities of a token for a given path. If a TOKEN is provided
  as an argument, the "/sys/capabilities" endpoint and permission is used. If
  no TOKEN is provided, the "/sys/capabilities-self" endpoint and permission
  is used with the locally authenticated token.

  List capabilities for the local token on the "secret/foo" path:

      $ tessera token capabilities secret/foo

  List capabilities for a token on the "cubbyhole/foo" path:

      $ tessera token capabilities 96ddf4bc-d217-f3ba-f9bd-017055595017 cubbyhole/foo

  For a full list of examples, please see the documentation.
"""

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if not args:
            raise UsageError("Not enough arguments (expected 1-2, got 0)")
        if len(args) > 2:
            raise UsageError(f"Too many arguments (expected 1-2, got {len(args)})")
        token, path = (args[0], args[1]) if len(args) == 2 else ("", args[0])
        client = self.client()
        if not token:
            token = client.token
        endpoint = "sys/capabilities-self" if token == client.token else "sys/capabilities"
        try:
            secret = self.request_secret("POST", endpoint, body={"path": path, "token": token})
        except APIError as exc:
            return self.fail("Error listing capabilities", exc)
        if secret is None or secret.data is None:
            return self.fail("Error listing capabilities", APIError("data from server response is empty"))
        caps = secret.data.get(path) or secret.data.get("capabilities")
        if caps is None:
            self.ui.error("No capabilities found")
            return 1
        caps = [str(c) for c in caps]
        if self.ui.format == "table":
            self.ui.output(", ".join(sorted(caps)))
            return 0
        return output_data(self.ui, caps)


class TokenIssuersCommand(Command):
    name = "token issuers"
    synopsis = "List batch-token issuance paths and their epochs"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera token issuers [options]

  Lists the paths that mint batch tokens (token-create paths, token roles,
  AppRole roles, and every path ever cut, parent tokens included) with each
  one's epoch. Tessera only.

      $ tessera token issuers
"""

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 0)
        try:
            body = self.client().request("LIST", "sys/token-issuers").json() or {}
        except APIError as exc:
            return self.fail("Error listing token issuers", exc)
        data = body.get("data") or {}
        info = data.get("key_info") or {}
        epochs = {key: int((info.get(key) or {}).get("epoch", 0)) for key in data.get("keys") or []}
        if self.ui.format != "table":
            return output_data(self.ui, epochs)
        lines = ["Issuer | Epoch"]
        lines += [f"{key} | {epoch}" for key, epoch in epochs.items()]
        self.ui.output(table_output(lines))
        return 0


class TokenCutIssuerCommand(Command):
    name = "token cut-issuer"
    synopsis = "Refuse every batch token an issuance path minted until now"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera token cut-issuer [options] ID

  Raises the epoch of an issuance path (see "tessera token issuers"): every
  batch token it minted before now is refused, while new logins work at once.
  Requires sudo. Tessera only. A parent token is an issuer too, named by its
  accessor: cutting it refuses the child batch tokens it created so far.

      $ tessera token cut-issuer auth/approle/role/ci
      $ tessera token cut-issuer auth/token/parent/<accessor>
"""

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        issuer = args[0].strip().strip("/")
        try:
            body = self.client().request("POST", f"sys/token-issuers/{issuer}/bump").json() or {}
        except APIError as exc:
            return self.fail("Error cutting issuer", exc)
        epoch = (body.get("data") or {}).get("epoch")
        self.ui.output(f"Success! Cut {issuer}: batch tokens it minted before epoch {epoch} are refused")
        return 0

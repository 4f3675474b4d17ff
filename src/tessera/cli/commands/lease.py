"""``lease lookup|renew|revoke``."""

from __future__ import annotations

from ..api import APIError
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, wrap
from ..output import output_secret


def _one_id(args: list[str], expected: str) -> str:
    if not args:
        raise UsageError("Missing ID!")
    if len(args) > 1:
        raise UsageError(f"Too many arguments (expected {expected}, got {len(args)})")
    return args[0].strip()


class LeaseLookupCommand(Command):
    name = "lease lookup"
    synopsis = "Lookup the lease of a secret"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera lease lookup ID

  Lookup the lease information of a secret.

  Every secret in Vault has a lease associated with it. Users can look up
  information on the lease by referencing the lease ID.

  Lookup lease of a secret:

      $ tessera lease lookup database/creds/readonly/2f6a614c...
"""

    def run(self, args: list[str]) -> int:
        lease_id = _one_id(self.parse(args), "1")
        try:
            secret = self.request_secret("PUT", "sys/leases/lookup", body={"lease_id": lease_id})
        except APIError as exc:
            return self.fail(f"error looking up lease id {lease_id}", exc)
        return output_secret(self.ui, secret)


class LeaseRenewCommand(Command):
    name = "lease renew"
    synopsis = "Renews the lease of a secret"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    usage = """
Usage: tessera lease renew [options] ID

  Renews the lease on a secret, extending the time that it can be used before
  it is revoked by Vault.

  Every secret in Vault has a lease associated with it. If the owner of the
  secret wants to use it longer than the lease, then it must be renewed.
  Renewing the lease does not change the contents of the secret. The ID is the
  full path lease ID.

  Renew a secret:

      $ tessera lease renew database/creds/readonly/2f6a614c...

  Lease renewal will fail if the secret is not renewable, the secret has already
  been revoked, or if the secret has already reached its maximum TTL.

  For a full list of examples, please see the documentation.
"""

    command_flags = (
        (
            "increment",
            "duration",
            "Request a specific increment in seconds. Vault is not required to honor this request.",
        ),
    )

    def run(self, args: list[str]) -> int:
        lease_id = _one_id(self.parse(args), "1-2")
        inc = max(self.flag("increment"), 0)
        try:
            secret = self.request_secret(
                "PUT", "sys/leases/renew", body={"increment": inc, "lease_id": lease_id}
            )
        except APIError as exc:
            return self.fail(f"Error renewing {lease_id}", exc)
        return output_secret(self.ui, secret)


class LeaseRevokeCommand(Command):
    name = "lease revoke"
    synopsis = "Revokes leases and secrets"
    usage = """
Usage: tessera lease revoke [options] ID

  Revokes secrets by their lease ID. This command can revoke a single secret
  or multiple secrets based on a path-matched prefix.

  The default behavior when not using -force is to revoke asynchronously; Vault
  will queue the revocation and keep trying if it fails (including across
  restarts). The -sync flag can be used to force a synchronous operation, but
  it is then up to the caller to retry on failure. Force mode always operates
  synchronously.

  Revoke a lease:

      $ tessera lease revoke database/creds/readonly/2f6a614c...

  Revoke all leases for a role:

      $ tessera lease revoke -prefix aws/creds/deploy

  For a full list of examples, please see the documentation.
"""

    command_flags = (
        Flag(
            "force",
            "bool",
            "Delete the lease from Vault even if the secret engine revocation fails. This is meant for recovery situations where the secret in the target secret engine was manually removed. If this flag is specified, -prefix is also required.",
            False,
            aliases=("f",),
        ),
        (
            "prefix",
            "bool",
            "Treat the ID as a prefix instead of an exact lease ID. This can revoke multiple leases simultaneously.",
        ),
        (
            "sync",
            "bool",
            "Force a synchronous operation; on failure returns an error and it is up to the caller to retry.",
        ),
    )

    def run(self, args: list[str]) -> int:
        args = self.parse_args(args, 1)
        force, prefix, sync = self.flag("force"), self.flag("prefix"), self.flag("sync")
        if force and not prefix:
            raise UsageError("Specifying -force requires also specifying -prefix")
        lease_id = args[0].strip()
        if force:
            self.ui.warn(
                wrap(
                    "Warning! Force-removing leases can cause Vault to become out of sync with secret engines!"
                )
            )
        path = (
            "sys/leases/revoke-force/"
            if force
            else ("sys/leases/revoke-prefix/" if prefix else "sys/leases/revoke/")
        )
        try:
            if force:
                self.client().request("PUT", path + lease_id)
            else:
                self.client().request("PUT", path + lease_id, body={"sync": sync})
        except APIError as exc:
            if force:
                return self.fail(f"Error force revoking leases with prefix {lease_id}", exc)
            if prefix:
                return self.fail(f"Error revoking leases with prefix {lease_id}", exc)
            return self.fail(f"Error revoking lease {lease_id}", exc)
        if force:
            self.ui.output(f"Success! Force revoked any leases with prefix: {lease_id}")
        elif sync:
            self.ui.output(
                f"Success! Revoked any leases with prefix: {lease_id}"
                if prefix
                else f"Success! Revoked lease: {lease_id}"
            )
        else:
            self.ui.output("All revocation operations queued successfully!")
        return 0

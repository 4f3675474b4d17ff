"""``operator rekey``: new unseal key shares from a quorum of the current ones (``bao operator rekey``).

Talks to the unauthenticated ``sys/rekey/*`` endpoints (``-target=recovery``: ``sys/rekey-recovery-key/*``);
``-verify`` drives the verification of the new shares, ``-backup-*`` the PGP backups (``sys/rekey/backup``).
"""

from __future__ import annotations

from typing import Any

from ..api import APIError
from ..base import FLAGS_FORMAT, FLAGS_HTTP, Command, UsageError
from ..flags import Flag, wrap
from ..gojson import Struct
from ..output import Secret, output_data, output_secret, table_output
from .operator_keys import KEY_THRESHOLD_USAGE, pgp_key_files, read_key_share


def _strs(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None


def _rotate_status(d: dict[str, Any]) -> Struct:
    """api.RotateStatusResponse (complete/keys only when set: they are omitempty)."""
    out = Struct()
    if d.get("complete"):
        out["complete"] = True
    for name in ("keys", "keys_base64"):
        if d.get(name):
            out[name] = _strs(d[name])
    out.update(
        nonce=str(d.get("nonce") or ""),
        started=bool(d.get("started")),
        t=int(d.get("t") or 0),
        n=int(d.get("n") or 0),
        progress=int(d.get("progress") or 0),
        required=int(d.get("required") or 0),
        pgp_fingerprints=_strs(d.get("pgp_fingerprints")),
        backup=bool(d.get("backup")),
        verification_required=bool(d.get("verification_required")),
        verification_nonce=str(d.get("verification_nonce") or ""),
    )
    return out


def _verify_status(d: dict[str, Any]) -> Struct:
    """api.RotateVerificationStatusResponse."""
    return Struct(
        nonce=str(d.get("nonce") or ""),
        started=bool(d.get("started")),
        t=int(d.get("t") or 0),
        n=int(d.get("n") or 0),
        progress=int(d.get("progress") or 0),
    )


def _rotate_update(d: dict[str, Any]) -> Struct:
    """api.RotateUpdateResponse."""
    out = Struct(
        nonce=str(d.get("nonce") or ""),
        complete=bool(d.get("complete")),
        keys=_strs(d.get("keys")),
        keys_base64=_strs(d.get("keys_base64")),
        pgp_fingerprints=_strs(d.get("pgp_fingerprints")),
        backup=bool(d.get("backup")),
        verification_required=bool(d.get("verification_required")),
    )
    if d.get("verification_nonce"):
        out["verification_nonce"] = str(d["verification_nonce"])
    return out


def _b(value: Any) -> str:
    return "true" if value else "false"


def print_rotation_status(cmd: Command, status: Struct, verification: bool) -> int:
    """printRotationStatus: a Key/Value table, or the response struct."""
    if cmd.ui.format != "table":
        return output_data(cmd.ui, status)
    out = ["Key | Value"]
    if verification:
        out += [
            f"Started | {_b(status['started'])}",
            f"New Shares | {status['n']}",
            f"New Threshold | {status['t']}",
            f"Verification Nonce | {status['nonce']}",
            f"Verification Progress | {status['progress']}/{status['t']}",
        ]
    else:
        out += [f"Nonce | {status['nonce']}", f"Started | {_b(status['started'])}"]
        if status["started"]:
            progress = f"{status['progress']}/{status['required']}"
            if status["progress"] == status["required"]:
                progress += " (verification in progress)"
            out.append(f"Progress | {progress}")
            if status["n"] > 0:
                out.append(f"New Shares | {status['n']}")
            if status["t"] > 0:
                out.append(f"New Threshold | {status['t']}")
            out.append(f"Verification Required | {_b(status['verification_required'])}")
            if status["verification_nonce"]:
                out.append(f"Verification Nonce | {status['verification_nonce']}")
        if status["pgp_fingerprints"]:
            out.append(f"PGP Fingerprints | [{' '.join(status['pgp_fingerprints'])}]")
            out.append(f"Backup | {_b(status['backup'])}")
    cmd.ui.output(table_output(out))
    return 0


class OperatorRekeyCommand(Command):
    name = "operator rekey"
    synopsis = "Generates new unseal keys"
    flag_bits = FLAGS_HTTP | FLAGS_FORMAT
    flag_groups = (
        (
            "Common Options",
            (
                (
                    "init",
                    "bool",
                    "Initialize the rekeying operation. This can only be done if no rekeying operation is in progress. Customize the new number of key shares and key threshold using the -key-shares and -key-threshold flags.",
                ),
                (
                    "cancel",
                    "bool",
                    "Reset the rekeying progress. This will discard any submitted unseal keys, recovery keys, or configuration.",
                ),
                (
                    "status",
                    "bool",
                    "Print the status of the current attempt without providing an unseal or recovery key.",
                ),
                Flag(
                    "key-shares",
                    "int",
                    'Number of key shares to split the generated root key into. This is the number of "unseal keys" or "recovery keys" to generate.',
                    5,
                    aliases=("n",),
                ),
                Flag("key-threshold", "int", KEY_THRESHOLD_USAGE, 3, aliases=("t",)),
                (
                    "nonce",
                    "string",
                    "Nonce value provided at initialization. The same nonce value must be provided with each unseal or recovery key.",
                ),
                (
                    "target",
                    "string",
                    'Target for rekeying. "recovery" only applies for auto-seals.',
                    "barrier",
                ),
                (
                    "verify",
                    "bool",
                    "Indicates that the action (-status, -cancel, or providing a key share) will be affecting verification for the current rekey attempt.",
                ),
                (
                    "pgp-keys",
                    "slice",
                    'Comma-separated list of paths to files on disk containing public PGP keys OR a comma-separated list of Keybase usernames using the format "keybase:<username>". When supplied, the generated unseal or recovery keys will be encrypted and base64-encoded in the order specified in this list.',
                ),
            ),
        ),
        (
            "Backup Options",
            (
                (
                    "backup",
                    "bool",
                    "Store a backup of the current PGP encrypted unseal or recovery keys in Vault's core. The encrypted values can be recovered in the event of failure or discarded after success. See the -backup-delete and -backup-retrieve options for more information. This option only applies when the existing unseal or recovery keys were PGP encrypted.",
                ),
                ("backup-delete", "bool", "Delete any stored backup unseal or recovery keys."),
                (
                    "backup-retrieve",
                    "bool",
                    "Retrieve the backed-up unseal or recovery keys. This option is only available if the PGP keys were provided and the backup has not been deleted.",
                ),
            ),
        ),
    )
    usage = """
Usage: tessera operator rekey [options] [KEY]

  Generates a new set of unseal keys. This can optionally change the total
  number of key shares or the required threshold of those key shares to
  reconstruct the root key. This operation is zero downtime, but it requires
  that the Vault instance is unsealed and a quorum of existing unseal keys
  are provided.

  An unseal key may be provided directly on the command line as an argument to
  the command. If key is specified as "-", the command will read from stdin. If
  a TTY is available, the command will prompt for text.

  If the flag -target=recovery is supplied, then this operation will require a
  quorum of recovery keys in order to generate a new set of recovery keys.

  Initialize a rekey:

      $ tessera operator rekey \\
          -init \\
          -key-shares=15 \\
          -key-threshold=9

  Rekey and encrypt the resulting unseal keys with PGP:

      $ tessera operator rekey \\
          -init \\
          -key-shares=3 \\
          -key-threshold=2 \\
          -pgp-keys="keybase:hashicorp,keybase:jefferai,keybase:sethvargo"

  Store encrypted PGP keys in Vault's core:

      $ tessera operator rekey \\
          -init \\
          -pgp-keys="..." \\
          -backup

  Retrieve backed-up unseal keys:

      $ tessera operator rekey -backup-retrieve

  Delete backed-up unseal keys:

      $ tessera operator rekey -backup-delete
"""

    # -- target-dependent paths ------------------------------------------------------------------
    def _target(self) -> str:
        target = str(self.flag("target")).strip().lower()
        if target == "barrier":
            return "barrier"
        if target in ("recovery", "hsm"):
            return "recovery"
        raise UsageError(f"Unknown target: {self.flag('target')}")

    def _base(self) -> str:
        return "sys/rekey" if self._target() == "barrier" else "sys/rekey-recovery-key"

    def _backup_path(self) -> str:
        return "sys/rekey/backup" if self._target() == "barrier" else "sys/rekey/recovery-key-backup"

    def _fetch_status(self, verify: bool) -> Struct:
        path = f"{self._base()}/{'verify' if verify else 'init'}"
        body = self.client().request("GET", path).json() or {}
        return _verify_status(body) if verify else _rotate_status(body)

    def run(self, args: list[str]) -> int:
        args = self.parse(args)
        if len(args) > 1:
            raise UsageError(f"Too many arguments (expected 0-1, got {len(args)})")
        self.client()
        if self.flag("backup-delete"):
            return self._backup_delete()
        if self.flag("backup-retrieve"):
            return self._backup_retrieve()
        if self.flag("cancel"):
            return self._cancel()
        if self.flag("init"):
            return self._init()
        if self.flag("status"):
            return self._status(bool(self.flag("verify")))
        return self._provide(args[0].strip() if args else "")

    def _init(self) -> int:
        target = self._target()
        key_type = "unseal" if target == "barrier" else "recovery"
        pgp_keys = pgp_key_files(self.flag("pgp-keys"), "pgp-keys")
        body = Struct(
            secret_shares=self.flag("key-shares"),
            secret_threshold=self.flag("key-threshold"),
            pgp_keys=pgp_keys or None,
            backup=bool(self.flag("backup")),
            require_verification=bool(self.flag("verify")),
        )
        try:
            resp = self.client().request("PUT", f"{self._base()}/init", body=body).json() or {}
        except APIError as exc:
            return self.fail("Error initializing rekey", exc)
        status = _rotate_status(resp)
        if self.ui.format == "table":
            if status["t"] == 0 and status["n"] == 0:
                self.ui.output("")
                self.ui.output("Rotating barrier root key using recovery shares.")
                self.ui.output("")
                return print_rotation_status(self, status, False)
            if not pgp_keys:
                self.ui.warn(
                    wrap(
                        "WARNING! If you lose the keys after they are returned, there is no recovery. Consider "
                        "canceling this operation and re-initializing with the -pgp-keys flag to protect the "
                        f"returned {key_type} keys along with -backup to allow recovery of the encrypted keys in "
                        "case of emergency. You can delete the stored keys later using the -delete flag."
                    )
                )
                self.ui.output("")
            elif not self.flag("backup"):
                self.ui.warn(
                    wrap(
                        f"WARNING! You are using PGP keys for encryption of resulting {key_type} keys, but you "
                        "did not enable the option to backup the keys to Vault's core. If you lose the encrypted "
                        "keys after they are returned, you will not be able to recover them. Consider canceling "
                        "this operation and re-running with -backup to allow recovery of the encrypted unseal "
                        "keys in case of emergency. You can delete the backed up keys later using the -delete flag."
                    )
                )
                self.ui.output("")
        return print_rotation_status(self, status, False)

    def _cancel(self) -> int:
        path = f"{self._base()}/{'verify' if self.flag('verify') else 'init'}"
        try:
            self.client().request("DELETE", path)
        except APIError as exc:
            return self.fail("Error canceling rekey", exc)
        self.ui.output("Success! Canceled rekeying (if it was started)")
        return 0

    def _status(self, verify: bool) -> int:
        self._target()
        try:
            status = self._fetch_status(verify)
        except APIError as exc:
            return self.fail("Error reading rekey status", exc)
        return print_rotation_status(self, status, verify)

    def _provide(self, key: str) -> int:
        target = self._target()
        verify = bool(self.flag("verify"))
        key_type = "Unseal" if target == "barrier" else "Recovery"
        try:
            status = self._fetch_status(verify)
        except APIError as exc:
            return self.fail("Error getting rekey status", exc)
        if not status["started"]:
            self.ui.error(
                wrap(
                    'No rekey is in progress. Start a rekey process by running "tessera operator rekey -init".'
                )
            )
            return 1
        key, nonce = read_key_share(self, key, status["nonce"], key_type, "Rekey operation")
        path = f"{self._base()}/{'verify' if verify else 'update'}"
        try:
            resp = self.client().request("PUT", path, body={"key": key, "nonce": nonce}).json() or {}
        except APIError as exc:
            return self.fail("Error posting unseal key", exc)
        if not resp.get("complete"):
            return self._status(verify)
        if verify:
            self.ui.output(
                wrap(
                    "Rekey verification successful. The rekey operation is complete and the new keys are now active."
                )
            )
            return 0
        update = _rotate_update(resp)
        if self.ui.format != "table":
            return output_data(self.ui, update)
        self.ui.output("")
        keys, keys_b64 = update["keys"] or [], update["keys_base64"] or []
        fingerprints = update["pgp_fingerprints"] or []
        for i, k in enumerate(keys):
            shown = keys_b64[i] if len(keys_b64) == len(keys) else k
            if fingerprints:
                self.ui.output(f"Key {i + 1} fingerprint: {fingerprints[i]}; value: {shown}")
            else:
                self.ui.output(f"Key {i + 1}: {shown}")
        return self._warnings(status, update, target)

    def _warnings(self, status: Struct, resp: Struct, target: str) -> int:
        if not resp["keys"]:
            self.ui.output("")
            self.ui.output("Barrier root key rotated using recovery keys.")
            return 0
        if resp["nonce"]:
            self.ui.output("")
            self.ui.output(f"Operation nonce: {resp['nonce']}")
        if resp["pgp_fingerprints"] and resp["backup"]:
            self.ui.output("")
            if target == "barrier":
                text = (
                    'The encrypted unseal keys are backed up to "core/unseal-keys-backup" in the storage '
                    'backend. Remove these keys at any time using "tessera operator rekey -backup-delete". '
                    "Vault does not automatically remove these keys."
                )
            else:
                text = (
                    'The encrypted recovery keys are backed up to "core/recovery-keys-backup" in the storage '
                    'backend. Remove these keys at any time using "tessera operator rekey -backup-delete '
                    '-target=recovery". Vault does not automatically remove these keys.'
                )
            self.ui.output(wrap(text))
        n, t = status["n"], status["t"]
        self.ui.output("")
        if not status["verification_required"]:
            if target == "barrier":
                text = (
                    f"Vault unseal keys rekeyed to {n} key shares and a key threshold of {t}. Please securely "
                    "distribute the key shares printed above. When Vault is re-sealed, restarted, or stopped, "
                    f"you must supply at least {t} of these keys to unseal it before it can start servicing "
                    "requests."
                )
            else:
                text = (
                    f"Vault recovery keys rekeyed to {n} key shares and a key threshold of {t}. Please "
                    "securely distribute the key shares printed above."
                )
            self.ui.output(wrap(text))
            return 0
        if target == "barrier":
            text = (
                f"Vault has created a new unseal key, split into {n} key shares and a key threshold of {t}. "
                "These will not be active until after verification is complete. Please securely distribute "
                "the key shares printed above. When  Vault is re-sealed, restarted, or stopped, you must "
                f"supply at least {t} of these keys to unseal it before it can start servicing requests."
            )
            action = "unseal"
        else:
            text = (
                f"Vault has created a new recovery key, split into {n} key shares and a key threshold of {t}. "
                "These will not be active until after verification is complete. Please securely distribute "
                "the key shares printed above."
            )
            action = "authenticate with"
        self.ui.output(wrap(text))
        self.ui.output("")
        self.ui.warn(
            wrap(
                "Again, these key shares are _not_ valid until verification is performed. Do not lose or "
                "discard your current key shares until after verification is complete or you will be unable "
                f"to {action} Vault. If you cancel the rekey process or seal Vault before verification is "
                "complete the new shares will be discarded and the current shares will remain valid."
            )
        )
        self.ui.output("")
        self.ui.warn(wrap("The current verification status, including initial nonce, is shown below."))
        self.ui.output("")
        return self._status(True)

    def _backup_retrieve(self) -> int:
        try:
            body = self.client().request("GET", self._backup_path()).json() or {}
        except APIError as exc:
            return self.fail("Error retrieving rekey backed up keys", exc)
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        stored = {
            "nonce": data.get("nonce", ""),
            "keys": data.get("keys"),
            "keys_base64": data.get("keys_base64"),
        }
        return output_secret(self.ui, Secret(data=stored))

    def _backup_delete(self) -> int:
        try:
            self.client().request("DELETE", self._backup_path())
        except APIError as exc:
            return self.fail("Error deleting rekey backed up keys", exc)
        self.ui.output("Success! Deleted backed up keys (if they existed)")
        return 0

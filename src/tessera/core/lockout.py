"""User lockout (Vault 1.13+): too many wrong credentials for one alias of a mount lock it out.

A login whose backend refuses it with :class:`InvalidCredentials` (a wrong password of a known
user, a wrong secret ID of a known role) counts one failure for the alias the method's look-ahead
names (``Backend.login_alias``). At ``lockout_threshold`` failures, none further apart than
``lockout_counter_reset``, the alias is locked for ``lockout_duration`` after the last one: every
login for it answers 403 ``permission denied`` before the backend runs. A successful login clears
the counter; ``sys/locked-users/:accessor/unlock/:alias`` lifts a lock.

As in Vault, the counters live only as long as an unseal (cleared at each) while locks are kept
through restarts. Both are kept in storage, under the barrier: a worker process (cluster/pool.py)
reads them, and its attempt to write one is refused by its read-only storage, which hands the whole
login to the active process, so every failure counts exactly once whichever process took it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from ..framework import Backend, PermissionDenied
from ..gocompat.durations import DurationError, parse_duration_second
from ..routing.mounts import MountEntry
from .host import Host

# The auth types a server configuration's user_lockout stanza may name: Vault's config grammar,
# ldap included though no ldap method is served. Which mounts are locked out (and may tune it) is
# the backend's to say: those with a login alias (Backend.locks_out_users).
CONFIGURABLE_TYPES = ("userpass", "approle", "ldap")
LOCKED_PREFIX = "core/login/lockedUsers/"
FAILED_PREFIX = "core/login/failedLogins/"
TIDY_EVERY = 15 * 60  # seconds between sweeps of expired locks, as Vault's


@dataclass(frozen=True)
class LockoutSettings:
    threshold: int = 5
    duration: int = 15 * 60
    counter_reset: int = 15 * 60
    disabled: bool = False


DEFAULTS = LockoutSettings()


# -- the server configuration: user_lockout "all" | "<type>" { ... } ---------------------------
def parse_user_lockouts(blocks: list[tuple[str, dict[str, Any]]]) -> dict[str, LockoutSettings]:
    """The ``user_lockout`` stanzas, each type's unset values taken from "all", then the defaults."""
    given: dict[str, dict[str, Any]] = {}
    for index, (kind, body) in enumerate(blocks):
        kind = kind.lower()
        if kind != "all" and kind not in CONFIGURABLE_TYPES:
            raise ValueError(f'user_lockouts.{index}: unsupported auth type "{kind}"')
        given[kind] = _parse_block(index, body)
    base = replace(DEFAULTS, **given.get("all", {}))
    return {kind: replace(base, **values) for kind, values in given.items()}


def _parse_block(index: int, body: dict[str, Any]) -> dict[str, Any]:
    where = f"user_lockouts.{index}"
    out: dict[str, Any] = {}
    if "lockout_threshold" in body:
        out["threshold"] = parse_threshold(
            body["lockout_threshold"], f"{where} error parsing lockout_threshold: "
        )
    for key, name in (("lockout_duration", "duration"), ("lockout_counter_reset", "counter_reset")):
        if key in body:
            try:
                out[name] = parse_duration_second(str(body[key]))
            except DurationError as exc:
                raise ValueError(f"{where} error parsing {key}: {exc}") from None
    if "disable_lockout" in body:
        value = str(body["disable_lockout"]).lower()
        if value not in ("1", "t", "true", "0", "f", "false"):
            raise ValueError(
                f"{where} invalid value for disable_lockout: cannot parse '' as bool: "
                f'strconv.ParseBool: parsing "{body["disable_lockout"]}": invalid syntax'
            )
        out["disabled"] = value in ("1", "t", "true")
    return out


def parse_threshold(value: Any, prefix: str) -> int:
    """strconv.ParseUint, with Go's error text after ``prefix``."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if not text.isdigit() or not text.isascii():
        raise ValueError(f'{prefix}strconv.ParseUint: parsing "{text}": invalid syntax')
    return int(text)


def settings_for(core: Host, entry: MountEntry) -> LockoutSettings:
    """getUserLockoutConfiguration: the config's block for the type (else "all", else the
    defaults), then each value the mount's tuning sets to something other than zero."""
    blocks: dict[str, LockoutSettings] = core.config.extra.get("user_lockouts") or {}
    settings = blocks.get(entry.type.lower()) or blocks.get("all") or DEFAULTS
    tuned = entry.config.user_lockout_config
    if tuned:
        settings = replace(
            settings,
            threshold=tuned.get("threshold") or settings.threshold,
            duration=tuned.get("duration") or settings.duration,
            counter_reset=tuned.get("counter_reset") or settings.counter_reset,
            disabled=settings.disabled or bool(tuned.get("disabled")),
        )
    return settings


# -- the state: counters and locks -------------------------------------------------------------
def _key(prefix: str, accessor: str, alias: str) -> str:
    """One storage key per alias: a "/" in it (a custom role ID may have one) must not nest."""
    if "/" in alias or "%" in alias:
        alias = alias.replace("%", "%25").replace("/", "%2F")
    return f"{prefix}{accessor}/{alias}"


class UserLockout:
    """Counts failed logins and answers whether an alias is locked, for one core."""

    def __init__(self, core: Host) -> None:
        self.core = core
        self.lock = threading.Lock()  # one failure at a time: counts are read, then written
        self._last_tidy = 0.0

    def settings(self, entry: MountEntry, backend: Backend) -> LockoutSettings | None:
        """The settings of a mount whose logins are locked out, or None (a method without
        lockout, or lockout disabled)."""
        if not backend.locks_out_users:
            return None
        settings = settings_for(self.core, entry)
        return None if settings.disabled else settings

    def check(self, entry: MountEntry, alias: str, settings: LockoutSettings) -> bool:
        """isUserLocked: raise 403 while the alias is locked; whether it has failures counted."""
        now = time.time()
        failed = self.core.barrier.get_json(_key(FAILED_PREFIX, entry.accessor, alias))
        if failed is not None:
            locked = failed["count"] >= settings.threshold and now - failed["last"] < settings.duration
        else:
            since = self.core.barrier.get_json(_key(LOCKED_PREFIX, entry.accessor, alias))
            locked = since is not None and now - int(since) < settings.duration
        if locked:
            raise PermissionDenied()
        return failed is not None

    def failed(self, entry: MountEntry, alias: str, settings: LockoutSettings) -> None:
        """failedUserLoginProcess: one more failure (a fresh count after ``counter_reset``)."""
        key = _key(FAILED_PREFIX, entry.accessor, alias)
        with self.lock:
            now = int(time.time())
            previous = self.core.barrier.get_json(key)
            count = 1
            if previous is not None and now - previous["last"] <= settings.counter_reset:
                count = previous["count"] + 1
            self.core.barrier.put_json(key, {"count": count, "last": now})
            if count >= settings.threshold:
                self.core.barrier.put_json(_key(LOCKED_PREFIX, entry.accessor, alias), now)

    def succeeded(self, entry: MountEntry, alias: str) -> None:
        """A successful login clears the alias's counter (a lock's record stays until it expires)."""
        self.core.barrier.delete(_key(FAILED_PREFIX, entry.accessor, alias))

    def unlock(self, accessor: str, alias: str) -> None:
        self.core.barrier.delete(_key(LOCKED_PREFIX, accessor, alias))
        self.core.barrier.delete(_key(FAILED_PREFIX, accessor, alias))

    def locked(self, accessor: str = "") -> dict[str, list[str]]:
        """The aliases with a lock on record, by mount accessor (expired ones until the sweep)."""
        barrier = self.core.barrier
        accessors = [accessor + "/"] if accessor else barrier.list(LOCKED_PREFIX)
        out: dict[str, list[str]] = {}
        for folder in sorted(accessors):
            aliases = [unquote(a) for a in barrier.list(LOCKED_PREFIX + folder) if not a.endswith("/")]
            if aliases:
                out[folder.rstrip("/")] = sorted(aliases)
        return out

    def reset_counters(self) -> None:
        """At an unseal: counters start afresh (Vault keeps them in memory only)."""
        self.core.barrier.delete_prefix(FAILED_PREFIX)

    def tidy(self, budget: float | None = None) -> None:
        """The ticker's sweep, every TIDY_EVERY seconds: drop locks and counters that ran out.
        (``budget``, the time a tick hook may take, is far more than this sweep needs.)"""
        now = time.time()
        if now - self._last_tidy < TIDY_EVERY:
            return
        self._last_tidy = now
        by_accessor = {e.accessor: e for e in self.core.auth_mounts}
        barrier = self.core.barrier
        for prefix in (LOCKED_PREFIX, FAILED_PREFIX):
            for key in barrier.list_all(prefix):
                entry = by_accessor.get(key[len(prefix) :].split("/", 1)[0])
                value = barrier.get_json(key)
                if entry is None or value is None:
                    barrier.delete(key)
                    continue
                settings = settings_for(self.core, entry)
                if prefix == LOCKED_PREFIX:
                    stale = now - int(value) >= settings.duration
                else:
                    stale = now - value["last"] > max(settings.counter_reset, settings.duration)
                if stale:
                    barrier.delete(key)


def locked_users_view(lockout: UserLockout, accessor: str = "") -> dict[str, Any]:
    """The document of GET sys/locked-users: one namespace (root), its mounts and aliases."""
    by_accessor = lockout.locked(accessor)
    if accessor:
        by_accessor.setdefault(accessor, [])  # one mount asked for: shown even with none (null)
    mounts = [
        {"mount_accessor": acc, "counts": len(aliases), "alias_identifiers": aliases or None}
        for acc, aliases in by_accessor.items()
    ]
    total = sum(len(aliases) for aliases in by_accessor.values())
    namespace = {"namespace_id": "root", "namespace_path": "", "counts": total, "mount_accessors": mounts}
    return {"by_namespace": [namespace], "total": total}

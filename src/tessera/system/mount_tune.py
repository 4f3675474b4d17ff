"""Tuning a mount (sys/mounts/:path/tune, sys/auth/:path/tune): the view and the validated update.

Split from mounts.py; the checks run in the order of OpenBao's handleTuneWriteCommon so the first
failure a client sees is the same.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core.lockout import parse_threshold
from ..framework import Backend, ErrorResponse, FieldData, Response
from ..framework.fields import FieldError
from ..gocompat.durations import DurationError, parse_duration_second
from ..routing.mounts import MountEntry

if TYPE_CHECKING:
    from ..core.core import Core
    from ..routing.router import Route

LISTING_VISIBILITY = ("", "hidden", "unauth")
# The version string the mount table shows for Tessera's builtin plugins.
BUILTIN_VERSION = f"v{__version__}+builtin.tessera"
# Masterminds/semver's loose form: an optional "v", minor and patch optional.
_SEMVER = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(-[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?(\+[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?$"
)


def canonical_version(text: str) -> str:
    """``1.2`` → ``v1.2.0``, with Vault's error for what is not a semantic version."""
    m = _SEMVER.match(text)
    if m is None:
        raise ErrorResponse(f'version "{text}" is not a valid semantic version: malformed version: {text}')
    major, minor, patch, pre, meta = m.groups()
    return f"v{int(major)}.{int(minor or 0)}.{int(patch or 0)}{pre or ''}{meta or ''}"


TOKEN_TYPES = {
    "": "default-service",
    "default-service": "default-service",
    "default-batch": "default-batch",
    "service": "service",
    "batch": "batch",
}


def effective_ttls(core: Core, entry: MountEntry) -> tuple[int, int]:
    """The mount's (default, max) TTLs with the system's filling unset ones (not capped, as Vault shows)."""
    default = entry.config.default_lease_ttl or core.config.default_lease_ttl
    maximum = entry.config.max_lease_ttl or core.config.max_lease_ttl
    return default, maximum


def tune_view(core: Core, entry: MountEntry) -> dict[str, Any]:
    """The document of GET sys/mounts/:path/tune."""
    default, maximum = effective_ttls(core, entry)
    cfg = entry.config
    out: dict[str, Any] = {
        "description": entry.description,
        "default_lease_ttl": default,
        "max_lease_ttl": maximum,
        "force_no_cache": cfg.force_no_cache,
    }
    if entry.external_entropy_access:
        out["external_entropy_access"] = True
    if entry.table == "auth":
        out["token_type"] = cfg.token_type or "default-service"
        if cfg.user_lockout_config is not None:
            out.update(cfg.lockout_api())
    for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys"):
        if getattr(cfg, key):
            out[key] = list(getattr(cfg, key))
    if cfg.listing_visibility:
        out["listing_visibility"] = cfg.listing_visibility
    for key in ("passthrough_request_headers", "allowed_response_headers"):
        if getattr(cfg, key):
            out[key] = list(getattr(cfg, key))
    if entry.options:
        out["options"] = dict(entry.options)
    if entry.plugin_version:
        out["plugin_version"] = entry.plugin_version
    return out


def _parse_version(text: str | None, what: str) -> int:
    if not text:
        return 0
    try:
        return int(text.strip())
    except ValueError:
        raise ErrorResponse(
            f'unable to parse {what}: strconv.ParseInt: parsing "{text}": invalid syntax'
        ) from None


def apply_tune(
    core: Core, route: Route, data: FieldData, *, is_auth: bool, untunable: bool
) -> Response | None:
    """handleTuneWriteCommon: validate everything first, then change the entry and persist once."""
    entry = route.entry
    new = copy.deepcopy(entry)
    cfg = new.config
    try:
        if not untunable:
            default_text, max_text = data.get("default_lease_ttl"), data.get("max_lease_ttl")
            new_default = _tune_ttl(default_text, cfg.default_lease_ttl)
            new_max = _tune_ttl(max_text, cfg.max_lease_ttl)
            if (new_default, new_max) != (cfg.default_lease_ttl, cfg.max_lease_ttl):
                if new_default and new_max and new_max < new_default:
                    raise ErrorResponse(
                        f"backend max lease TTL of {new_max} would be less than backend default lease TTL of {new_default}"
                    )
                cfg.default_lease_ttl, cfg.max_lease_ttl = new_default, new_max
            if data.has("user_lockout_config"):
                cfg.user_lockout_config = tune_lockout(entry, route.backend, data.get("user_lockout_config"))
        if data.has("description"):
            new.description = data.get("description")
        if data.has("plugin_version"):
            version = canonical_version(data.get("plugin_version"))
            if version != BUILTIN_VERSION:
                raise ErrorResponse(f"plugin not found in the catalog: {entry.type}, version={version}")
            new.plugin_version = version
        for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys"):
            if data.has(key):
                setattr(cfg, key, data.get(key))
        if data.has("listing_visibility"):
            visibility = data.get("listing_visibility")
            if visibility not in LISTING_VISIBILITY:
                raise ErrorResponse(f"invalid listing_visibility {visibility}")
            cfg.listing_visibility = visibility
        if data.has("token_type"):
            if not is_auth:
                raise ErrorResponse("'token_type' can only be modified on auth mounts")
            if entry.type in ("token", "ns_token"):
                raise ErrorResponse("'token_type' cannot be set for 'token' or 'ns_token' auth mounts")
            token_type = data.get("token_type")
            if token_type not in TOKEN_TYPES:
                raise ErrorResponse("invalid value for 'token_type'")
            cfg.token_type = TOKEN_TYPES[token_type]
        for key in ("passthrough_request_headers", "allowed_response_headers"):
            if data.has(key):
                setattr(cfg, key, data.get(key))
        warning = _tune_options(new, data.get("options") if data.has("options") else None)
    except FieldError as exc:
        raise ErrorResponse(str(exc)) from None
    _commit(core, entry, new)
    if warning:
        return Response(warnings=[warning])
    return None


_LOCKOUT_KEYS = ("lockout_threshold", "lockout_duration", "lockout_counter_reset_duration", "lockout_disable")


def tune_lockout(entry: MountEntry, backend: Backend, given: dict[str, Any]) -> dict[str, Any]:
    """user_lockout_config: each given value replaces the mount's, the others stay (Vault's
    handleTuneWriteCommon, whose mapstructure decoding takes strings and numbers, and a bool only
    for ``lockout_disable``)."""
    for key in _LOCKOUT_KEYS:
        value = given.get(key)
        wrong = isinstance(value, bool) != (key == "lockout_disable") and value is not None
        if wrong or isinstance(value, (dict, list)):
            raise ErrorResponse("unable to convert given user lockout config information")
    if not backend.locks_out_users:
        raise ErrorResponse(f'tuning of user lockout configuration for auth type "{entry.type}" not allowed')
    tuned = dict(entry.config.user_lockout_config or {})
    threshold = _go_number_text(given.get("lockout_threshold"))
    if threshold:
        try:
            tuned["threshold"] = parse_threshold(threshold, "unable to parse user lockout threshold: ")
        except ValueError as exc:
            raise ErrorResponse(str(exc)) from None
    for key, name in (("lockout_duration", "duration"), ("lockout_counter_reset_duration", "counter_reset")):
        text = _go_number_text(given.get(key))
        if text:
            try:
                tuned[name] = parse_duration_second(text)
            except DurationError as exc:
                raise ErrorResponse(str(exc)) from None
    if given.get("lockout_disable") is not None:
        tuned["disabled"] = bool(given["lockout_disable"])
    tuned.setdefault("threshold", 0)
    tuned.setdefault("duration", 0)
    tuned.setdefault("counter_reset", 0)
    tuned.setdefault("disabled", False)
    return tuned


def _go_number_text(value: Any) -> str:
    """A JSON number as Go's json.Number keeps it (its text), a string as it is."""
    return "" if value is None else str(value)


def _tune_ttl(text: str, current: int) -> int:
    if text == "":
        return current
    if text == "system":
        return 0
    try:
        return parse_duration_second(text)
    except DurationError as exc:
        raise ErrorResponse(str(exc)) from None


def _tune_options(entry: MountEntry, options: dict[str, str] | None) -> str:
    """Merge tuned options into the entry; the KV version may go up (with Vault's warning), never down."""
    if not options:
        return ""
    warning = ""
    current = dict(entry.options or {})
    if "version" in options:
        mount_version = _parse_version(current.get("version"), "mount entry")
        wanted = _parse_version(options["version"], "options")
        if wanted not in (1, 2):
            raise ErrorResponse(f"invalid version provided: {wanted}")
        if mount_version > wanted:
            raise ErrorResponse(f"cannot downgrade mount from version {mount_version}")
        if mount_version < wanted:
            # Vault's text prints a shadowed variable as the target version: always 0. Kept verbatim.
            warning = (
                f"Upgrading mount from version {mount_version} to version 0. This mount will be "
                "unavailable for a brief period and will resume service shortly."
            )
    for key, value in options.items():
        if value == "" and key != "version":
            current.pop(key, None)
        else:
            current[key] = value
    entry.options = current
    return warning


def _commit(core: Core, entry: MountEntry, new: MountEntry) -> None:
    """Copy the tuned fields onto the live entry and persist; restore them if persisting fails."""
    saved = copy.deepcopy(entry)
    fields = ("description", "config", "options", "plugin_version")
    for name in fields:
        setattr(entry, name, getattr(new, name))
    try:
        core.update_mount(entry)
    except Exception:
        for name in fields:
            setattr(entry, name, getattr(saved, name))
        raise

"""Differential testing: send the same request to the reference server and to Tessera, compare.

``normalize`` turns the values that differ by nature between two servers (request IDs, token IDs,
accessors, UUIDs, timestamps, TTLs that tick down) into placeholders, so that two normalised bodies
can be compared with ``==``. ``assert_same_shape`` compares structure only: key sets and value types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .http import call

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Service (s./hvs.), batch (b./hvb.) and recovery (r./hvr.) token IDs.
TOKEN_RE = re.compile(r"^(?:hvs|hvb|hvr|s|b|r)\.[A-Za-z0-9_\-+/=.]{20,}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
CLUSTER_NAME_RE = re.compile(r"^vault-cluster-[0-9a-f]{8}$")

REQUEST_ID_KEYS = frozenset({"request_id"})
ACCESSOR_KEYS = frozenset({"accessor", "client_token_accessor", "secret_id_accessor", "mount_accessor"})
TOKEN_KEYS = frozenset({"id", "client_token", "token", "root_token"})
TIME_KEYS = frozenset(
    {
        "creation_time",
        "issue_time",
        "expire_time",
        "last_renewal_time",
        "last_renewal",
        "server_time_utc",
        "created_time",
        "deletion_time",
        "updated_time",
        "last_updated_time",
        "last_use_time",
        "expiration_time",
    }
)
# Remaining-time values: the two servers answer a few seconds apart, so equality allows some drift.
DRIFT_KEYS = frozenset({"ttl", "lease_duration", "creation_ttl"})
# mount_type: Tessera emits it like Vault 1.12+, OpenBao does not; tessera_version: Tessera's own
# version next to the Vault version it answers as (sys/health, sys/seal-status); tessera_workers:
# its processes per node (``workers = N``, sys/seal-status).
DEFAULT_IGNORED_KEYS = frozenset({"mount_type", "tessera_version", "tessera_workers"})


@dataclass(frozen=True, eq=False)
class Drift:
    """A duration in seconds that equals any other ``Drift`` (or int) within ``tolerance`` seconds."""

    seconds: int
    tolerance: int = 5

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Drift):
            other = other.seconds
        if isinstance(other, int) and not isinstance(other, bool):
            return abs(self.seconds - other) <= self.tolerance
        return NotImplemented

    def __hash__(self) -> int:
        return hash("drift")

    def __repr__(self) -> str:
        return f"<~{self.seconds}s>"


def _placeholder(key: str | None, value: Any, drift: int) -> Any:
    if key in REQUEST_ID_KEYS and isinstance(value, str) and value:
        return "<request_id>"
    if (
        key is not None
        and (key in ACCESSOR_KEYS or key.endswith("_accessor"))
        and isinstance(value, str)
        and value
    ):
        return "<accessor>"
    if key in TIME_KEYS and isinstance(value, (int, float, str)) and not isinstance(value, bool) and value:
        return "<time>"
    if key in DRIFT_KEYS and isinstance(value, int) and not isinstance(value, bool) and drift >= 0:
        return Drift(value, drift)
    if key in TOKEN_KEYS and isinstance(value, str) and TOKEN_RE.match(value):
        return "<token>"
    if isinstance(value, str):
        return normalize_string(value)
    return value


def normalize_string(value: str) -> str:
    """Placeholder for a string that is by nature different on each server, else the string itself."""
    if UUID_RE.match(value):
        return "<uuid>"
    if TOKEN_RE.match(value):
        return "<token>"
    if TIME_RE.match(value):
        return "<time>"
    if CLUSTER_NAME_RE.match(value):
        return "<cluster_name>"
    return value


def normalize(obj: Any, *, drift: int = 5, _key: str | None = None) -> Any:
    """A copy of a JSON value with per-server values replaced by placeholders.

    Request IDs → ``<request_id>``, accessors → ``<accessor>``, token IDs (``s.``/``hvs.``/``b.``/
    ``hvb.``/``r.``/``hvr.``) → ``<token>``, UUIDs → ``<uuid>``, timestamps (RFC 3339 strings, or the
    epoch numbers under time keys) → ``<time>``, remaining TTLs → ``Drift`` (equal within ``drift``
    seconds; ``drift=-1`` keeps the exact numbers). Dict keys that are UUIDs or tokens are replaced too.
    """
    if isinstance(obj, Mapping):
        return {
            normalize_string(k) if isinstance(k, str) else k: normalize(v, drift=drift, _key=k)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [normalize(v, drift=drift, _key=_key) for v in obj]
    return _placeholder(_key, obj, drift)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        # One kind: JSON has one number type, and Go writes a float64 with no fraction as an
        # integer (host-info's cpu_times read 5322 on one side and 5321.99 on the other).
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def shape_differences(
    a: Any, b: Any, *, ignore_keys: frozenset[str] = DEFAULT_IGNORED_KEYS, path: str = "$"
) -> list[str]:
    """Every place where ``a`` and ``b`` differ in key set or value type (lists: element-wise on the common length)."""
    ta, tb = _type_name(a), _type_name(b)
    if ta != tb:
        return [f"{path}: {ta} != {tb} ({a!r:.80} vs {b!r:.80})"]
    diffs: list[str] = []
    if ta == "object":
        ka = {k for k in a if k not in ignore_keys}
        kb = {k for k in b if k not in ignore_keys}
        if ka != kb:
            only_a, only_b = sorted(ka - kb), sorted(kb - ka)
            diffs.append(f"{path}: keys differ: only in first {only_a}, only in second {only_b}")
        for key in sorted(ka & kb):
            diffs += shape_differences(a[key], b[key], ignore_keys=ignore_keys, path=f"{path}.{key}")
    elif ta == "list":
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            diffs += shape_differences(x, y, ignore_keys=ignore_keys, path=f"{path}[{i}]")
    return diffs


def assert_same_shape(a: Any, b: Any, *, ignore_keys: frozenset[str] = DEFAULT_IGNORED_KEYS) -> None:
    """Assert that ``a`` and ``b`` have the same keys and value types, recursively."""
    diffs = shape_differences(a, b, ignore_keys=ignore_keys)
    assert not diffs, "shapes differ:\n  " + "\n  ".join(diffs)


def compare(
    reference_addr: str,
    tessera_addr: str,
    method: str,
    path: str,
    *,
    token: str | None = "root",
    reference_token: str | None = None,
    tessera_token: str | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    same_errors: bool = True,
    same_values: bool = False,
    ignore_keys: frozenset[str] = DEFAULT_IGNORED_KEYS,
) -> tuple[Any, Any]:
    """Send one request to both servers; assert the same status and body shape; return (reference, tessera) bodies.

    ``token`` goes to both unless ``reference_token``/``tessera_token`` override it (tokens differ per
    server when a test created them). With ``same_errors`` (default) an ``errors`` list must match word
    for word; with ``same_values`` the normalised bodies must be equal too.
    """
    ref_status, ref_body, _ = call(
        reference_addr, method, path, reference_token or token, json=json, headers=headers, params=params
    )
    tes_status, tes_body, _ = call(
        tessera_addr, method, path, tessera_token or token, json=json, headers=headers, params=params
    )
    where = f"{method} {path}"
    assert ref_status == tes_status, (
        f"{where}: status {tes_status} from Tessera, {ref_status} from the reference\n"
        f"  reference: {ref_body!r}\n  tessera:   {tes_body!r}"
    )
    assert_same_shape(ref_body, tes_body, ignore_keys=ignore_keys)
    if same_errors and isinstance(ref_body, Mapping) and "errors" in ref_body:
        assert tes_body.get("errors") == ref_body["errors"], (
            f"{where}: errors differ\n  reference: {ref_body['errors']!r}\n  tessera:   {tes_body.get('errors')!r}"
        )
    if same_values:
        nref = _without(normalize(ref_body), ignore_keys)
        ntes = _without(normalize(tes_body), ignore_keys)
        assert nref == ntes, f"{where}: values differ\n  reference: {nref!r}\n  tessera:   {ntes!r}"
    return ref_body, tes_body


def _without(obj: Any, keys: frozenset[str]) -> Any:
    if isinstance(obj, Mapping):
        return {k: _without(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_without(v, keys) for v in obj]
    return obj

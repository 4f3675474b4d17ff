"""HMAC'ing of audited values, as OpenBao's audit/hashstructure.go and sdk/helper/salt do it.

Each audit device has its own salt (a UUID kept through the barrier); a logged value is
``hmac-sha256:`` + hex(HMAC-SHA256(key=salt, value)), so ``sys/audit-hash`` can reproduce it.
Every string in a data map is HMAC'd except map keys, RFC 3339 timestamps and the values under
keys listed as non-HMAC; numbers, booleans and nulls are kept as they are.
"""

from __future__ import annotations

import base64
import calendar
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ..barrier.keyed_hash import KeyedSha256
from ..storage.base import Storage

HMAC_TYPE = "hmac-sha256"
SALT_KEY = "salt"

# time.Time.UnmarshalText (strict RFC 3339): a value that parses is a timestamp and stays readable.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(?:Z|[+-](\d{2}):(\d{2}))$"
)


class Salt:
    """A device's HMAC key: generated on first use and persisted, so hashes survive restarts."""

    def __init__(self, value: str) -> None:
        self.value = value
        self._hmac = KeyedSha256(value.encode())

    @classmethod
    def load(cls, storage: Storage | None) -> Salt:
        """Read the salt from the device's barrier view, creating it when absent (salt.NewSalt)."""
        if storage is None:
            return cls(str(uuid.uuid4()))
        raw = storage.get(SALT_KEY)
        if raw:
            return cls(raw.decode())
        salt = cls(str(uuid.uuid4()))
        storage.put(SALT_KEY, salt.value.encode())
        return salt

    def hmac(self, data: str) -> str:
        return self._hmac.digest(data.encode()).hex()

    def identified_hmac(self, data: str) -> str:
        """GetIdentifiedHMAC: the form every hashed value takes in an audit line."""
        return f"{HMAC_TYPE}:{self.hmac(data)}"


class LazySalt:
    """The salt of one device, read from storage once and cached (the device's Salt())."""

    def __init__(self, storage: Storage | None) -> None:
        self._storage = storage
        self._salt: Salt | None = None
        self._lock = threading.Lock()

    def get(self) -> Salt:
        salt = self._salt
        if salt is not None:
            return salt
        with self._lock:
            if self._salt is None:
                self._salt = Salt.load(self._storage)
            return self._salt

    def invalidate(self) -> None:
        with self._lock:
            self._salt = None


def is_timestamp(value: str) -> bool:
    """Whether Go's time.Time.UnmarshalText accepts ``value`` (such strings are not HMAC'd)."""
    m = _RFC3339.match(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not 1 <= month <= 12 or day < 1 or day > calendar.monthrange(year, month)[1]:
        return False
    if hour > 23 or minute > 59 or second > 59:
        return False
    return m.group(7) is None or (int(m.group(7)) <= 24 and int(m.group(8)) <= 60)


def json_copy(data: Any) -> Any:
    """A deep copy through JSON, as getUnmarshaledCopy makes one (structs become plain maps).

    Integral floats become ints because Go prints float64(5) as ``5``.
    """
    return _integralize(orjson.loads(orjson.dumps(data, default=_json_default)))


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _integralize(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _integralize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integralize(v) for v in value]
    return value


def hash_structure(
    data: dict[str, Any], fn: Callable[[str], str], non_hmac_keys: Iterable[str] = ()
) -> dict[str, Any]:
    """HMAC every string value of ``data`` (a JSON copy) in place; returns ``data``.

    A value is kept when its nearest enclosing map key is one of ``non_hmac_keys`` (lists do not
    count as a level, as in hashWalker), and when it is an RFC 3339 timestamp.
    """
    ignored = frozenset(non_hmac_keys)
    _walk_map(data, fn, ignored)
    return data


def _walk_map(obj: dict[str, Any], fn: Callable[[str], str], ignored: frozenset[str]) -> None:
    for key, value in obj.items():
        obj[key] = _walk_value(value, key, fn, ignored)


def _walk_value(value: Any, key: str, fn: Callable[[str], str], ignored: frozenset[str]) -> Any:
    if isinstance(value, str):
        if is_timestamp(value) or key in ignored:
            return value
        return fn(value)
    if isinstance(value, dict):
        _walk_map(value, fn, ignored)
        return value
    if isinstance(value, list):
        return [_walk_value(v, key, fn, ignored) for v in value]
    return value


def elide_list_data(data: dict[str, Any]) -> None:
    """elide_list_responses: ``keys`` and ``key_info`` of a LIST answer become their counts."""
    if isinstance(data.get("keys"), list):
        data["keys"] = len(data["keys"])
    if isinstance(data.get("key_info"), dict):
        data["key_info"] = len(data["key_info"])

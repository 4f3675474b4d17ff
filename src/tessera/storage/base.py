"""Storage interfaces.

``Physical`` holds opaque bytes under opaque keys (it never sees plaintext);
``Storage`` is what backends use: the barrier implements it on top of a physical backend,
and ``StorageView`` confines a backend to its own prefix.
"""

from __future__ import annotations

import abc
import builtins
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from mypy_extensions import mypyc_attr


class StorageUnavailable(Exception):
    """The physical storage cannot be reached (a database that is down or restarting).

    The message names the cause; the HTTP layer answers it with a 503 (``server/app.py``), and
    the node keeps running: the backend reconnects on a later call.
    """


@dataclass(frozen=True)
class TxnOp:
    """One write inside a transaction: ``value is None`` means delete."""

    key: str
    value: bytes | None


def children(prefix: str, keys: Iterable[str]) -> list[str]:
    """Vault list semantics: immediate children of ``prefix``, folders with a trailing '/'."""
    out: set[str] = set()
    for key in keys:
        rest = key[len(prefix) :]
        if not rest:
            continue
        idx = rest.find("/")
        out.add(rest if idx < 0 else rest[: idx + 1])
    return sorted(out)


@mypyc_attr(allow_interpreted_subclasses=True)
class KeyValueStore(abc.ABC):
    """What physical and logical storage both are: keys to bytes, listed one level at a time.

    The recursive listing and the paging below work on any of them; backends override them
    where their queries can do it at once.
    """

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def put(self, key: str, value: bytes) -> None: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    @abc.abstractmethod
    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        """Apply every op or none."""

    def list_all(self, prefix: str) -> builtins.list[str]:
        """Every key under ``prefix`` (recursive); backends may override for speed."""
        out: list[str] = []
        stack = [prefix]
        while stack:
            p = stack.pop()
            for child in self.list(p):
                if child.endswith("/"):
                    stack.append(p + child)
                else:
                    out.append(p + child)
        return sorted(out)

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        """A page of ``(key, value)`` under ``prefix`` with keys after ``after``, in key order,
        and where the next page starts (None at the end). Reading a million entries by ``list``
        and ``get`` took a query each; backends override this with one query per page."""
        keys = [k for k in self.list_all(prefix) if k > after][:limit]
        page = [(k, v) for k in keys if (v := self.get(k)) is not None]
        return page, (keys[-1] if len(keys) == limit else None)

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        """The values of those ``keys`` that exist: expiring a batch of leases reads them all, and
        backends override this with one query instead of one per key."""
        return {key: value for key in keys if (value := self.get(key)) is not None}

    def list_many(self, prefixes: builtins.list[str]) -> dict[str, builtins.list[str]]:
        """Every key under each prefix (recursive), for many prefixes at once: revoking a batch of
        tokens asks for each one's children, cubbyhole and leases. Backends whose every query is
        a round trip (PostgreSQL) answer all of them in one."""
        return {prefix: self.list_all(prefix) for prefix in prefixes}


def scan_all(store: KeyValueStore, prefix: str, page_size: int) -> Iterator[tuple[str, bytes]]:
    """Every ``(key, value)`` under ``prefix`` in key order, read ``page_size`` at a time by ``scan``."""
    after = ""
    while True:
        page, following = store.scan(prefix, after, page_size)
        yield from page
        if following is None:
            return
        after = following


@mypyc_attr(allow_interpreted_subclasses=True)
class Physical(KeyValueStore):
    """A durable (or in-memory) key/value store of opaque bytes."""

    # Both are class attributes a backend sets in its class body (``name = "sqlite"``) or on an
    # instance (a wrapper answering for its inner backend). ClassVars, because compiled code reads
    # a ClassVar as Python does, where a plain attribute's native slot would keep this default
    # whatever an interpreted subclass's class body says (the barrier would then cache shared
    # storage, or not cache SQLite).
    name: ClassVar[str] = "physical"
    # Whether a cache in front of it stays exact: this process is its only writer, or every
    # other process's commits reach it through a change feed (PostgreSQL with HA).
    cacheable: ClassVar[bool] = False

    def after_durable(self, ready: Callable[[BaseException | None], None]) -> bool:
        """Call ``ready`` once every write made so far is durable, or return False if they
        already are (the caller answers at once). Backends whose writes return durable never
        hold (SQLite's deferred acknowledgements do: see ``storage/sqlite.py``)."""
        return False

    def close(self) -> None:
        """Release connections and files (an optional hook: nothing to do by default)."""


_acks = threading.local()


class deferred_acknowledgement:
    """Writes on this thread return before they are durable; the caller promises to hold its
    answer with :meth:`Physical.after_durable` (the threaded listener does).

    A class rather than ``@contextmanager``: it wraps every request, and a generator-based
    manager costs several times as much to enter and leave.
    """

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = getattr(_acks, "deferred", False)
        _acks.deferred = True

    def __exit__(self, *exc: object) -> None:
        _acks.deferred = self._previous


def acknowledgement_deferred() -> bool:
    return bool(getattr(_acks, "deferred", False))


@mypyc_attr(allow_interpreted_subclasses=True)
class Storage(KeyValueStore):
    """Logical storage as backends see it (values are plaintext here, encrypted below)."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value (the barrier answers from its cache when it knows)."""
        return self.get(key) is not None

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        return None if raw is None else orjson.loads(raw)

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, orjson.dumps(value))

    def delete_prefix(self, prefix: str) -> None:
        keys = self.list_all(prefix)
        if keys:
            self.transaction([TxnOp(k, None) for k in keys])


class StorageView(Storage):
    """A prefix-confined view of another Storage (one per mount)."""

    def __init__(self, inner: Storage, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def _k(self, key: str) -> str:
        if ".." in key and ".." in key.split("/"):  # the split only when it can matter
            raise ValueError("key cannot contain parent references")
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        return self.inner.get(self._k(key))

    def get_json(self, key: str) -> Any:
        """``Storage.get_json`` one frame shorter: backends read their JSON through here."""
        raw = self.inner.get(self._k(key))
        return None if raw is None else orjson.loads(raw)

    def exists(self, key: str) -> bool:
        return self.inner.exists(self._k(key))

    def put(self, key: str, value: bytes) -> None:
        self.inner.put(self._k(key), value)

    def delete(self, key: str) -> None:
        self.inner.delete(self._k(key))

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(self._k(prefix))

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        self.inner.transaction([TxnOp(self._k(op.key), op.value) for op in ops])

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        cut = len(self.prefix)
        page, following = self.inner.scan(self._k(prefix), self.prefix + after if after else "", limit)
        return [(k[cut:], v) for k, v in page], (following[cut:] if following is not None else None)

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        cut = len(self.prefix)
        return {k[cut:]: v for k, v in self.inner.get_many([self._k(key) for key in keys]).items()}

    def list_many(self, prefixes: builtins.list[str]) -> dict[str, builtins.list[str]]:
        cut = len(self.prefix)
        found = self.inner.list_many([self._k(p) for p in prefixes])
        return {p: [k[cut:] for k in found[self._k(p)]] for p in prefixes}

    def sub_view(self, prefix: str) -> StorageView:
        return StorageView(self.inner, self.prefix + prefix)

"""A performance secondary keeps its primary's replicated data as it came: it writes local keys only.

Installed as the storage tap's observer while this cluster is a performance secondary: a request
that would write a replicated key (a policy, a mount, KV on a shared mount) is stopped before
anything reaches storage with :class:`ForwardToPrimary`, and the server sends the whole request to
the primary instead (``forwarding.py``), as Vault's performance secondaries do on its ErrReadOnly.
The stream writes the primary's records below the tap, past this guard.
"""

from __future__ import annotations

from typing import Any

from ..storage.base import TxnOp
from .keys import REPLICATED, KeyClassifier
from .log import TABLE_KEYS, MountLister


class ForwardToPrimary(BaseException):
    """A request tried to write replicated data on a performance secondary: the primary serves it.

    A BaseException, as the storage's ``StandbyWrite``: no handler's ``except Exception`` turns it
    into an answer. The pipeline names the caller's token entry on it (``entry``), so that the
    primary acts for the token this secondary resolved.
    """

    def __init__(self) -> None:
        super().__init__("a write of replicated data: forward it to the primary")
        self.entry: Any = None


class SecondaryGuard:
    """``mounts`` lists the mount tables: a local mount enabled here is known as local at once."""

    def __init__(self, classifier: KeyClassifier, mounts: MountLister) -> None:
        self.classifier = classifier
        self.mounts = mounts

    def extra_ops(self, ops: list[TxnOp]) -> list[TxnOp]:
        if any(self.classifier.classify(op.key) == REPLICATED for op in ops):
            raise ForwardToPrimary()
        return []

    def committed(self, ops: list[TxnOp], extra: list[TxnOp]) -> None:
        if any(op.key in TABLE_KEYS for op in ops):
            self.classifier.update(self.mounts())

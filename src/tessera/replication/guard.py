"""A performance secondary keeps its primary's replicated data as it came: it writes local keys only.

Installed as the storage tap's observer while this cluster is a performance secondary: a request
that would write a replicated key (a policy, a mount, KV on a shared mount) is stopped before
anything reaches storage with ``storage.tap.ForwardToPrimary``, and the server sends the whole
request to the primary instead (``forwarding.py``), as Vault's performance secondaries do on its
ErrReadOnly.
The stream writes the primary's records below the tap, past this guard.
"""

from __future__ import annotations

from ..storage.base import TxnOp
from ..storage.tap import ForwardToPrimary
from .keys import REPLICATED, KeyClassifier
from .log import TABLE_KEYS, MountLister


class SecondaryGuard:
    """``mounts`` lists the mount tables. Once this secondary wrote its own (local) mount tables
    the classes follow, so the data of a mount it just enabled with ``-local`` counts as local, and
    so does that of one it just disabled (``KeyClassifier.update`` remembers it): both stay here."""

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

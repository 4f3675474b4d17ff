"""A performance secondary keeps its primary's replicated data as it came: it writes local keys only.

Installed as the storage tap's observer while this cluster is a performance secondary: a request
that would write a replicated key (a policy, a mount, KV on a shared mount) is refused before
anything reaches storage. Vault forwards such writes to the primary; until Tessera does, the
client gets a clear error instead of a secondary that silently drifts from its primary. The
stream writes the primary's records below the tap, past this guard.
"""

from __future__ import annotations

from ..framework.errors import CodedError
from ..storage.base import TxnOp
from .keys import REPLICATED, KeyClassifier

REFUSED = (
    "cannot write replicated data on a performance secondary: forwarding writes to the primary is "
    "not implemented yet; write to the primary"
)


class SecondaryGuard:
    def __init__(self, classifier: KeyClassifier) -> None:
        self.classifier = classifier

    def extra_ops(self, ops: list[TxnOp]) -> list[TxnOp]:
        if any(self.classifier.classify(op.key) == REPLICATED for op in ops):
            raise CodedError(503, REFUSED)
        return []

    def committed(self, ops: list[TxnOp], extra: list[TxnOp]) -> None:
        return None

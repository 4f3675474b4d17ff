"""Issuance epochs: cutting an issuance path refuses every batch token it minted before the cut.

An issuer is the path that minted a batch token, named by id: ``auth/approle/role/ci`` (an
AppRole role), ``auth/token/create`` or ``auth/token/create/<role>``, or a login path. Each batch
token carries its issuer and the issuer's epoch at minting time; bumping the epoch refuses the
older tokens while new logins get the new epoch at once. Only bumped issuers are stored
(``sys/token/issuers/<id>`` → epoch, behind the barrier); the rest are at epoch 0. In memory it
is one dict, rebuilt from storage on invalidation, as the deny-list is.
"""

from __future__ import annotations

import threading

from ..storage.base import Storage

PREFIX = "issuers/"


class Issuers:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._epochs: dict[str, int] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        epochs: dict[str, int] = {}
        for key in self.storage.list_all(PREFIX):
            doc = self.storage.get_json(key)
            if doc is not None:
                epochs[key[len(PREFIX) :]] = int(doc.get("epoch", 0))
        self._epochs = epochs

    def epoch(self, issuer: str) -> int:
        return self._epochs.get(issuer, 0)

    def stale(self, issuer: str, epoch: int) -> bool:
        """Whether a token minted at ``epoch`` predates the issuer's last cut."""
        return epoch < self._epochs.get(issuer, 0)

    def bump(self, issuer: str) -> int:
        """Raise the issuer's epoch by one; its tokens minted before now are refused."""
        with self._lock:
            new = self.epoch(issuer) + 1
            self.storage.put_json(PREFIX + issuer, {"epoch": new})
            self._epochs = {**self._epochs, issuer: new}
        return new

    def bumped(self) -> dict[str, int]:
        return dict(self._epochs)

    def invalidate(self, issuer: str) -> None:
        doc = self.storage.get_json(PREFIX + issuer)
        with self._lock:
            epochs = dict(self._epochs)
            if doc is None:
                epochs.pop(issuer, None)
            else:
                epochs[issuer] = int(doc.get("epoch", 0))
            self._epochs = epochs

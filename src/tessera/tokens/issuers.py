"""Issuance epochs: cutting an issuance path refuses every batch token it minted before the cut.

An issuer is the path that minted a batch token, named by id: ``auth/approle/role/ci`` (an
AppRole role), ``auth/token/create`` or ``auth/token/create/<role>``, or a login path. Each batch
token carries its issuer and the issuer's epoch at minting time; bumping the epoch refuses the
older tokens while new logins get the new epoch at once. Only bumped issuers are stored
(``sys/token/issuers/<id>`` → epoch, behind the barrier); the rest are at epoch 0. In memory it
is one dict, rebuilt from storage on invalidation, as the deny-list is.

A parent token is an issuer too: ``auth/token/parent/<accessor>`` (the accessor, so the id is no
secret). A child batch token carries its parent's salted ID, so a parent's stored entry also
names that salted ID, and the parents' epochs are kept by it for the check on every request.
"""

from __future__ import annotations

import threading
from typing import Any

from ..storage.base import Storage

PREFIX = "issuers/"
PARENT_PREFIX = "auth/token/parent/"


def parent_issuer(accessor: str) -> str:
    """The issuer id of a parent token, by its accessor."""
    return PARENT_PREFIX + accessor


class Issuers:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._epochs: dict[str, int] = {}
        self._parents: dict[str, int] = {}  # a cut parent's salted ID → its epoch
        self._lock = threading.Lock()

    def load(self) -> None:
        epochs: dict[str, int] = {}
        parents: dict[str, int] = {}
        for key in self.storage.list_all(PREFIX):
            doc = self.storage.get_json(key)
            if doc is not None:
                epochs[key[len(PREFIX) :]] = _remember(doc, parents)
        self._epochs, self._parents = epochs, parents

    def epoch(self, issuer: str) -> int:
        return self._epochs.get(issuer, 0)

    def parent_epoch(self, salted_parent: str) -> int:
        """The epoch a child of this parent is minted at (0 until the parent is cut)."""
        return self._parents.get(salted_parent, 0)

    def stale(self, issuer: str, epoch: int) -> bool:
        """Whether a token minted at ``epoch`` predates the issuer's last cut."""
        return epoch < self._epochs.get(issuer, 0)

    def stale_parent(self, salted_parent: str, epoch: int) -> bool:
        """Whether a child minted at its parent's ``epoch`` predates the parent's last cut."""
        return epoch < self._parents.get(salted_parent, 0)

    def bump(self, issuer: str, salted_parent: str = "") -> int:
        """Raise the issuer's epoch by one; its tokens minted before now are refused.

        ``salted_parent``: the issuer is that parent token (``auth/token/parent/<accessor>``)."""
        with self._lock:
            new = self.epoch(issuer) + 1
            doc: dict[str, Any] = {"epoch": new}
            if salted_parent:
                doc["parent"] = salted_parent
            self.storage.put_json(PREFIX + issuer, doc)
            self._epochs = {**self._epochs, issuer: new}
            if salted_parent:
                self._parents = {**self._parents, salted_parent: new}
        return new

    def bumped(self) -> dict[str, int]:
        return dict(self._epochs)

    def invalidate(self, issuer: str) -> None:
        doc = self.storage.get_json(PREFIX + issuer)
        with self._lock:
            epochs = dict(self._epochs)
            parents = dict(self._parents)
            if doc is None:
                epochs.pop(issuer, None)
            else:
                epochs[issuer] = _remember(doc, parents)
            self._epochs, self._parents = epochs, parents


def _remember(doc: dict[str, Any], parents: dict[str, int]) -> int:
    """A stored issuer's epoch, filed under its parent's salted ID too when it is a parent."""
    epoch = int(doc.get("epoch", 0))
    parent = doc.get("parent")
    if isinstance(parent, str) and parent:
        parents[parent] = epoch
    return epoch

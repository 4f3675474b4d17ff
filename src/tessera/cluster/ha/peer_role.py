"""The cluster listener's side of a request a standby forwarded: served here while active, or refused.

A node that is not (or no longer) active does not pass a forwarded request on again: two nodes
with stale views of the HA table could hand it back and forth. It answers ``NOT_ACTIVE``
(503, with the ``NOT_ACTIVE_HEADER``) instead, before anything ran, and the standby that sent
it tries the node the HA table names next (``forwarder.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ..forwarding import NOT_ACTIVE_HEADER
from ..interfaces import HandedOver
from .node import HANode

NOT_ACTIVE = "node is not the active node"


class PeerRole:
    """The :class:`~tessera.cluster.interfaces.NodeRole` of the cluster listener's app."""

    def __init__(self, node: HANode) -> None:
        self.node = node

    def ready(self, method: str, path: str) -> bool:
        return self.node.active

    def answer(self, serve: Callable[..., int], args: Sequence[Any]) -> int:
        """A standby's client: its write's answer carries the ``X-Vault-Index`` too."""
        return self.node.index.serve(serve, args)

    def wrote(self, method: str, path: str) -> None:
        """Lost the lock while it ran: the storage refused the write, nothing to undo."""

    def served(self, method: str, path: str) -> None:
        """Nothing to remember."""

    def forward(self, request: Sequence[Any]) -> int:
        """Not active: refused, for the standby to send it to the active node."""
        body = orjson.dumps({"errors": [NOT_ACTIVE]})
        headers = [("content-type", "application/json"), (NOT_ACTIVE_HEADER, "1")]
        HandedOver(*request).proto.response_bytes(503, headers, body)
        return 503

"""sys/ha-status: the nodes of the cluster; without HA, this server alone.

``bao operator members`` reads it; Vault answers with its own node first (the one handling the
request is always the active one), so a single-node server lists exactly one active node.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ..framework import FieldData, Operation, Path, Request, Response
from ..version import VAULT_VERSION

if TYPE_CHECKING:
    from ..core.core import Core


def this_node(core: Core) -> dict[str, Any]:
    """HAStatusNode of the answering server, in Go's field order.

    ``cluster_address`` stays empty: without HA Tessera has no cluster listener (the reference
    names its port + 1 there), and an address nobody listens on would mislead an operator.
    """
    return {
        "hostname": socket.gethostname(),
        "api_address": core.config.api_addr,
        "cluster_address": "",
        "active_node": True,
        "last_echo": None,
        "version": VAULT_VERSION,
    }


def ha_status_paths(core: Core) -> list[Path]:
    """The sys/ha-status path (read only; any other operation is Vault's 405)."""

    def ha_status(req: Request, data: FieldData) -> Response:
        # With HA (answered by the active node: standbys forward it) every node heard from lately.
        nodes = core.ha.nodes() if core.ha is not None else []
        return Response(data={"nodes": nodes or [this_node(core)]})

    return [
        Path(
            r"ha-status$",
            operations={Operation.READ: ha_status},
            synopsis="Check the HA status of the cluster.",
        )
    ]

"""An HA node's cluster listener: the requests standby nodes forward, over mutual TLS only.

As Vault's cluster port: one per API listener, on its ``cluster_address`` or else its port + 1.
The handshake is TLS 1.3 with this node's cluster certificate, and it requires the client's,
verified against the cluster's CA alone (``cluster/cluster_tls.py``): anyone else, with no
certificate, another CA's or plain HTTP, is refused before a byte of HTTP is read. Until the
node has a certificate (sealed, or no active node has made the CA yet) every handshake fails.

Behind the handshake, the app serves forwarded requests only, and believes the standby's word
about who its client is (``App._route``); while this node is not active it refuses them
unserved (``cluster/ha/peer_role.py``). The server is the TLS front (``tls_front.py``): its
context is built from the certificate in memory, never from a file, and rebuilt when the
certificate is re-issued.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from OpenSSL import SSL, crypto

from ..cluster.cluster_tls import NodeTLS
from ..core.core import Core
from .app import App
from .config import ListenerConfig
from .tls_front import TLSFrontServer

log = logging.getLogger("tessera.server")

Material = Callable[[], NodeTLS | None]


def cluster_listener_configs(listeners: list[ListenerConfig]) -> list[ListenerConfig]:
    """Each API listener's cluster listener: its limits, at its cluster address."""
    out = []
    for listener in listeners:
        address = listener.cluster_address
        if not address:
            host, port = listener.host_port
            address = f"[{host}]:{port + 1}" if ":" in host else f"{host}:{port + 1}"
        out.append(dataclasses.replace(listener, address=address, cluster_address=""))
    return out


def build_cluster_server(listener: ListenerConfig, core: Core, ha: Any) -> ClusterFrontServer:
    """The cluster listener at ``listener.address``; ``ha`` is the node's role (cluster/ha/role.py)."""
    app = App(core, max_request_size=listener.max_request_size)
    ha.prepare_cluster(app)
    host, port = listener.host_port
    return ClusterFrontServer(app, host, port, listener, ha.cluster_tls)


class ClusterFrontServer(TLSFrontServer):
    """The TLS front with a context made from this node's cluster certificate, as it is now."""

    def __init__(self, app: Any, host: str, port: int, listener: ListenerConfig, material: Material) -> None:
        self.material = material
        self._built: tuple[NodeTLS | None, SSL.Context] = (None, refusing_context())
        super().__init__(app, host, port, listener, context=self._built[1])

    def handshake_context(self) -> SSL.Context:
        """On the reactor thread: the context of the current certificate (one that refuses
        every handshake while there is none)."""
        try:
            tls = self.material()
        except Exception:  # the CA could not be read (storage down): refused, the listener stays
            log.exception("cluster listener: no certificate")
            tls = None
        built = self._built
        if tls is not built[0]:
            built = (tls, refusing_context() if tls is None else cluster_context(tls))
            self._built = built
        return built[1]


def cluster_context(tls: NodeTLS) -> SSL.Context:
    """TLS 1.3, this node's certificate, and a client certificate of the cluster's CA required."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.use_certificate(tls.cert)
    ctx.use_privatekey(tls.key)
    ctx.check_privatekey()
    store = ctx.get_cert_store()
    assert store is not None  # a new context's, empty: the cluster's CA is the only trust root
    store.add_cert(crypto.X509.from_cryptography(tls.ca))
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda _c, _x, _e, _d, ok: bool(ok))
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
    ctx.set_session_id(b"tessera-cluster")
    return ctx


def refusing_context() -> SSL.Context:
    """No certificate to offer: every handshake fails."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    return ctx

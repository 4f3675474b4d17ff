"""The cluster's own TLS: a CA the first active node makes, and the node certificates it signs.

As Vault's cluster port: traffic between HA nodes is mutual TLS under a CA only the cluster
has, so a peer that shows a certificate of that CA is a node of this cluster and nothing else
is. The CA lives behind the barrier (stored by ``cluster/ha/node_tls.py``); every node, once
unsealed, signs itself a short-lived certificate for the host of its ``cluster_addr``, good for
both ends of a connection. The certificate work itself is ``runtime/mtls.py``'s, shared with
replication; this module holds the cluster's names, lifetimes and stored form.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..runtime import mtls

CA_YEARS = 10  # rotation is not offered: the CA lives as long as the cluster's data
NODE_HOURS = 24.0  # a node certificate's life
REISSUE_SHARE = 1 / 3  # re-issued once less than this share of its life is left


@dataclass(frozen=True)
class ClusterCA(mtls.Pair):
    """The cluster's CA; stored as ``{"ca_cert", "ca_key"}`` (PEM) behind the barrier."""

    def stored(self) -> dict[str, str]:
        """Its form behind the barrier (never anywhere else)."""
        return {"ca_cert": self.cert_pem(), "ca_key": self.key_pem()}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ClusterCA:
        try:
            pair = mtls.Pair.from_pem(str(stored["ca_cert"]), str(stored["ca_key"]))
        except ValueError:
            raise ValueError("the cluster CA's key is not an ECDSA key") from None
        return cls(pair.cert, pair.key)


@dataclass(frozen=True)
class NodeTLS:
    """This node's certificate and key, and the cluster CA as the only trust root."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate

    def due(self, now: float) -> bool:
        """Re-issue: less than ``REISSUE_SHARE`` of its life left."""
        start, end = self.cert.not_valid_before_utc.timestamp(), self.cert.not_valid_after_utc.timestamp()
        return now >= end - (end - start) * REISSUE_SHARE


def make_ca(cluster_name: str, now: float) -> ClusterCA:
    """A new CA for the cluster (the first active node makes it once)."""
    pair = mtls.make_ca(f"tessera-cluster-ca {cluster_name}".strip(), now, years=CA_YEARS)
    return ClusterCA(pair.cert, pair.key)


def issue_node(ca: ClusterCA, host: str, node_id: str, now: float, hours: float = NODE_HOURS) -> NodeTLS:
    """A certificate for the node at ``host`` (its ``cluster_addr``'s), server and client alike."""
    leaf = mtls.issue(ca, f"node-{node_id}", host, now, hours * 3600)
    return NodeTLS(leaf.cert, leaf.key, ca.cert)


def client_context(tls: NodeTLS) -> ssl.SSLContext:
    """A client's TLS 1.3 context: this node's certificate, the cluster CA the only root, and the
    peer's host name checked against its certificate."""
    return mtls.client_context(mtls.cert_pem(tls.ca), mtls.Pair(tls.cert, tls.key))


def host_of(cluster_addr: str) -> str:
    """The host of ``https://host:port`` (brackets off an IPv6 address)."""
    rest = cluster_addr.split("://", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest

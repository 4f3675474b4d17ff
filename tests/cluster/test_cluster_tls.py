"""The cluster's CA and node certificates: what they are, where they live, when they are re-issued."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tessera.cluster.cluster_tls import NODE_HOURS, ClusterCA, client_context, host_of, issue_node, make_ca
from tessera.cluster.ha.node_tls import CA_KEY, NodeCertificates
from tessera.core.core import Core
from tests.helpers.cores import unsealed_core


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def core() -> Iterator[Core]:
    with unsealed_core() as made:
        yield made


def test_a_node_certificate_is_signed_by_the_ca_for_both_ends_of_a_connection() -> None:
    ca = make_ca("east", time.time())
    node = issue_node(ca, "10.0.0.11", "n1", time.time())
    node.cert.verify_directly_issued_by(ca.cert)
    usage = node.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    names = node.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.11"]
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    life = node.cert.not_valid_after_utc - node.cert.not_valid_before_utc
    assert life.total_seconds() <= NODE_HOURS * 3600 + 60
    dns = issue_node(ca, "node-a.example", "n2", time.time()).cert
    assert dns.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["node-a.example"]


def test_the_stored_form_round_trips_and_the_client_context_trusts_only_the_ca() -> None:
    ca = make_ca("", time.time())
    again = ClusterCA.from_stored(ca.stored())
    assert again.cert == ca.cert and again.key.private_numbers() == ca.key.private_numbers()
    ctx = client_context(issue_node(ca, "127.0.0.1", "n1", time.time()))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3 and ctx.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "tessera-cluster-ca"),),)]


def test_host_of_a_cluster_address() -> None:
    assert host_of("https://10.0.0.11:8201") == "10.0.0.11"
    assert host_of("https://[::1]:8201") == "::1"
    assert host_of("https://vault-a.example:8201/") == "vault-a.example"
    assert host_of("vault-a.example") == "vault-a.example"


def test_the_ca_is_made_once_behind_the_barrier_and_certificates_are_reissued_when_due(core: Core) -> None:
    clock = _Clock()
    first = NodeCertificates(core, "n1", "https://127.0.0.1:8201", clock)
    assert first.material() is None  # no active node made the CA yet
    first.ensure_ca()
    stored = core.barrier.get_json(CA_KEY)
    assert stored is not None and "PRIVATE KEY" in stored["ca_key"]  # behind the barrier, not in clear
    mine = first.material()
    assert mine is not None and first.material() is mine
    second = NodeCertificates(core, "n2", "https://127.0.0.1:8203", clock)
    second.ensure_ca()  # a later active node keeps the cluster's CA
    assert core.barrier.get_json(CA_KEY) == stored
    theirs = second.material()
    assert theirs is not None and theirs.ca == mine.ca and theirs.cert != mine.cert
    clock.now += NODE_HOURS * 3600 / 2
    assert first.material() is mine  # half its life left: kept
    clock.now += NODE_HOURS * 3600 / 4
    renewed = first.material()
    assert renewed is not None and renewed is not mine and renewed.ca == mine.ca
    assert renewed.cert.not_valid_after_utc > mine.cert.not_valid_after_utc


def test_a_sealed_node_has_no_certificate(core: Core) -> None:
    certs = NodeCertificates(core, "n1", "https://127.0.0.1:8201")
    certs.ensure_ca()
    assert certs.material() is not None
    certs.forget()  # as the HA node does on seal
    core.seal()
    assert certs.material() is None

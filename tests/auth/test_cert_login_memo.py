"""The cert method's per-mount memos (parsed entries and config, revoked serials), in process:
whatever changes what a login may do is seen by the next login, in this process or another.

A real Core (``tests/tokens/conftest.py``) with a ``cert`` mount; the client certificate is put on
the request as the TLS front puts it.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tessera.auth.cert import verify
from tessera.auth.cert.entries import CERT_PREFIX, CertEntry
from tessera.auth.cert.facts import facts, facts_of, pem_facts
from tessera.auth.cert.verify import Trusted, _verified_chain
from tessera.auth.parsed import ParsedDocs
from tessera.framework import ErrorResponse, Operation, Request
from tests.helpers.pki import Issuer, Pem
from tests.tokens.conftest import CoreHarness


@pytest.fixture
def h() -> Iterator[CoreHarness]:
    harness = CoreHarness()
    harness.request(Operation.UPDATE, "sys/auth/cert", data={"type": "cert"})
    try:
        yield harness
    finally:
        harness.close()


def _login(h: CoreHarness, cert: Pem, name: str = "ci") -> Any:
    der = cert.certificate.public_bytes(serialization.Encoding.DER)
    req = Request(operation=Operation.UPDATE, path="auth/cert/login", data={"name": name}, request_id="t")
    req.peer_certificates = (der,)
    req.tls = True
    resp = h.core.handle_request(req)
    assert resp is not None and resp.auth is not None
    return resp.auth


def _refused(h: CoreHarness, cert: Pem) -> str:
    with pytest.raises(ErrorResponse) as refused:
        _login(h, cert)
    return str(refused.value)


def _crl(issuer: Issuer, serials: list[int]) -> str:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def root(h: CoreHarness, tmp_path: Path) -> Issuer:
    ca = Issuer.root(tmp_path)
    entry = {"certificate": ca.pem, "token_type": "batch", "token_ttl": "5m", "token_policies": "a"}
    h.request(Operation.UPDATE, "auth/cert/certs/ci", data=entry)
    return ca


def test_a_crl_written_or_deleted_applies_to_the_next_login(h: CoreHarness, root: Issuer) -> None:
    leaked, kept = root.issue("job-1"), root.issue("job-2")
    assert _login(h, leaked).token_type == "batch" and _login(h, kept)
    crl = _crl(root, [leaked.certificate.serial_number])
    h.request(Operation.UPDATE, "auth/cert/crls/main", data={"crl": crl})
    no_match = "no chain matching all constraints could be found for this login certificate"
    assert _refused(h, leaked) == no_match
    assert _login(h, kept).token_type == "batch"
    h.request(Operation.DELETE, "auth/cert/crls/main")
    assert _login(h, leaked).token_type == "batch"


def test_another_process_writing_a_crl_reaches_logins_through_invalidate(
    h: CoreHarness, root: Issuer
) -> None:
    leaked = root.issue("job-1")
    _login(h, leaked)  # the mount now remembers "no CRL"
    mount = h.core.router.get("auth/cert/")
    crl = {"serials": {str(leaked.certificate.serial_number): {}}}
    h.core.barrier.put(mount.entry.storage_prefix + "crls/other", orjson.dumps(crl))
    assert _login(h, leaked)  # not told yet: what a worker does before invalidation
    mount.backend.invalidate("crls/other")  # what cluster/invalidation.py calls
    assert _refused(h, leaked).startswith("no chain matching")


def test_entry_and_config_changes_apply_to_the_next_login(h: CoreHarness, root: Issuer) -> None:
    client = root.issue("job-1")
    assert _login(h, client).policies == ["a", "default"]
    h.request(Operation.UPDATE, "auth/cert/certs/ci", data={"certificate": root.pem, "token_policies": "b"})
    assert _login(h, client).policies == ["b", "default"]
    h.request(
        Operation.UPDATE,
        "auth/cert/certs/ci",
        data={"certificate": root.pem, "allowed_common_names": "web-*"},
    )
    assert _refused(h, client).startswith("no chain matching")
    h.request(
        Operation.UPDATE,
        "auth/cert/certs/ci",
        data={"certificate": root.pem, "allowed_common_names": "job-*"},
    )
    assert _login(h, client).policies == ["b", "default"]
    assert _alias_metadata(h, _login(h, client).entity_id) in (None, {})
    h.request(Operation.UPDATE, "auth/cert/config", data={"enable_identity_alias_metadata": True})
    newcomer = root.issue("job-2")  # a new alias: metadata is written when an alias is created
    assert (_alias_metadata(h, _login(h, newcomer).entity_id) or {}).get("common_name") == "job-2"


def _alias_metadata(h: CoreHarness, entity_id: str) -> Any:
    resp = h.request(Operation.READ, f"identity/entity/id/{entity_id}")
    assert resp is not None
    return resp.data["aliases"][0]["metadata"]


def test_a_batch_login_of_a_known_certificate_writes_nothing(
    h: CoreHarness, root: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = root.issue("job-1")
    _login(h, client)
    writes: list[str] = []
    for name in ("put", "delete", "transaction"):
        real = getattr(h.core.barrier, name)
        monkeypatch.setattr(h.core.barrier, name, lambda *a, _r=real, _n=name: writes.append(_n) or _r(*a))
    _login(h, client)
    _login(h, client)
    assert writes == []


def test_a_chain_is_built_once_while_every_certificate_in_it_is_valid(
    h: CoreHarness, root: Issuer, tmp_path: Path
) -> None:
    """The path through an intermediate is remembered: the same list serves the next login; a
    different trusted certificate (the entry changed) finds no remembered chain; and once a
    certificate of the chain has expired, the login is refused with Go's words, remembered or not."""
    inter = root.intermediate("memo intermediate")
    client = inter.issue("job-1")
    certs = [facts(client.certificate.public_bytes(serialization.Encoding.DER)), facts_of(inter.certificate)]
    trusted = [Trusted(CertEntry(name="ci"), list(pem_facts(root.pem)))]
    first = _verified_chain(trusted, certs)
    assert [c.der for c in first[1:]] == [certs[1].der, trusted[0].certificates[0].der]
    assert _verified_chain(trusted, certs) is first
    other = Issuer.root(tmp_path, "another root")
    assert _verified_chain([Trusted(CertEntry(name="ci"), list(pem_facts(other.pem)))], certs) == []
    brief = inter.issue("job-2", days=2 / 86400)  # type: ignore[arg-type]  # valid for two seconds
    certs[0] = facts(brief.certificate.public_bytes(serialization.Encoding.DER))
    assert _verified_chain(trusted, certs)[0] is certs[0]
    time.sleep(2.5)
    with pytest.raises(ErrorResponse) as refused:
        _verified_chain(trusted, certs)
    assert "certificate has expired or is not yet valid" in str(refused.value)


def _decisions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the verdicts drawn afresh (``verify._decide``) from here on."""
    drawn: list[str] = []
    real = verify._decide
    monkeypatch.setattr(verify, "_decide", lambda *a: drawn.append("decided") or real(*a))
    return drawn


def test_a_verdict_is_reused_until_what_decided_it_changes(
    h: CoreHarness, root: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client logging in again is not verified again while its entry and the CRLs are the same;
    an entry written anew (even with the same settings) or a CRL change draws the verdict again."""
    client = root.issue("job-1")
    _login(h, client)
    drawn = _decisions(monkeypatch)
    assert _login(h, client).token_type == "batch"
    assert _login(h, client).metadata["common_name"] == "job-1"
    assert drawn == []
    h.request(Operation.UPDATE, "auth/cert/certs/ci", data={"certificate": root.pem, "token_policies": "b"})
    assert _login(h, client).policies == ["b", "default"]
    assert drawn == ["decided"]
    h.request(Operation.UPDATE, "auth/cert/crls/main", data={"crl": _crl(root, [12345])})
    assert _login(h, client).policies == ["b", "default"]
    assert _login(h, client).policies == ["b", "default"]
    assert drawn == ["decided", "decided"]


def test_a_remembered_verdict_ends_with_a_certificate_of_its_chain(
    h: CoreHarness, root: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    brief = root.issue("job-2", days=2 / 86400)  # type: ignore[arg-type]  # valid for two seconds
    _login(h, brief)
    drawn = _decisions(monkeypatch)
    _login(h, brief)
    assert drawn == []
    time.sleep(2.5)
    assert "certificate has expired or is not yet valid" in _refused(h, brief)
    assert drawn == ["decided"]


def test_verified_logins_answer_as_verify_login(h: CoreHarness, root: Issuer, tmp_path: Path) -> None:
    """Every kind of verdict, through the memo (twice: drawn, then remembered) and without it:
    the same entry and client, or the same error."""
    pinned = Issuer.root(tmp_path, "pinned root").issue("pin-1")
    h.request(Operation.UPDATE, "auth/cert/certs/pin", data={"certificate": pinned.pem})
    h.request(
        Operation.UPDATE,
        "auth/cert/certs/web",
        data={"certificate": root.pem, "allowed_common_names": "web-*"},
    )
    stranger = Issuer.root(tmp_path, "stranger").issue("job-9")
    mount = h.core.router.get("auth/cert/")
    storage = mount.storage
    memo = verify.VerifiedLogins()
    docs = ParsedDocs()  # the same objects while the stored bytes are: the memo's second answer is remembered

    def loader(st: Any, name: str) -> CertEntry | None:
        found: CertEntry | None = docs.get(st, CERT_PREFIX + name.lower(), CertEntry.from_json)
        return found

    revoked = frozenset[int]()
    cases = [(root.issue("job-1"), n) for n in ("ci", "", "web")]
    cases += [(pinned, "pin"), (pinned, ""), (stranger, ""), (stranger, "ci")]
    for pem, name in cases:
        chain = (pem.certificate.public_bytes(serialization.Encoding.DER),)
        try:
            want: Any = verify.verify_login(storage, chain, name, verify.load_entry, lambda _s: revoked)
            want = (want[0].entry.name, want[1].der)
        except ErrorResponse as exc:
            want = str(exc)
        for _ in range(2):
            try:
                got: Any = memo.verify(storage, chain, name, loader, lambda _s: revoked)
                got = (got[0].entry.name, got[1].der)
            except ErrorResponse as exc:
                got = str(exc)
            assert got == want, (pem.certificate.subject, name)
    with pytest.raises(ErrorResponse, match="client certificate must be supplied"):
        memo.verify(storage, (), "ci", loader, lambda _s: revoked)

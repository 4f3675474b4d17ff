"""Which trusted entry, if any, a client's certificate chain logs in as (Vault's verifyCredentials).

Chains are built as Go's ``x509.Certificate.Verify`` builds them (issuer names, CA flags,
signatures checked by ``cryptography``, validity periods, the client-auth extended key usage;
cryptography's own RFC 5280 verifier would refuse client certificates without a SAN, which Vault
accepts); pinned non-CA certificates match by their exact bytes, compared in constant time.
Constraint globs follow go-glob: ``*`` matches any run of characters.
"""

from __future__ import annotations

import datetime
import functools
import hmac
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from ...framework import ErrorResponse
from ...storage.base import Storage
from .crls import revoked_serials
from .entries import CERT_PREFIX, CertEntry, load_entry
from .facts import CertFacts, facts, pem_facts

UNTRUSTED = "invalid certificate or no client certificate supplied"
NO_MATCH = "no chain matching all constraints could be found for this login certificate"
_MAX_DEPTH = 8
_MAX_CHAINS = 4096

ChainKey = tuple[tuple[bytes, ...], tuple[bytes, ...]]
# Chains built before, by the trusted certificates' bytes (in the order tried) and the presented
# chain's: each with the time window in which every one of those certificates is valid (and
# that window in POSIX seconds).
_CHAINS: dict[
    ChainKey, tuple[list[CertFacts], datetime.datetime, datetime.datetime, tuple[float, float]]
] = {}


EntryLoader = Callable[[Storage, str], CertEntry | None]


@dataclass
class Trusted:
    entry: CertEntry
    certificates: list[CertFacts]


def glob(pattern: str, subject: str) -> bool:
    """go-glob's Glob: ``*`` is the only wildcard; a pattern without one must equal the subject."""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == subject
    if not subject.startswith(parts[0]) or not subject.endswith(parts[-1]):
        return False
    pos, end = len(parts[0]), len(subject) - len(parts[-1])
    for middle in parts[1:-1]:
        found = subject.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return pos <= end


def verify_login(
    storage: Storage,
    chain_der: tuple[bytes, ...],
    name: str,
    load: EntryLoader = load_entry,
    revoked_of: Callable[[Storage], Collection[int]] = revoked_serials,
) -> tuple[Trusted, CertFacts]:
    """The entry the presented chain matches, or an ErrorResponse with Vault's words.

    ``load`` reads an entry and ``revoked_of`` the revoked serials (a renewal reads storage;
    a login goes through :class:`VerifiedLogins`, which passes the mount's memos of both)."""
    if not chain_der:
        raise ErrorResponse("client certificate must be supplied")
    entries = _load_entries(storage, name, load)
    trusted, client, _window = _decide(entries, chain_der, revoked_of(storage))
    return trusted, client


@dataclass(frozen=True)
class _Verified:
    """A login's verdict and what it was drawn from: the entries (the very objects the mount's
    parsed-document memo handed out), the revoked serials (the object the mount's memo held),
    and the POSIX seconds between which the same chain is found (every certificate valid)."""

    entries: tuple[CertEntry, ...]
    revoked: Collection[int]
    trusted: Trusted
    client: CertFacts
    start: float
    end: float


class VerifiedLogins:
    """One mount's verdicts for the chains that logged in lately, by entry name and chain bytes.

    A client logging in again presents the same chain over and over; the verdict
    (:func:`verify_login`'s: the chain built, revocation, the entries' constraints) depends only
    on the chain's bytes, the trusted entries, the revoked serials and, through validity periods,
    the time. Every login still reads its entries and the revoked serials (a change made here or
    by another process is seen at once, as before); when those are the very objects the verdict
    was drawn from (the mount's memos hand out the same object until the stored bytes change)
    and the time is within the window in which every certificate involved is valid, the verdict
    is reused, else drawn again. Only successful verdicts are kept; bounded like the chain memo.
    """

    def __init__(self, limit: int = _MAX_CHAINS) -> None:
        self.limit = limit
        self._verdicts: dict[tuple[str, tuple[bytes, ...]], _Verified] = {}

    def verify(
        self,
        storage: Storage,
        chain_der: tuple[bytes, ...],
        name: str,
        load: EntryLoader,
        revoked_of: Callable[[Storage], Collection[int]],
    ) -> tuple[Trusted, CertFacts]:
        """:func:`verify_login`'s answer, the same in every case."""
        if not chain_der:
            raise ErrorResponse("client certificate must be supplied")
        entries = _load_entries(storage, name, load)
        revoked = revoked_of(storage)
        key = (name, chain_der)
        now = time.time()
        seen = self._verdicts.get(key)
        if (
            seen is not None
            and seen.revoked is revoked
            and seen.start <= now <= seen.end
            and len(seen.entries) == len(entries)
            and all(a is b for a, b in zip(seen.entries, entries, strict=True))
        ):
            return seen.trusted, seen.client
        trusted, client, window = _decide(entries, chain_der, revoked)
        if window is not None and window[0] <= now <= window[1]:
            if len(self._verdicts) >= self.limit:
                self._verdicts.clear()  # bounded: a flood of distinct chains only costs deciding again
            self._verdicts[key] = _Verified(tuple(entries), revoked, trusted, client, *window)
        return trusted, client


def _decide(
    entries: list[CertEntry], chain_der: tuple[bytes, ...], revoked: Collection[int]
) -> tuple[Trusted, CertFacts, tuple[float, float] | None]:
    """Vault's verifyCredentials over loaded entries: the matching entry, the client's facts, and
    the window (POSIX seconds) in which the same verdict holds (None: not to be reused)."""
    certs = [facts(der) for der in chain_der]
    client = certs[0]
    cas, pinned = _trusted_of(entries)
    for trusted in pinned:
        if (
            hmac.compare_digest(trusted.certificates[0].der, client.der)
            and not _revoked(trusted.certificates, revoked)
            and matches_constraints(client, trusted.entry)
        ):
            return trusted, client, (-math.inf, math.inf)  # no validity period is read
    chain, window = _verified_chain_in(cas, certs)
    if not chain:
        raise ErrorResponse(UNTRUSTED)
    if not _revoked(chain, revoked):
        in_chain = {c.der for c in chain}
        for trusted in cas:
            intersects = any(t.der in in_chain for t in trusted.certificates)
            if intersects and matches_constraints(client, trusted.entry):
                return trusted, client, window
    raise ErrorResponse(NO_MATCH)


def _revoked(chain: list[CertFacts], serials: Collection[int]) -> bool:
    """checkForChainInCRLs: a chain with any revoked serial matches nothing."""
    return bool(serials) and any(cert.serial_number in serials for cert in chain)


def _load_entries(storage: Storage, name: str, load: EntryLoader) -> list[CertEntry]:
    """The entry ``name``, or every entry when no name is given (by name), as ``load`` reads them."""
    names = [name] if name else [k for k in storage.list(CERT_PREFIX) if not k.endswith("/")]
    found = (load(storage, entry_name) for entry_name in sorted(names))
    return [entry for entry in found if entry is not None]


def _trusted_of(entries: list[CertEntry]) -> tuple[list[Trusted], list[Trusted]]:
    """The entries' certificates: CA entries and pinned (non-CA) ones; entries without any skipped."""
    cas: list[Trusted] = []
    pinned: list[Trusted] = []
    for entry in entries:
        parsed = list(pem_facts(entry.certificate) + pem_facts(entry.ocsp_ca_certificates))
        if parsed:
            (cas if parsed[0].is_ca else pinned).append(Trusted(entry, parsed))
    return cas, pinned


def _verified_chain(cas: list[Trusted], certs: list[CertFacts]) -> list[CertFacts]:
    """Go's Certificate.Verify with the trusted CAs as roots and the rest of the client's chain as
    intermediates: [] for an unknown authority, an ErrorResponse for any other failure.

    Remembered by the exact bytes of the roots and of the presented chain, for as long as every
    one of them is valid: within that window the validity checks all pass and the path search
    finds the same chain (a client logging in again costs no search). A changed entry brings
    other roots, hence another key; revocation and constraints are checked by the caller at
    every login."""
    return _verified_chain_in(cas, certs)[0]


def _verified_chain_in(
    cas: list[Trusted], certs: list[CertFacts]
) -> tuple[list[CertFacts], tuple[float, float] | None]:
    """:func:`_verified_chain`, and the window (POSIX seconds) in which every certificate involved
    is valid, when the time is within it (else None)."""
    roots = [c for t in cas for c in t.certificates]
    if not roots:
        return [], None
    now = datetime.datetime.now(datetime.UTC)
    key = (tuple(c.der for c in roots), tuple(c.der for c in certs))
    found = _CHAINS.get(key)
    if found is not None and found[1] <= now <= found[2]:
        return found[0], found[3]
    chain = _build_chain(roots, certs, now)
    every = [*roots, *certs]
    start, end = max(c.not_before for c in every), min(c.not_after for c in every)
    if not start <= now <= end:
        return chain, None
    if len(_CHAINS) >= _MAX_CHAINS:
        _CHAINS.clear()  # bounded: a flood of distinct chains only costs building them again
    window = (start.timestamp(), end.timestamp())
    _CHAINS[key] = (chain, start, end, window)
    return chain, window


def _build_chain(roots: list[CertFacts], certs: list[CertFacts], now: datetime.datetime) -> list[CertFacts]:
    """The chain ``_verified_chain`` describes, built at ``now``."""
    for cert in certs:
        _check_validity(cert, now)
    chain = _extend([certs[0]], certs[1:], roots, now)
    if not chain:
        return []
    if not all(cert.allows_client_auth for cert in chain[:-1]):
        raise ErrorResponse(
            "failed to verify client's certificate: x509: certificate specifies an incompatible key usage"
        )
    return chain


def _extend(
    chain: list[CertFacts], intermediates: list[CertFacts], roots: list[CertFacts], now: datetime.datetime
) -> list[CertFacts] | None:
    """A path from ``chain[-1]`` to a root, through intermediates not used yet (depth-first)."""
    current = chain[-1]
    if any(current.der == root.der for root in roots):
        return chain
    for root in roots:
        if _valid_at(root, now) and _issued_by(current.der, root.der):
            return [*chain, root]
    if len(chain) >= _MAX_DEPTH:
        return None
    for candidate in intermediates:
        if candidate not in chain and _issued_by(current.der, candidate.der):
            found = _extend([*chain, candidate], intermediates, roots, now)
            if found:
                return found
    return None


@functools.lru_cache(maxsize=4096)
def _issued_by(child_der: bytes, parent_der: bytes) -> bool:
    """Issuer name, CA flag and signature, remembered per exact (child, parent) bytes: a client
    logging in again costs no second signature check (validity periods are checked every time)."""
    child, parent = facts(child_der), facts(parent_der)
    if not parent.is_ca or child.certificate.issuer != parent.certificate.subject:
        return False
    try:
        child.certificate.verify_directly_issued_by(parent.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_at(cert: CertFacts, now: datetime.datetime) -> bool:
    return cert.not_before <= now <= cert.not_after


def _check_validity(cert: CertFacts, now: datetime.datetime) -> None:
    if _valid_at(cert, now):
        return
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if now < cert.not_before:
        detail = f"current time {stamp} is before {cert.not_before.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    else:
        detail = f"current time {stamp} is after {cert.not_after.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    raise ErrorResponse(
        f"failed to verify client's certificate: x509: certificate has expired or is not yet valid: {detail}"
    )


# -- constraints ---------------------------------------------------------------------------------
def matches_constraints(client: CertFacts, entry: CertEntry) -> bool:
    cn = client.common_name
    return (
        _any(entry.allowed_names, [cn, *client.dns_names, *client.emails])
        and _any(entry.allowed_common_names, [cn])
        and _any(entry.allowed_dns_sans, client.dns_names)
        and _any(entry.allowed_email_sans, client.emails)
        and _any(entry.allowed_uri_sans, client.uris)
        and _any(entry.allowed_organizational_units, client.organizational_units)
        and _has_extensions(client, entry.required_extensions)
    )


def _any(patterns: list[str] | None, values: list[str] | tuple[str, ...]) -> bool:
    """No patterns allow everything; otherwise one pattern must match one value."""
    return not patterns or any(glob(p, v) for p in patterns for v in values)


def _has_extensions(client: CertFacts, required: list[str] | None) -> bool:
    if not required:
        return True
    present = client.extension_map
    if not present:
        return False
    for item in required:
        oid, _, pattern = item.partition(":")
        if oid not in present or not glob(pattern, present[oid]):
            return False
    return True

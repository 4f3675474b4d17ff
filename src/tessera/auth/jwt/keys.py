"""Where a JWT's signing keys come from: PEM keys in the config, a JWKS URL, or OIDC discovery.

Signatures are checked by PyJWT's algorithms (on ``cryptography``); the compact form is taken apart
here, strictly, because PyJWT's own parsing costs more than the RSA check itself. Every asymmetric algorithm the reference
accepts is allowed (RS, PS, ES, EdDSA); ``none`` and the HMAC family never validate. A JWKS is
fetched over HTTPS (trusting ``jwks_ca_pem`` when given), cached, and fetched again when a token
names a ``kid`` the cached set does not have, so a key rotation needs no restart.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from binascii import a2b_base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import jwt
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.x509 import load_pem_x509_certificates

from ...framework import ErrorResponse

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA")
NO_KEY = "no known key successfully validated the token signature"
REMOTE_NO_KEY = "failed to verify id token signature"  # the reference's words for a JWKS
ILLEGAL_BASE64 = "go-jose/go-jose: illegal base64 data in JWS"
THREE_PARTS = "go-jose/go-jose: compact JWS format must have three parts"
FETCH_TIMEOUT = 10.0


class SignatureError(Exception):
    """The token's signature could not be verified (text after "error verifying token signature: ")."""


def parse_pem_keys(pems: list[str]) -> list[Any]:
    """Public keys (or certificates' keys) from PEM text, one or more per entry."""
    keys = []
    for pem in pems:
        data = pem.encode()
        try:
            keys.append(load_pem_public_key(data))
            continue
        except ValueError:
            pass
        try:
            keys.extend(cert.public_key() for cert in load_pem_x509_certificates(data))
        except ValueError:
            raise ErrorResponse(
                "error parsing public key: data does not contain any valid public keys"
            ) from None
    return keys


def _std_alphabet() -> bytes:
    """A ``bytes.translate`` table: the URL alphabet to the standard one, ``.`` kept, and every
    other byte (``+``, ``/``, ``=``, white space, anything else) to ``!``, which the strict
    base64 decoder refuses: one pass checks the alphabet of all three parts and readies them for
    decoding (a regex over the token and a translation per part cost twice as much)."""
    table = bytearray(b"!" * 256)
    for byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.":
        table[byte] = byte
    table[ord("-")], table[ord("_")] = ord("+"), ord("/")
    return bytes(table)


_TO_STD = _std_alphabet()
# What completes a part of each length % 4: a length of 1 % 4 is no base64 (go-jose refuses it),
# and its "!" makes the strict decoder say so.
_PADDING = (b"", b"!", b"==", b"=")
_ALGORITHMS = jwt.algorithms.get_default_algorithms()
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "RS": (rsa.RSAPublicKey,),
    "PS": (rsa.RSAPublicKey,),
    "ES": (ec.EllipticCurvePublicKey,),
    "Ed": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}
_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
# RS256/384/512's padding and hashes: stateless, made once (PyJWT makes both on every check).
_PKCS1 = padding.PKCS1v15()
_PKCS1_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}


def _pkcs1_verifier(hash_: hashes.HashAlgorithm) -> Callable[[bytes, Any, bytes], bool]:
    """PyJWT's ``RSAAlgorithm.verify`` for one hash, without the two objects it makes per call
    (a wrong signature raises ``InvalidSignature``, which ``verifies`` turns into False)."""

    def verify(msg: bytes, key: Any, sig: bytes) -> bool:
        cast(rsa.RSAPublicKey, key).verify(sig, msg, _PKCS1, hash_)
        return True

    return verify


# Each algorithm's signature check, (message, key, signature) -> bool: PyJWT's, RS* direct.
_VERIFIERS: dict[str, Callable[[bytes, Any, bytes], bool]] = {
    **{alg: algorithm.verify for alg, algorithm in _ALGORITHMS.items()},
    **{alg: _pkcs1_verifier(hash_) for alg, hash_ in _PKCS1_HASHES.items()},
}


class JWS:
    """A compact JWS taken apart (nothing verified yet)."""

    __slots__ = ("alg", "claims", "header", "signature", "signing_input")

    def __init__(
        self, header: dict[str, Any], claims: dict[str, Any], signing_input: bytes, signature: bytes
    ):
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature
        self.alg = str(header.get("alg", ""))

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) and kid else None


def parse_jws(token: str) -> JWS:
    """The three parts of a compact JWS, as go-jose reads them: strictly (the URL alphabet, no
    padding; anything else is "illegal base64"), then the header and claims as JSON objects."""
    if not token.isascii():  # never a JWS; which of go-jose's errors it gets
        raise SignatureError(THREE_PARTS if token.count(".") != 2 else ILLEGAL_BASE64)
    raw = token.encode()
    std = raw.translate(_TO_STD)
    first = std.find(b".")  # (bytes.find is a memchr, bytes.split a loop over every byte)
    second = std.find(b".", first + 1)
    if first < 0 or second < 0 or std.find(b".", second + 1) >= 0:
        raise SignatureError(THREE_PARTS)
    header_b64, payload_b64, signature_b64 = std[:first], std[first + 1 : second], std[second + 1 :]
    header = _HEADERS.get(header_b64)
    try:
        if header is None:
            header_raw = a2b_base64(header_b64 + _PADDING[len(header_b64) & 3], strict_mode=True)
        payload = a2b_base64(payload_b64 + _PADDING[len(payload_b64) & 3], strict_mode=True)
        signature = a2b_base64(signature_b64 + _PADDING[len(signature_b64) & 3], strict_mode=True)
    except binascii.Error:
        raise SignatureError(ILLEGAL_BASE64) from None
    try:
        claims = orjson.loads(payload)
        if header is None:
            header = _header(header_b64, orjson.loads(header_raw))
    except orjson.JSONDecodeError:
        raise SignatureError("go-jose/go-jose: invalid JSON in JWS") from None
    if type(header) is not dict or type(claims) is not dict:
        raise SignatureError("go-jose/go-jose: invalid JSON in JWS")
    return JWS(header, claims, raw[:second], signature)


# Headers already read, by their encoded text: an issuer signs every token with one of a few
# (alg, kid, typ). Only JSON objects are kept (a hit is a header that decodes and parses, so
# every other part is read and refused as before); shared, never modified; bounded.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_HEADERS_KEPT = 256


def _header(encoded: bytes, header: Any) -> Any:
    """``header`` (parsed from ``encoded``), remembered when it is a JSON object."""
    if type(header) is dict:
        if len(_HEADERS) >= _HEADERS_KEPT:
            _HEADERS.clear()
        _HEADERS[encoded] = header
    return header


def verifies(jws: JWS, key: Any) -> bool:
    """Whether ``key`` (a ``cryptography`` public key) signed ``jws`` with its declared algorithm."""
    alg = jws.alg
    if alg not in ALGORITHMS or not key_fits(key, alg[:2]):
        return False
    if alg in _CURVES and key.curve.name != _CURVES[alg]:
        return False
    try:
        return bool(_VERIFIERS[alg](jws.signing_input, key, jws.signature))
    except Exception:  # a malformed or wrong signature for the key (InvalidSignature included)
        return False


# Whether a key class is of an algorithm family's key types, by (class, family): the types are
# ABCs, whose ``isinstance`` runs ``ABCMeta.__instancecheck__`` in Python (~1.2k instructions)
# on every check. A handful of classes (cryptography's key classes) and four families.
_FITS: dict[tuple[type, str], bool] = {}


def key_fits(key: Any, family: str) -> bool:
    """``isinstance(key, _KEY_TYPES[family])`` (family: "RS", "PS", "ES", "Ed"), remembered by
    the key's class."""
    kind = (type(key), family)
    fits = _FITS.get(kind)
    if fits is None:
        fits = _FITS[kind] = isinstance(key, _KEY_TYPES[family])
    return fits


class Verified:
    """Tokens whose signature one key source has checked, by a 256-bit digest of the token's text.

    A client logging in again with the same JWT (a Kubernetes service-account token, an agent's
    re-authentication, a CI job's retries) need not pay the signature check again (RSA ~20 µs,
    ECDSA ~65 µs): the same bytes under the same keys verify the same way. Everything else (the
    algorithm, times, audience, bound claims) is still checked on every login. Only digests are
    kept (no token text stays in memory); bounded, and emptied whenever the keys change (the key
    source is rebuilt with the config, and a JWKS refresh starts a new memo with its keys).
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._seen: set[bytes] = set()

    @staticmethod
    def digest(token: str) -> bytes:
        """The token's 256-bit BLAKE2b digest: as collision-resistant as SHA-256 and, without
        SHA instructions in the CPU, half its cost (~15k instructions a token against ~28k)."""
        return hashlib.blake2b(token.encode(), digest_size=32).digest()

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._seen

    def add(self, digest: bytes) -> None:
        """Remember a checked token."""
        if len(self._seen) >= self.limit:
            self._seen = set()  # a flood of distinct tokens only costs checking them again
        self._seen.add(digest)


class StaticKeys:
    """``jwt_validation_pubkeys``: try each configured key, the one that verified last first.

    A config listing the old and the new key of a rotation would otherwise check every token
    signed with the new key against the old one first (a failed RSA check costs what a good one
    does); PEM keys carry no ``kid`` to pick by.
    """

    def __init__(self, pems: list[str]) -> None:
        self.keys = parse_pem_keys(pems)
        self.verified = Verified()
        self._last = 0  # index of the key that verified last

    def verify(self, token: str) -> tuple[dict[str, Any], str]:
        jws = parse_jws(token)
        digest = Verified.digest(token)
        if digest in self.verified:
            return jws.claims, jws.alg
        if self._signed_by_a_key(jws):
            self.verified.add(digest)
            return jws.claims, jws.alg
        raise SignatureError(NO_KEY)

    def _signed_by_a_key(self, jws: JWS) -> bool:
        keys, last = self.keys, self._last
        if last < len(keys) and verifies(jws, keys[last]):
            return True
        for index, key in enumerate(keys):
            if index != last and verifies(jws, key):
                self._last = index
                return True
        return False


def tls_context(ca_pem: str) -> ssl.SSLContext:
    """The context for fetching keys: the system's roots, or only ``ca_pem`` when given."""
    if ca_pem:
        try:
            return ssl.create_default_context(cadata=ca_pem)
        except ssl.SSLError:
            raise ErrorResponse("could not parse CA PEM value successfully") from None
    return ssl.create_default_context()


LocalFetch = Callable[[str], Any]


def fetch_json(url: str, context: ssl.SSLContext, local: LocalFetch | None = None) -> Any:
    """GET ``url`` and parse it; errors worded like Go's HTTP client's.

    ``local`` answers for URLs of this very server (its own OIDC issuer), which a request must not
    fetch over the network: the thread serving it would wait on itself.
    """
    if local is not None:
        found = local(url)
        if found is not None:
            return found
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT, context=context) as answer:
            body = answer.read(4 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        raise SignatureError(f"{exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as failed:
        raise SignatureError(f'Get "{url}": {_go_reason(url, getattr(failed, "reason", failed))}') from None
    try:
        return json.loads(body)
    except ValueError as undecodable:
        raise SignatureError(f"failed to decode keys: {undecodable}") from None


def _go_reason(url: str, reason: Any) -> str:
    """The common network failures in the words of Go's HTTP client, which the reference prints."""
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if isinstance(reason, ConnectionRefusedError):
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return f"dial tcp {parsed.hostname}:{port}: connect: connection refused"
    return str(reason)


@dataclass(frozen=True)
class KeySet:
    """One fetch of a JWKS: its keys, the same by ``kid``, and the memo of tokens they verified.

    Replaced whole by a refresh (a new memo with it), so a login reads keys and memo of the same
    moment without a lock, and a check made against the old keys lands in the old memo.
    """

    keys: tuple[jwt.PyJWK, ...] = ()
    by_kid: dict[str, tuple[jwt.PyJWK, ...]] = field(default_factory=dict)
    verified: Verified = field(default_factory=Verified)

    @classmethod
    def of(cls, keys: list[jwt.PyJWK]) -> KeySet:
        by_kid: dict[str, tuple[jwt.PyJWK, ...]] = {}
        for key in keys:
            if key.key_id:
                by_kid[key.key_id] = (*by_kid.get(key.key_id, ()), key)
        return cls(tuple(keys), by_kid)

    def candidates(self, kid: str | None) -> tuple[jwt.PyJWK, ...]:
        """The keys that may have signed a token naming ``kid`` (all of them when it names none)."""
        return self.by_kid.get(kid, ()) if kid else self.keys


class RemoteKeys:
    """A JWKS behind a URL, cached; a token with an unknown ``kid`` triggers one fresh fetch."""

    def __init__(self, url: str, ca_pem: str, local: LocalFetch | None = None) -> None:
        self.url = url
        self.context = tls_context(ca_pem)
        self.local = local
        self.fetch_lock = threading.Lock()
        self.keyset = KeySet()

    @property
    def verified(self) -> Verified:
        return self.keyset.verified

    def refresh(self) -> None:
        try:
            doc = fetch_json(self.url, self.context, self.local)
        except SignatureError as exc:
            raise SignatureError(f"fetching keys oidc: get keys failed {exc}") from None
        try:
            keyset = jwt.PyJWKSet.from_dict(doc)
        except jwt.PyJWTError as undecodable:
            raise SignatureError(f"fetching keys oidc: failed to decode keys: {undecodable}") from None
        self.keyset = KeySet.of(list(keyset.keys))  # a key may have gone: check every token again

    def _refresh_once(self, kid: str | None) -> KeySet:
        """Fetch again for an unknown key ID; concurrent logins wait for one fetch, not one each."""
        with self.fetch_lock:
            if not self.keyset.candidates(kid):
                self.refresh()
            return self.keyset

    def verify(self, token: str) -> tuple[dict[str, Any], str]:
        jws = parse_jws(token)
        if jws.alg not in ALGORITHMS:
            raise SignatureError(REMOTE_NO_KEY)
        digest = Verified.digest(token)
        keyset = self.keyset
        if digest in keyset.verified:
            return jws.claims, jws.alg
        candidates = keyset.candidates(jws.kid)
        if not candidates:
            keyset = self._refresh_once(jws.kid)
            candidates = keyset.candidates(jws.kid)
        if any(verifies(jws, key.key) for key in candidates):
            keyset.verified.add(digest)
            return jws.claims, jws.alg
        raise SignatureError(REMOTE_NO_KEY)


def discover_jwks_url(discovery_url: str, ca_pem: str, local: LocalFetch | None = None) -> str:
    """The ``jwks_uri`` of an OIDC provider, after checking it names itself as ``discovery_url``."""
    url = discovery_url.rstrip("/") + "/.well-known/openid-configuration"
    doc = fetch_json(url, tls_context(ca_pem), local)
    issuer = doc.get("issuer") if isinstance(doc, dict) else None
    if issuer != discovery_url:
        raise SignatureError(
            f'oidc: issuer did not match the issuer returned by provider, expected "{discovery_url}" got "{issuer}"'
        )
    uri = doc.get("jwks_uri")
    if not isinstance(uri, str) or not uri:
        raise SignatureError("oidc: provider document has no jwks_uri")
    return uri

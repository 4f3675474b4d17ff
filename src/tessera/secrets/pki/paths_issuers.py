"""Paths that create, import, name and choose CAs: root/*, intermediate/*, config/ca, issuers, keys."""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ...gocompat.times import rfc3339_datetime
from . import authority, issuing, revocation, x509util
from .store import Issuer, Key, PKIStore, storage_of
from .subject import CA_FIELDS, ca_subject_extra, template_from

MountTTLs = Callable[[], tuple[int, int]]
_GEN_TYPES = ("internal", "exported", "existing", "kms")
INTERMEDIATE_AIA_WARNING = (
    issuing.AIA_WARNING + " Since this certificate is an intermediate, it might be useful to regenerate "
    "this certificate after fixing this problem for the root mount."
)
NO_SUBJECT_WARNING = (
    "This issuer certificate was generated without a Subject; this makes it likely that issuing leaf "
    "certs with this certificate will cause TLS validation libraries to reject this certificate."
)
DELETE_ROOT_WARNING = (
    "DELETE /root deletes all keys and issuers; prefer the new DELETE /key/:key_ref and DELETE "
    "/issuer/:issuer_ref for finer granularity, unless removal of all keys and issuers is desired."
)


def _store(req: Request) -> PKIStore:
    return PKIStore(storage_of(req))


def _gen_type(data: FieldData) -> str:
    kind: str = data.get("exported")
    if kind not in _GEN_TYPES:
        raise ErrorResponse(
            'the "exported" path parameter must be "internal", "existing", exported" or "kms"'
        )
    if kind == "kms":
        raise ErrorResponse("managed keys are not supported")
    return kind


def _new_or_existing_key(
    store: PKIStore, data: FieldData, kind: str
) -> tuple[x509util.PrivateKey, Key | None]:
    if kind == "existing":
        key = store.resolve_key(data.get("key_ref"))
        return x509util.load_private_key(key.private_key), key
    if data.get("key_name") and any(k.name == data.get("key_name") for k in store.all_keys()):
        raise ErrorResponse("key name already in use")
    return x509util.generate_key(data.get("key_type"), data.get("key_bits")), None


def _key_answer(out: dict[str, Any], kind: str, key: x509util.PrivateKey, fmt: str, key_format: str) -> None:
    if kind == "exported":
        out["private_key"] = issuing.key_output(key, fmt, key_format)
        out["private_key_type"] = x509util.key_type_of(key)


class IssuerHandlers:
    """The issuer and key handlers of one mount, with the mount's TTLs."""

    def __init__(self, mount_ttls: MountTTLs) -> None:
        self.mount_ttls = mount_ttls

    def generate_root(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        kind = _gen_type(data)
        fmt = issuing.check_format(data)
        name = data.get("issuer_name")
        if store.name_in_use(name):
            raise ErrorResponse("issuer name already in use")
        private, existing = _new_or_existing_key(store, data, kind)
        cn = data.get("common_name")
        t = template_from(data, cn, ca_subject_extra(data))
        t.is_ca, t.max_path_length = True, data.get("max_path_length")
        t.key_usage = ["CertSign", "CRLSign"]
        window = issuing.validity(
            data.get("ttl"), 0, 0, self.mount_ttls(), data.get("not_before_duration"), None
        )
        t.not_before, t.not_after = window.not_before, window.not_after
        has_aia = issuing.aia_template(store, None, t)
        cert = x509util.build_certificate(t, private.public_key(), private, None)  # type: ignore[arg-type]
        key = existing or store.add_key(private, data.get("key_name"))
        issuer, _ = authority.add_issuer(store, cert, name)
        authority.rebuild_chains(store)
        revocation.rebuild_crls(store)
        out: dict[str, Any] = {
            "certificate": issuing.cert_output(cert, fmt),
            "expiration": int(cert.not_valid_after_utc.timestamp()),
            "issuer_id": issuer.id,
            "issuer_name": issuer.name,
            "issuing_ca": issuing.cert_output(cert, fmt),
            "key_id": key.id,
            "key_name": key.name,
            "serial_number": x509util.format_serial(cert.serial_number),
        }
        _key_answer(out, kind, private, fmt, data.get("private_key_format"))
        warnings = list(window.warnings)
        if not len(cert.subject):
            warnings.append(NO_SUBJECT_WARNING)
        if not has_aia:
            warnings.append(issuing.AIA_WARNING)
        return Response(data=out, warnings=warnings)

    def generate_intermediate(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        kind = _gen_type(data)
        fmt = issuing.check_format(data)
        private, existing = _new_or_existing_key(store, data, kind)
        t = template_from(data, data.get("common_name"), ca_subject_extra(data))
        csr = x509util.build_csr(t, private)
        key = existing or store.add_key(private, data.get("key_name"))
        out: dict[str, Any] = {"csr": x509util.csr_pem(csr), "key_id": key.id}
        if fmt == "der":
            out["csr"] = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
        _key_answer(out, kind, private, fmt, data.get("private_key_format"))
        warnings = [] if store.urls()["issuing_certificates"] else [INTERMEDIATE_AIA_WARNING]
        return Response(data=out, warnings=warnings)

    def sign_intermediate(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        fmt = issuing.check_format(data)
        issuer, key = store.signing_issuer(data.get("issuer_ref") or "default")
        csr = x509util.parse_csr(data.get("csr"))
        cn = data.get("common_name") or x509util.common_name_of(csr.subject)
        if data.get("use_csr_values"):
            cn = x509util.common_name_of(csr.subject)
        t = template_from(data, cn, ca_subject_extra(data))
        t.is_ca, t.max_path_length = True, data.get("max_path_length")
        t.key_usage = ["CertSign", "CRLSign"]
        window = issuing.validity(
            data.get("ttl"), 0, 0, self.mount_ttls(), data.get("not_before_duration"), issuer.cert, "permit"
        )
        t.not_before, t.not_after = window.not_before, window.not_after
        has_aia = issuing.aia_template(store, issuer, t)
        signer = x509util.load_private_key(key.private_key)
        cert = x509util.build_certificate(t, csr.public_key(), signer, issuer.cert)  # type: ignore[arg-type]
        store.store_cert(cert)
        out = issuing.leaf_response(cert, issuer, fmt, None, "der")
        out.pop("not_before")
        out["ca_chain"] = [issuing.cert_output(cert, fmt), *out["ca_chain"]]  # the new CA heads its chain
        warnings = list(window.warnings)
        if data.get("max_path_length") == 0:
            warnings.append(
                "Max path length of the signed certificate is zero. This certificate cannot be used to issue "
                "intermediate CA certificates."
            )
        if cert.not_valid_after_utc > issuer.cert.not_valid_after_utc:
            warnings.append(
                "The expiration time for the signed certificate is after the CA's expiration time. If the "
                "new certificate is not treated as a root, validation paths with the certificate past the "
                "issuing CA's expiration time will fail."
            )
        if not has_aia:
            warnings.append(issuing.AIA_WARNING)
        return Response(data=out, warnings=warnings)

    def sign_self_issued(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        issuer, key = store.signing_issuer(data.get("issuer_ref") or "default")
        blocks = [
            der for kind, der in x509util.split_pem_blocks(data.get("certificate")) if kind == "CERTIFICATE"
        ]
        if not blocks:
            raise ErrorResponse("certificate could not be PEM-decoded")
        if len(blocks) > 1:
            raise ErrorResponse("more than one certificate provided")
        try:
            cert = x509.load_der_x509_certificate(blocks[0])
        except ValueError as exc:
            raise ErrorResponse(f"error parsing certificate: {exc}") from None
        if cert.subject != cert.issuer:
            raise ErrorResponse("given certificate is not self-issued")
        if not authority.is_ca(cert):
            raise ErrorResponse("given certificate is not a CA certificate")
        signed = authority.resign(cert, issuer.cert, x509util.load_private_key(key.private_key))
        return Response(data={"certificate": x509util.cert_pem(signed), "issuing_ca": issuer.certificate})

    def import_certificate(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        bundle = data.get("certificate") or data.get("pem_bundle")
        if not bundle:
            raise ErrorResponse("'pem_bundle' and 'certificate' parameters were empty")
        out = authority.import_bundle(store, bundle)
        revocation.rebuild_crls(store)
        warnings = [] if store.urls()["issuing_certificates"] else [issuing.AIA_WARNING]
        return Response(data=out, warnings=warnings)

    def delete_root(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        for issuer_id in store.issuer_ids():
            store.delete_issuer(issuer_id)
        for key_id in store.key_ids():
            store.s.delete("config/key/" + key_id)
        store.s.delete("config/issuers")
        store.s.delete("config/keys")
        return Response(warnings=[DELETE_ROOT_WARNING])

    # -- issuers ---------------------------------------------------------------------
    def list_issuers(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        default = store.issuers_config()["default"]
        issuers = store.issuers()
        info = {
            i.id: {
                "is_default": i.id == default,
                "issuer_name": i.name,
                "key_id": i.key_id,
                "serial_number": i.serial,
            }
            for i in issuers
        }
        return Response(data={"keys": [i.id for i in issuers], "key_info": info})

    def issuer_view(self, issuer: Issuer) -> dict[str, Any]:
        revoked = (
            {
                "revocation_time": issuer.revocation_time,
                "revocation_time_rfc3339": issuer.revocation_time_rfc3339,
            }
            if issuer.revoked
            else {}
        )
        return {
            **revoked,
            "ca_chain": issuing.issuer_chain(issuer),
            "certificate": issuer.certificate,
            "crl_distribution_points": issuer.crl_distribution_points,
            "delta_crl_distribution_points": [],
            "issuer_id": issuer.id,
            "issuer_name": issuer.name,
            "issuing_certificates": issuer.issuing_certificates,
            "key_id": issuer.key_id,
            "leaf_not_after_behavior": issuer.leaf_not_after_behavior,
            "manual_chain": issuer.manual_chain,
            "ocsp_servers": issuer.ocsp_servers,
            "revocation_signature_algorithm": issuer.revocation_signature_algorithm,
            "revoked": issuer.revoked,
            "usage": issuer.usage,
        }

    def read_issuer(self, req: Request, data: FieldData) -> Response:
        return Response(data=self.issuer_view(_store(req).resolve_issuer(data.get("issuer_ref"))))

    def update_issuer(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        issuer = store.resolve_issuer(data.get("issuer_ref"))
        if data.has("issuer_name"):
            name = data.get("issuer_name")
            if store.name_in_use(name, issuer.id):
                raise ErrorResponse("issuer name already in use")
            issuer.name = name
        if data.has("leaf_not_after_behavior"):
            behavior = data.get("leaf_not_after_behavior")
            if behavior not in ("err", "truncate", "permit"):
                raise ErrorResponse(
                    f"Unknown value for field `leaf_not_after_behavior`. Possible values are `err`, `truncate`, and `permit`: {behavior}"
                )
            issuer.leaf_not_after_behavior = behavior
        if data.has("usage"):
            issuer.usage = ",".join(sorted(data.get("usage")))
        for name in ("issuing_certificates", "crl_distribution_points", "ocsp_servers"):
            if data.has(name):
                setattr(issuer, name, data.get(name))
        if data.has("revocation_signature_algorithm"):
            issuer.revocation_signature_algorithm = data.get("revocation_signature_algorithm")
        else:
            issuer.revocation_signature_algorithm = ""  # the reference clears it on an update
        store.put_issuer(issuer)
        return Response(data=self.issuer_view(issuer))

    def delete_issuer(self, req: Request, data: FieldData) -> Response | None:
        store = _store(req)
        ref = data.get("issuer_ref")
        issuer = store.find_issuer(ref)
        if issuer is None:
            return None
        was_default = store.issuers_config()["default"] == issuer.id
        store.delete_issuer(issuer.id)
        authority.rebuild_chains(store)
        warnings = []
        if was_default:
            warnings.append(
                f"Deleted issuer {issuer.id} (via issuer_ref {ref}); this was configured as the default "
                "issuer. Operations without an explicit issuer will not work until a new default is configured."
            )
        warnings += _role_reference_warnings(storage_of(req), issuer, was_default)
        return Response(warnings=warnings) if warnings else None

    def revoke_issuer(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        issuer = store.resolve_issuer(data.get("issuer_ref"))
        warnings: list[str] = []
        if not issuer.revoked:
            warnings = _revoke_issuer(store, issuer)
        return Response(data=self.issuer_view(issuer), warnings=warnings)

    def read_issuer_json(self, req: Request, data: FieldData) -> Response:
        issuer = _store(req).resolve_issuer(data.get("issuer_ref"))
        return Response(
            data={
                "ca_chain": issuing.issuer_chain(issuer),
                "certificate": issuer.certificate,
                "issuer_id": issuer.id,
                "issuer_name": issuer.name,
            }
        )

    def read_issuer_pem(self, req: Request, data: FieldData) -> Response:
        issuer = _store(req).resolve_issuer(data.get("issuer_ref"))
        chain = issuing.issuer_chain(issuer)
        return raw("".join(pem + "\n" for pem in chain).encode(), "application/pem-certificate-chain")

    def read_issuer_der(self, req: Request, data: FieldData) -> Response:
        issuer = _store(req).resolve_issuer(data.get("issuer_ref"))
        return raw(issuer.cert.public_bytes(serialization.Encoding.DER), "application/pkix-cert")

    # -- keys ------------------------------------------------------------------------
    def list_keys(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        default = store.keys_config()["default"]
        keys = store.all_keys()
        info = {k.id: {"is_default": k.id == default, "key_name": k.name} for k in keys}
        return Response(data={"keys": [k.id for k in keys], "key_info": info})

    def key_view(self, key: Key) -> dict[str, Any]:
        private = x509util.load_private_key(key.private_key)
        ski = x509.SubjectKeyIdentifier.from_public_key(private.public_key()).digest  # type: ignore[arg-type]
        return {
            "key_id": key.id,
            "key_name": key.name,
            "key_type": key.type,
            "subject_key_id": x509util.hex_id(ski),
        }

    def generate_key(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        kind = data.get("exported")
        if kind == "kms":
            raise ErrorResponse("managed keys are not supported")
        name = data.get("key_name")
        if name and any(k.name == name for k in store.all_keys()):
            raise ErrorResponse("key name already in use")
        try:
            private = x509util.generate_key(data.get("key_type"), data.get("key_bits"))
        except ErrorResponse as exc:
            raise ErrorResponse(f"Validation for key_type, key_bits failed: {exc.errors()[0]}") from None
        key = store.add_key(private, name)
        out = {"key_id": key.id, "key_name": key.name, "key_type": key.type}
        if kind == "exported":
            out["private_key"] = issuing.key_output(private, "pem", "der")
        return Response(data=out)

    def import_key(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        bundle = data.get("pem_bundle")
        if len(bundle.strip()) < 75:
            raise ErrorResponse(
                "provided data for import was too short; perhaps a path was passed to the API rather than "
                "the contents of a PEM file"
            )
        keys = [der for kind, der in x509util.split_pem_blocks(bundle) if kind.endswith("PRIVATE KEY")]
        if len(keys) != 1:
            raise ErrorResponse("only a single key can be present within the pem_bundle for importing")
        try:
            private = authority.load_der_key(keys[0])
        except (ValueError, TypeError) as exc:
            raise ErrorResponse(f"error parsing private key: {exc}") from None
        known = store.key_for_public(x509util.public_der(private))
        if known is not None:
            answer = {"key_id": known.id, "key_name": known.name, "key_type": known.type}
            return Response(data=answer, warnings=["Key already imported, use key/ endpoint to update name."])
        name = data.get("key_name")
        if name and any(k.name == name for k in store.all_keys()):
            raise ErrorResponse("key name already in use")
        key = store.add_key(private, name)
        return Response(data={"key_id": key.id, "key_name": key.name, "key_type": key.type})

    def read_key(self, req: Request, data: FieldData) -> Response:
        return Response(data=self.key_view(_store(req).resolve_key(data.get("key_ref"))))

    def update_key(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        key = store.resolve_key(data.get("key_ref"))
        name = data.get("key_name")
        if name and any(k.name == name and k.id != key.id for k in store.all_keys()):
            raise ErrorResponse("key name already in use")
        key.name = name
        store.put_key(key)
        return Response(data=self.key_view(key))

    def delete_key(self, req: Request, data: FieldData) -> Response | None:
        store = _store(req)
        key = store.find_key(data.get("key_ref"))
        if key is None:
            return None
        for issuer in store.issuers():
            if issuer.key_id == key.id:
                raise ErrorResponse(f"Failed to Delete Key.  Key in Use by Issuer: {issuer.id}")
        store.s.delete("config/key/" + key.id)
        if store.keys_config()["default"] == key.id:
            store.s.put_json("config/keys", {"default": ""})
        return None

    # -- defaults --------------------------------------------------------------------
    def read_issuers_config(self, req: Request, data: FieldData) -> Response:
        return Response(data=_store(req).issuers_config())

    def write_issuers_config(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        cfg = store.issuers_config()
        if data.has("default"):
            found = store.find_issuer(data.get("default"))
            if found is None:
                raise ErrorResponse(
                    f"Error resolving issuer reference: unable to find PKI issuer for reference: {data.get('default')}"
                )
            cfg["default"] = found.id
        if data.has("default_follows_latest_issuer"):
            cfg["default_follows_latest_issuer"] = data.get("default_follows_latest_issuer")
        store.s.put_json("config/issuers", cfg)
        return Response(data=cfg)

    def read_keys_config(self, req: Request, data: FieldData) -> Response:
        return Response(data=_store(req).keys_config())

    def write_keys_config(self, req: Request, data: FieldData) -> Response:
        store = _store(req)
        cfg = {"default": store.resolve_key(data.get("default")).id}
        store.s.put_json("config/keys", cfg)
        return Response(data=cfg)


_GEN_FIELDS = {**CA_FIELDS, "exported": Field(FieldType.STRING, "internal, exported, existing or kms.")}
_SIGN_FIELDS = {
    **CA_FIELDS,
    "csr": Field(FieldType.STRING, "The PEM-encoded CSR to sign."),
    "use_csr_values": Field(FieldType.BOOL, "Take the subject and SANs from the CSR.", default=False),
    "issuer_ref": Field(FieldType.STRING, "The issuer to sign with.", default="default"),
}
_IMPORT_FIELDS = {
    "pem_bundle": Field(FieldType.STRING, "PEM bundle of CA certificates and keys."),
    "certificate": Field(FieldType.STRING, "The signed intermediate certificate (and chain)."),
}
_ISSUER_REF = {"issuer_ref": Field(FieldType.STRING, "An issuer ID, name or 'default'.")}
_KEY_REF = {"key_ref": Field(FieldType.STRING, "A key ID, name or 'default'.")}
_ISSUER_UPDATE_FIELDS = {
    **_ISSUER_REF,
    "issuer_name": Field(FieldType.STRING, "A name for the issuer."),
    "leaf_not_after_behavior": Field(FieldType.STRING, "err, truncate or permit.", default="err"),
    "usage": Field(FieldType.COMMA_STRING_SLICE, "What the issuer may be used for."),
    "manual_chain": Field(FieldType.COMMA_STRING_SLICE, "An explicit chain."),
    "revocation_signature_algorithm": Field(FieldType.STRING, "The CRL signature algorithm."),
    "issuing_certificates": Field(FieldType.COMMA_STRING_SLICE, "AIA issuing certificate URLs."),
    "crl_distribution_points": Field(FieldType.COMMA_STRING_SLICE, "CRL distribution points."),
    "ocsp_servers": Field(FieldType.COMMA_STRING_SLICE, "OCSP server URLs."),
    "enable_aia_url_templating": Field(FieldType.BOOL, "Template the AIA URLs.", default=False),
}
_GEN = r"(?P<exported>\w(([\w\-.]+)?\w)?)"
_REF = r"(?P<issuer_ref>\w(([\w\-.]+)?\w)?)"
_KREF = r"(?P<key_ref>\w(([\w\-.]+)?\w)?)"


def _generate_paths(h: IssuerHandlers) -> list[Path]:
    return [
        Path(
            "root/generate/" + _GEN,
            fields=_GEN_FIELDS,
            operations={Operation.UPDATE: h.generate_root},
            synopsis="Generate a new CA certificate and private key used for signing.",
        ),
        Path(
            "issuers/generate/root/" + _GEN,
            fields=_GEN_FIELDS,
            operations={Operation.UPDATE: h.generate_root},
            synopsis="Generate a new CA certificate and private key used for signing.",
        ),
        Path(
            "intermediate/generate/" + _GEN,
            fields=_GEN_FIELDS,
            operations={Operation.UPDATE: h.generate_intermediate},
            synopsis="Generate a new CSR and private key used for signing.",
        ),
        Path(
            "issuers/generate/intermediate/" + _GEN,
            fields=_GEN_FIELDS,
            operations={Operation.UPDATE: h.generate_intermediate},
            synopsis="Generate a new CSR and private key used for signing.",
        ),
        Path(
            "root/sign-intermediate",
            fields=_SIGN_FIELDS,
            operations={Operation.UPDATE: h.sign_intermediate},
            synopsis="Issue an intermediate CA certificate based on the provided CSR.",
        ),
        Path(
            "issuer/" + _REF + "/sign-intermediate",
            fields=_SIGN_FIELDS,
            operations={Operation.UPDATE: h.sign_intermediate},
            synopsis="Issue an intermediate CA certificate based on the provided CSR.",
        ),
        Path(
            "intermediate/set-signed",
            fields=_IMPORT_FIELDS,
            operations={Operation.UPDATE: h.import_certificate},
            synopsis="Provide the signed intermediate CA cert.",
        ),
        Path(
            "config/ca",
            fields=_IMPORT_FIELDS,
            operations={Operation.UPDATE: h.import_certificate},
            synopsis="Set the CA certificate and private key used for generated credentials.",
        ),
        Path(
            "issuers/import/(cert|bundle)",
            fields=_IMPORT_FIELDS,
            operations={Operation.UPDATE: h.import_certificate},
            synopsis="Import the specified issuing certificates.",
        ),
        Path(
            "root/sign-self-issued",
            fields={
                "certificate": Field(FieldType.STRING, "The self-issued certificate to re-sign, in PEM."),
                "issuer_ref": Field(FieldType.STRING, "The issuer to sign with.", default="default"),
                "require_matching_certificate_algorithms": Field(
                    FieldType.BOOL, "Require the same key algorithm as the issuer.", default=False
                ),
            },
            operations={Operation.UPDATE: h.sign_self_issued},
            synopsis="Signs another CA's self-issued certificate.",
            sudo=True,
        ),
        Path(
            "issuer/" + _REF + "/revoke",
            fields=_ISSUER_REF,
            operations={Operation.UPDATE: h.revoke_issuer},
            synopsis="Revoke the specified issuer certificate.",
        ),
        Path(
            "root",
            operations={Operation.DELETE: h.delete_root},
            synopsis="Deletes the root CA key to allow a new one to be generated.",
            sudo=True,
        ),
    ]


def _issuer_paths(h: IssuerHandlers) -> list[Path]:
    return [
        Path(
            "issuers/?",
            operations={Operation.LIST: h.list_issuers},
            synopsis="Fetch a list of CA certificates.",
            unauthenticated=True,
            special=("issuers/",),
        ),
        Path(
            "issuer/" + _REF + "/json",
            fields=_ISSUER_REF,
            unauthenticated=True,
            operations={Operation.READ: h.read_issuer_json},
            synopsis="Fetch a CA, its chain and its name.",
        ),
        Path(
            "issuer/" + _REF + "/pem",
            fields=_ISSUER_REF,
            unauthenticated=True,
            operations={Operation.READ: h.read_issuer_pem},
            synopsis="Fetch a CA certificate in PEM.",
        ),
        Path(
            "issuer/" + _REF + "/der",
            fields=_ISSUER_REF,
            unauthenticated=True,
            operations={Operation.READ: h.read_issuer_der},
            synopsis="Fetch a CA certificate in DER.",
        ),
        Path(
            "issuer/" + _REF,
            fields=_ISSUER_UPDATE_FIELDS,
            operations={
                Operation.READ: h.read_issuer,
                Operation.UPDATE: h.update_issuer,
                Operation.DELETE: h.delete_issuer,
            },
            synopsis="Fetch, update or delete a single issuer.",
        ),
        Path(
            "keys/generate/(?P<exported>internal|exported|kms)",
            fields={
                "exported": Field(FieldType.STRING, "internal, exported or kms."),
                "key_name": Field(FieldType.STRING, "A name for the key."),
                "key_type": Field(FieldType.STRING, "rsa, ec or ed25519.", default="rsa"),
                "key_bits": Field(FieldType.INT, "Key size in bits.", default=0),
                "managed_key_name": Field(FieldType.STRING, "Managed keys are not supported."),
                "managed_key_id": Field(FieldType.STRING, "Managed keys are not supported."),
            },
            operations={Operation.UPDATE: h.generate_key},
            synopsis="Generate a new private key used for signing.",
        ),
    ]


def _key_paths(h: IssuerHandlers) -> list[Path]:
    return [
        Path(
            "keys/import",
            fields={
                "pem_bundle": Field(FieldType.STRING, "The PEM-encoded private key."),
                "key_name": Field(FieldType.STRING, "A name for the key."),
            },
            operations={Operation.UPDATE: h.import_key},
            synopsis="Import the specified key.",
        ),
        Path("keys/?", operations={Operation.LIST: h.list_keys}, synopsis="Fetch a list of all issuer keys."),
        Path(
            "key/" + _KREF,
            fields={**_KEY_REF, "key_name": Field(FieldType.STRING, "A name for the key.")},
            operations={
                Operation.READ: h.read_key,
                Operation.UPDATE: h.update_key,
                Operation.DELETE: h.delete_key,
            },
            synopsis="Fetch, update or delete a single key.",
        ),
        Path(
            "config/issuers",
            fields={
                "default": Field(FieldType.STRING, "The default issuer."),
                "default_follows_latest_issuer": Field(
                    FieldType.BOOL, "Make new issuers the default.", default=False
                ),
            },
            operations={Operation.READ: h.read_issuers_config, Operation.UPDATE: h.write_issuers_config},
            synopsis="Read and set the default issuer.",
        ),
        Path(
            "config/keys",
            fields={"default": Field(FieldType.STRING, "The default key.")},
            operations={Operation.READ: h.read_keys_config, Operation.UPDATE: h.write_keys_config},
            synopsis="Read and set the default key.",
        ),
    ]


def build(mount_ttls: MountTTLs) -> list[Path]:
    h = IssuerHandlers(mount_ttls)
    return _generate_paths(h) + _issuer_paths(h) + _key_paths(h)


def raw(body: bytes, content_type: str) -> Response:
    """A body served as itself (a certificate, a CRL), as Vault's http_raw_body responses."""
    return Response(raw_body=body, status=200 if body else 204, headers={"Content-Type": content_type})


SELF_SIGNED_REVOKE_WARNING = (
    "This issuer is a self-signed (potentially root) certificate. This means it may not be considered "
    "revoked if there is not an external, cross-signed variant of this certificate. This issuer's serial "
    "number will not appear on its own CRL."
)
NO_PARENT_REVOKE_WARNING = (
    "This issuer lacks another parent issuer within the mount. This means it will not appear on any other "
    "CRLs and may not be considered revoked by clients. Consider adding this issuer to its issuer's CRL as "
    "well if it is not self-signed."
)


def _revoke_issuer(store: PKIStore, issuer: Issuer) -> list[str]:
    """Mark an issuer revoked (it may no longer issue) and list it on its parent's CRL, if the mount has one."""
    now = time.time()
    issuer.revoked = True
    issuer.revocation_time = int(now)
    issuer.revocation_time_rfc3339 = rfc3339_datetime(datetime.datetime.fromtimestamp(now, datetime.UTC))
    issuer.usage = ",".join(u for u in issuer.usage.split(",") if u != "issuing-certificates")
    store.put_issuer(issuer)
    cert = issuer.cert
    warnings = []
    if cert.subject == cert.issuer:
        warnings.append(SELF_SIGNED_REVOKE_WARNING)
    parent = next(
        (p for p in store.issuers() if p.id != issuer.id and authority.signed_by(cert, p.cert)), None
    )
    if parent is None:
        warnings.append(NO_PARENT_REVOKE_WARNING)
    else:
        store.put_revocation(
            issuer.serial,
            {
                "serial": issuer.serial,
                "revocation_time": issuer.revocation_time,
                "revocation_time_rfc3339": issuer.revocation_time_rfc3339,
                "issuer_id": parent.id,
            },
        )
    revocation.rebuild_crls(store)
    return warnings


def _role_reference_warnings(storage: Any, issuer: Issuer, was_default: bool) -> list[str]:
    """How many roles still name the deleted issuer (by name, ID, or as the default)."""
    counts: dict[str, int] = {}
    for name in storage.list("role/"):
        role = storage.get_json("role/" + name) or {}
        ref = role.get("issuer_ref", "default")
        if (ref in (issuer.id, issuer.name) and ref) or (ref == "default" and was_default):
            counts[ref] = counts.get(ref, 0) + 1
    return [f"{count} roles reference {ref}" for ref, count in counts.items()]

"""The PKI engine on a real Tessera: what other tools make of its certificates and CRLs, and leases.

``openssl verify`` checks issued certificates against the chain the mount serves, ``openssl crl``
reads the CRL a revocation produces, and certificates issued with ``generate_lease`` are revoked when
their lease is: on demand, with a batch token's lease, with their token, or when the TTL runs out.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509

from tests.helpers.servers import TesseraServer, tessera_on_sqlite

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def ok(server: TesseraServer, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, answer, _ = server.call(method, path, json=body, token=token)
    assert status in (200, 202, 204), (method, path, status, answer)
    return answer


def mount(server: TesseraServer, **config: Any) -> str:
    path = "pki-" + uuid.uuid4().hex[:8]
    ok(server, "POST", f"sys/mounts/{path}", {"type": "pki", "config": {"max_lease_ttl": "87600h", **config}})
    return path


def openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


def raw(server: TesseraServer, path: str) -> bytes:
    resp = requests.get(f"{server.addr}/v1/{path}", timeout=30)
    assert resp.status_code == 200, (path, resp.status_code, resp.text)
    return resp.content


def root_and_intermediate(server: TesseraServer) -> tuple[str, str]:
    """A root mount and an intermediate mount it signed, with a role on the intermediate."""
    root, inter = mount(server), mount(server)
    ok(server, "POST", f"{root}/root/generate/internal", {"common_name": "Test Root", "ttl": "87000h"})
    ok(server, "POST", f"{root}/config/urls", {"crl_distribution_points": f"{server.addr}/v1/{root}/crl"})
    csr = ok(
        server,
        "POST",
        f"{inter}/intermediate/generate/internal",
        {"common_name": "Test Int", "key_type": "ec"},
    )
    signed = ok(
        server,
        "POST",
        f"{root}/root/sign-intermediate",
        {"csr": csr["data"]["csr"], "format": "pem_bundle", "ttl": "8760h"},
    )
    ok(server, "POST", f"{inter}/intermediate/set-signed", {"certificate": signed["data"]["certificate"]})
    ok(
        server,
        "POST",
        f"{inter}/roles/web",
        {"allowed_domains": "example.com", "allow_subdomains": True, "key_type": "ec"},
    )
    return root, inter


def test_issued_certificate_verifies_against_the_served_chain(tessera: TesseraServer, tmp_path: Path) -> None:
    root, inter = root_and_intermediate(tessera)
    issued = ok(
        tessera, "POST", f"{inter}/issue/web", {"common_name": "www.example.com", "ip_sans": "127.0.0.1"}
    )
    data = issued["data"]
    assert len(data["ca_chain"]) == 2  # the intermediate, then the root
    (tmp_path / "root.pem").write_bytes(raw(tessera, f"{root}/ca/pem"))
    (tmp_path / "chain.pem").write_bytes(raw(tessera, f"{inter}/ca_chain"))
    (tmp_path / "leaf.pem").write_text(data["certificate"] + "\n")
    done = openssl(
        "verify",
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "chain.pem"),
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "www.example.com",
        str(tmp_path / "leaf.pem"),
    )
    assert done.returncode == 0 and "leaf.pem: OK" in done.stdout, done.stdout + done.stderr
    # And a certificate from another root does not verify.
    other = mount(tessera)
    ok(tessera, "POST", f"{other}/root/generate/internal", {"common_name": "Other Root"})
    (tmp_path / "other.pem").write_bytes(raw(tessera, f"{other}/ca/pem"))
    bad = openssl(
        "verify",
        "-CAfile",
        str(tmp_path / "other.pem"),
        "-untrusted",
        str(tmp_path / "chain.pem"),
        str(tmp_path / "leaf.pem"),
    )
    assert bad.returncode != 0
    cert = x509.load_pem_x509_certificate(data["certificate"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.example.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_signed_csr_and_private_key_match(tessera: TesseraServer, tmp_path: Path) -> None:
    root, inter = root_and_intermediate(tessera)
    key, csr = tmp_path / "k.pem", tmp_path / "r.csr"
    made = openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(key),
        "-subj",
        "/CN=api.example.com",
        "-out",
        str(csr),
    )
    assert made.returncode == 0, made.stderr
    signed = ok(tessera, "POST", f"{inter}/sign/web", {"csr": csr.read_text()})
    (tmp_path / "leaf.pem").write_text(signed["data"]["certificate"])
    (tmp_path / "root.pem").write_bytes(raw(tessera, f"{root}/ca/pem"))
    (tmp_path / "chain.pem").write_text("\n".join(signed["data"]["ca_chain"]) + "\n")
    done = openssl(
        "verify",
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "chain.pem"),
        str(tmp_path / "leaf.pem"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pub_cert = openssl("x509", "-noout", "-pubkey", "-in", str(tmp_path / "leaf.pem")).stdout
    pub_key = openssl("pkey", "-pubout", "-in", str(key)).stdout
    assert pub_cert and pub_cert == pub_key


def test_revoked_certificate_is_in_the_crl_openssl_reads(tessera: TesseraServer, tmp_path: Path) -> None:
    root, inter = root_and_intermediate(tessera)
    kept = ok(tessera, "POST", f"{inter}/issue/web", {"common_name": "kept.example.com"})["data"]
    gone = ok(tessera, "POST", f"{inter}/issue/web", {"common_name": "gone.example.com"})["data"]
    ok(tessera, "POST", f"{inter}/revoke", {"serial_number": gone["serial_number"]})
    (tmp_path / "crl.der").write_bytes(raw(tessera, f"{inter}/crl"))
    text = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text")
    assert text.returncode == 0, text.stderr
    listed = gone["serial_number"].replace(":", "").upper().lstrip("0")
    assert listed in text.stdout.replace(" ", "").upper()
    assert (
        kept["serial_number"].replace(":", "").upper().lstrip("0") not in text.stdout.replace(" ", "").upper()
    )
    # The CRL is signed by the intermediate and openssl rejects the revoked leaf with it.
    (tmp_path / "crl.pem").write_bytes(raw(tessera, f"{inter}/crl/pem"))
    (tmp_path / "root.pem").write_bytes(raw(tessera, f"{root}/ca/pem"))
    (tmp_path / "int.pem").write_bytes(raw(tessera, f"{inter}/ca/pem"))
    (tmp_path / "root_crl.pem").write_bytes(raw(tessera, f"{root}/crl/pem"))
    (tmp_path / "crls.pem").write_bytes(
        (tmp_path / "crl.pem").read_bytes() + b"\n" + (tmp_path / "root_crl.pem").read_bytes()
    )
    for name, data in (("gone", gone), ("kept", kept)):
        (tmp_path / f"{name}.pem").write_text(data["certificate"])
    args = [
        "verify",
        "-crl_check_all",
        "-CRLfile",
        str(tmp_path / "crls.pem"),
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "int.pem"),
    ]
    refused = openssl(*args, str(tmp_path / "gone.pem"))
    assert refused.returncode != 0 and "revoked" in (refused.stdout + refused.stderr).lower()
    accepted = openssl(*args, str(tmp_path / "kept.pem"))
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    status, body, _ = tessera.call("GET", f"{inter}/cert/{gone['serial_number']}", auth=False)
    assert status == 200 and body["data"]["revocation_time"] > 0


# -- leases --------------------------------------------------------------------------------------------


def leased_role(server: TesseraServer, ttl: str = "1h") -> str:
    path = mount(server)
    ok(server, "POST", f"{path}/root/generate/internal", {"common_name": "Lease Root", "key_type": "ec"})
    ok(
        server,
        "POST",
        f"{path}/roles/r",
        {"allow_any_name": True, "generate_lease": True, "ttl": ttl, "key_type": "ec"},
    )
    return path


def revoked(server: TesseraServer, path: str, serial: str) -> bool:
    status, body, _ = server.call("GET", f"{path}/cert/{serial}")
    assert status == 200, body
    return bool(body["data"]["revocation_time"])


def wait_for(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def test_certificate_under_a_batch_token_is_revoked_with_its_lease(tessera: TesseraServer) -> None:
    path = leased_role(tessera)
    ok(
        tessera,
        "PUT",
        "sys/policies/acl/pki-issue",
        {"policy": f'path "{path}/issue/r" {{ capabilities = ["update"] }}'},
    )
    batch = ok(
        tessera, "POST", "auth/token/create", {"type": "batch", "policies": ["pki-issue"], "ttl": "10m"}
    )
    token = batch["auth"]["client_token"]
    issued = ok(tessera, "POST", f"{path}/issue/r", {"common_name": "batch.example.com"}, token=token)
    lease, serial = issued["lease_id"], issued["data"]["serial_number"]
    assert lease.startswith(f"{path}/issue/r/") and not issued["renewable"]
    assert 0 < issued["lease_duration"] <= 600  # capped by the batch token's own TTL
    assert not revoked(tessera, path, serial)
    ok(tessera, "PUT", "sys/leases/revoke", {"lease_id": lease})
    assert revoked(tessera, path, serial)
    status, _, _ = tessera.call("PUT", "sys/leases/lookup", json={"lease_id": lease})
    assert status == 400


def test_revoking_the_token_revokes_its_certificates(tessera: TesseraServer) -> None:
    path = leased_role(tessera)
    token = ok(tessera, "POST", "auth/token/create", {"policies": ["root"]})["auth"]["client_token"]
    serials = [
        ok(tessera, "POST", f"{path}/issue/r", {"common_name": f"t{i}.example.com"}, token=token)["data"][
            "serial_number"
        ]
        for i in range(2)
    ]
    other = ok(tessera, "POST", f"{path}/issue/r", {"common_name": "other.example.com"})["data"][
        "serial_number"
    ]
    ok(tessera, "POST", "auth/token/revoke", {"token": token})
    assert wait_for(lambda: all(revoked(tessera, path, s) for s in serials))
    assert not revoked(tessera, path, other)
    crl = x509.load_der_x509_crl(raw(tessera, f"{path}/crl"))
    assert {format(r.serial_number, "x") for r in crl} == {s.replace(":", "").lstrip("0") for s in serials}


def test_an_expired_lease_revokes_its_certificate(tessera: TesseraServer) -> None:
    path = leased_role(tessera, ttl="2s")
    issued = ok(tessera, "POST", f"{path}/issue/r", {"common_name": "short.example.com"})
    serial = issued["data"]["serial_number"]
    # The certificate expires with its lease: Vault does not revoke an expired one, so the lease just ends.
    assert wait_for(
        lambda: tessera.call("PUT", "sys/leases/lookup", json={"lease_id": issued["lease_id"]})[0] == 400
    )
    status, body, _ = tessera.call("GET", f"{path}/cert/{serial}")
    assert status == 200 and body["data"]["certificate"].startswith("-----BEGIN CERTIFICATE-----")


def test_no_store_certificates_are_not_listed(tessera: TesseraServer) -> None:
    path = mount(tessera)
    ok(tessera, "POST", f"{path}/root/generate/internal", {"common_name": "R", "ttl": "8760h"})
    ok(tessera, "POST", f"{path}/roles/ns", {"allow_any_name": True, "no_store": True, "key_type": "ec"})
    serial = ok(tessera, "POST", f"{path}/issue/ns", {"common_name": "x"})["data"]["serial_number"]
    keys = ok(tessera, "LIST", f"{path}/certs")["data"]["keys"]
    assert serial not in keys and len(keys) == 1  # just the root


# -- storage -----------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_tessera(tmp_path: Path) -> Iterator[TesseraServer]:
    srv = tessera_on_sqlite(tmp_path).start()
    try:
        srv.init()
        srv.unseal()
        yield srv
    finally:
        srv.cleanup()


def test_keys_stay_behind_the_barrier_and_survive_a_restart(
    sqlite_tessera: TesseraServer, tmp_path: Path
) -> None:
    srv = sqlite_tessera
    path = mount(srv)
    made = ok(
        srv,
        "POST",
        f"{path}/root/generate/exported",
        {"common_name": "Persisted Root", "key_type": "ec", "ttl": "8760h"},
    )
    key_body = "".join(made["data"]["private_key"].splitlines()[1:-1])
    ok(srv, "POST", f"{path}/roles/r", {"allow_any_name": True, "key_type": "ec"})
    leaf = ok(srv, "POST", f"{path}/issue/r", {"common_name": "kept"})["data"]
    ok(srv, "POST", f"{path}/revoke", {"serial_number": leaf["serial_number"]})
    db = (tmp_path / "t.db").read_bytes()
    for secret in (key_body[:40], "Persisted Root", leaf["serial_number"]):
        assert secret.encode() not in db
    srv.restart()
    srv.unseal()
    assert wait_for(lambda: srv.call("GET", f"{path}/ca/pem", auth=False)[0] == 200)
    again = ok(srv, "POST", f"{path}/issue/r", {"common_name": "after"})["data"]
    assert again["issuing_ca"] == made["data"]["certificate"]
    crl = x509.load_der_x509_crl(raw(srv, f"{path}/crl"))
    assert [format(r.serial_number, "x") for r in crl] == [leaf["serial_number"].replace(":", "").lstrip("0")]


# -- tidy, sudo, audit ---------------------------------------------------------------------------------


def test_tidy_removes_expired_certificates_past_the_safety_buffer(tessera: TesseraServer) -> None:
    path = mount(tessera)
    ok(
        tessera,
        "POST",
        f"{path}/root/generate/internal",
        {"common_name": "Tidy Root", "key_type": "ec", "ttl": "8760h"},
    )
    ok(tessera, "POST", f"{path}/roles/short", {"allow_any_name": True, "key_type": "ec", "ttl": "1s"})
    ok(tessera, "POST", f"{path}/roles/long", {"allow_any_name": True, "key_type": "ec", "ttl": "1h"})
    short = ok(tessera, "POST", f"{path}/issue/short", {"common_name": "short"})["data"]
    gone = ok(tessera, "POST", f"{path}/issue/short", {"common_name": "revoked"})["data"]
    ok(tessera, "POST", f"{path}/revoke", {"serial_number": gone["serial_number"]})
    kept = ok(tessera, "POST", f"{path}/issue/long", {"common_name": "long"})["data"]
    assert wait_for(lambda: time.time() > short["expiration"] + 2 and time.time() > gone["expiration"] + 2)
    started = ok(
        tessera,
        "POST",
        f"{path}/tidy",
        {"tidy_cert_store": True, "tidy_revoked_certs": True, "safety_buffer": "1s"},
    )
    assert started["warnings"] and "successfully started" in started["warnings"][0]
    keys = ok(tessera, "LIST", f"{path}/certs")["data"]["keys"]
    assert short["serial_number"] not in keys and gone["serial_number"] not in keys
    assert kept["serial_number"] in keys and len(keys) == 2  # and the root
    status = ok(tessera, "GET", f"{path}/tidy-status")["data"]
    assert (status["state"], status["cert_store_deleted_count"], status["revoked_cert_deleted_count"]) == (
        "Finished",
        1,
        1,
    )
    assert list(x509.load_der_x509_crl(raw(tessera, f"{path}/crl"))) == []


def test_deleting_all_issuers_needs_sudo(tessera: TesseraServer) -> None:
    path = mount(tessera)
    ok(tessera, "POST", f"{path}/root/generate/internal", {"common_name": "Sudo Root"})
    ok(
        tessera,
        "PUT",
        "sys/policies/acl/pki-no-sudo",
        {"policy": f'path "{path}/*" {{ capabilities = ["delete", "read", "list"] }}'},
    )
    ok(
        tessera,
        "PUT",
        "sys/policies/acl/pki-sudo",
        {"policy": f'path "{path}/*" {{ capabilities = ["delete", "sudo"] }}'},
    )
    plain = ok(tessera, "POST", "auth/token/create", {"policies": ["pki-no-sudo"]})["auth"]["client_token"]
    sudo = ok(tessera, "POST", "auth/token/create", {"policies": ["pki-sudo"]})["auth"]["client_token"]
    status, _, _ = tessera.call("DELETE", f"{path}/root", token=plain)
    assert status == 403
    ok(tessera, "DELETE", f"{path}/root", token=sudo)
    status, _, _ = tessera.call("LIST", f"{path}/issuers", token=plain)
    assert status == 404


def test_raw_answers_are_audited_with_their_content_type(tmp_path: Path) -> None:
    import base64
    import json

    from tests.helpers.servers import free_port, hcl_config

    config = tmp_path / "tessera.hcl"
    config.write_text(hcl_config(free_port()) + "unsafe_allow_api_audit_creation = true\n")
    server = TesseraServer(config=config).start()
    try:
        server.init()
        server.unseal()
        log = tmp_path / "audit.log"
        ok(
            server,
            "PUT",
            "sys/audit/file",
            {"type": "file", "options": {"file_path": str(log), "log_raw": "true"}},
        )
        path = mount(server)
        ok(server, "POST", f"{path}/root/generate/internal", {"common_name": "Audited Root"})
        pem = raw(server, f"{path}/ca/pem")

        def entry() -> dict[str, Any] | None:
            for line in log.read_text().splitlines():
                record = json.loads(line)
                if record["type"] == "response" and record["request"]["path"] == f"{path}/ca/pem":
                    return record
            return None

        assert wait_for(lambda: entry() is not None)
        data = entry()["response"]["data"]  # type: ignore[index]
        assert data["http_content_type"] == "application/pem-certificate-chain"
        assert data["http_status_code"] == 200
        assert base64.b64decode(data["http_raw_body"]) == pem
    finally:
        server.cleanup()


def test_pki_through_a_worker_process(tmp_path: Path) -> None:
    """With ``workers = 2`` the worker hands writes (issue, revoke) over and serves the raw fetches itself."""
    from tests.helpers.workers import running_pair

    with running_pair(tmp_path) as pair:
        path = "pki-" + uuid.uuid4().hex[:6]
        ok(pair.server, "POST", f"sys/mounts/{path}", {"type": "pki"})
        for method, sub, body in (
            ("POST", "root/generate/internal", {"common_name": "Worker Root", "key_type": "ec"}),
            ("POST", "roles/r", {"allow_any_name": True, "key_type": "ec", "ttl": "1h"}),
        ):
            status, answer = pair.on("worker", method, f"{path}/{sub}", json=body)
            assert status == 200, answer
        status, issued = pair.on("worker", "POST", f"{path}/issue/r", json={"common_name": "w.example.com"})
        assert status == 200, issued
        status, _ = pair.on(
            "worker", "POST", f"{path}/revoke", json={"serial_number": issued["data"]["serial_number"]}
        )
        assert status == 200

        def fetched() -> tuple[int, str, bytes]:
            resp = requests.get(f"{pair.worker}/v1/{path}/crl", timeout=30)
            return resp.status_code, resp.headers.get("content-type", ""), resp.content

        assert wait_for(lambda: fetched()[0] == 200 and len(list(x509.load_der_x509_crl(fetched()[2]))) == 1)
        assert fetched()[1] == "application/pkix-crl"
        pem = requests.get(f"{pair.worker}/v1/{path}/ca/pem", timeout=30)
        assert pem.headers["content-type"] == "application/pem-certificate-chain"
        assert pem.text == issued["data"]["issuing_ca"]

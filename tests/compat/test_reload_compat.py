"""SIGHUP and TLS certificates on the reference and on Tessera: the same renewals, the same results.

Each server starts on certificate A; a replacement whose key does not match is refused with the
same error (and A stays); then certificate B with its key is taken, and new connections see B.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port
from tests.helpers.tls_reload import CertFiles, install, serves, wait_for

MISMATCH = "* error encountered reloading listener: tls: private key does not match public key"


@pytest.mark.parametrize("kind", [ReferenceServer, TesseraServer], ids=["reference", "tessera"])
def test_sighup_renews_the_certificate_and_refuses_a_mismatched_key(
    tmp_path: Path, kind: type[ServerProcess]
) -> None:
    files = CertFiles(tmp_path, port=free_port(span=2))  # bao also takes the next port (cluster)
    config = tmp_path / "server.hcl"
    config.write_text(files.config())
    server = kind(config=config).start()
    try:
        assert serves(files.address, files.a)

        files.cert.write_bytes(files.b.cert.read_bytes())  # B's certificate with A's key
        server._signal(signal.SIGHUP)
        wait_for(lambda: MISMATCH in server.output(), "the reload error")
        assert "Error(s) were encountered during reload: 1 error occurred:\n\t" + MISMATCH in server.output()
        assert serves(files.address, files.a)

        install(files.b, files.cert, files.key)
        server._signal(signal.SIGHUP)
        wait_for(lambda: serves(files.address, files.b), "new connections to see certificate B")
        assert server.running
    finally:
        server.cleanup()

"""bench/cert_instructions.py's measured side, run outside valgrind: the TLS front's turns serve
curl's cert logins, phase by phase, and count them (a phase that stalled would hang here)."""

from __future__ import annotations

import shutil

import pytest

from bench import cert_instructions
from tessera.server import dispatch, tls_front


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_every_phase_serves_its_logins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cert_instructions, "WARM", 4)
    made, long_seconds = vars(tls_front)["FrontConnection"], dispatch.LONG_SECONDS
    cert_instructions.measured(8, list(cert_instructions.PHASES))  # raises on any answer but 200
    assert (vars(tls_front)["FrontConnection"], dispatch.LONG_SECONDS) == (made, long_seconds)  # as they were

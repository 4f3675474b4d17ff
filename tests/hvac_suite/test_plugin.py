"""The hvac plugin's own logic, without running hvac's tests."""

from __future__ import annotations

import base64

from tessera.hcl import decode as decode_hcl
from tests.hvac_suite.tessera_hvac_plugin import (
    CONFIG_TEMPLATE,
    REFERENCE_LISTENER_EXTRA,
    decode_generated_root_token,
    render_config,
)


def test_render_config_moves_the_listener_and_makes_paths_absolute() -> None:
    text = render_config(CONFIG_TEMPLATE.read_text(), 24680, "/x/config_files/")
    config = decode_hcl(text)
    listener = config["listener"]["tcp"]
    assert listener["address"] == "127.0.0.1:24680"
    assert listener["tls_cert_file"] == "/x/config_files/server-cert.pem"
    assert listener["tls_key_file"] == "/x/config_files/server-key.pem"
    assert config["storage"] == {"inmem": {}}
    assert config["default_lease_ttl"] == config["max_lease_ttl"] == "768h"


def test_render_config_for_the_reference_reenables_unauthenticated_endpoints() -> None:
    text = render_config(CONFIG_TEMPLATE.read_text(), 24680, "/x", listener_extra=REFERENCE_LISTENER_EXTRA)
    listener = decode_hcl(text)["listener"]["tcp"]
    assert listener["disable_unauthed_rekey_endpoints"] is False
    assert listener["disable_unauthed_generate_root_endpoints"] is False
    assert listener["address"] == "127.0.0.1:24680"


def test_decode_generated_root_token() -> None:
    token, otp = "hvs.abcdefghijklmnopqrstuvwx", "BMjzW3wAsEzINXCM05Wbas3u9zSl"
    encoded = base64.b64encode(bytes(a ^ b for a, b in zip(token.encode(), otp.encode(), strict=True)))
    assert decode_generated_root_token(encoded.decode().rstrip("="), otp) == token

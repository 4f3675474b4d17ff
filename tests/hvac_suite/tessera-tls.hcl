# Tessera's counterpart of hvac's tests/config_files/vault-tls.hcl (hvac 2.4.0): in-memory storage and a
# TLS listener with hvac's test certificates. The hvac suite's plugin (tessera_hvac_plugin.py) writes a
# copy per server with the listener moved to a free port and the certificate paths made absolute, and
# starts `tessera server -config=<copy>` (or `bao server -config=<copy>` for HVAC_SUITE_TARGET=reference).
storage "inmem" {}

listener "tcp" {
  address       = "127.0.0.1:8200"
  tls_cert_file = "tests/config_files/server-cert.pem"
  tls_key_file  = "tests/config_files/server-key.pem"
  # hvac's cert tests log in with client certificates: ask for them (Tessera asks only when told)
  tls_disable_client_certs = false
}

disable_mlock     = true
# hvac's audit tests enable devices through the API, which OpenBao (and Tessera) refuse by default
unsafe_allow_api_audit_creation = true
default_lease_ttl = "768h"
max_lease_ttl     = "768h"

"""Tessera: a secrets and token server that speaks HashiCorp Vault's HTTP API."""

__version__ = "0.1.0"

"""Throwaway Tessera servers for tests: ``TesseraProcess`` and the pytest plugin's fixtures.

The plugin (``tessera.testing.plugin``) is registered under pytest's ``pytest11`` entry point, so
installing Tessera is all a project needs to test against a real Vault API.
"""

from .server import ServerError, TesseraProcess

__all__ = ["ServerError", "TesseraProcess"]

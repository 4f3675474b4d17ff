"""hvac's own integration tests run against Tessera (see prepare.py, selection.py, tessera_hvac_plugin.py)."""

"""One module per command group of the ``tessera`` CLI."""

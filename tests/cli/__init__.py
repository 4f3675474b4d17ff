"""Tests of the ``tessera`` command line client."""

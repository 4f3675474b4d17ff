"""Test helpers: real server processes (Tessera and the reference OpenBao), an HTTP client, compat tools.

Import them as ``tests.helpers.servers``, ``tests.helpers.http`` and ``tests.helpers.compat``. Inside
this package imports are relative only, so the hvac suite's plugin can load it as ``helpers`` from a
process where ``tests`` is hvac's own test package.
"""

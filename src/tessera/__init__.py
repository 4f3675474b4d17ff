"""Tessera: a secrets and token server that speaks HashiCorp Vault's HTTP API."""

from __future__ import annotations

import hashlib
import json
import os

__version__ = "0.1.0"

# Written by setup.py beside a compiled build: module -> SHA-256 of the source it was built from.
COMPILED_MANIFEST = os.path.join(os.path.dirname(__file__), "_compiled.json")


def check_inplace_build(manifest: str = COMPILED_MANIFEST) -> None:
    """Refuse to run a compiled-in-place tree whose sources changed since the build.

    ``TESSERA_COMPILE=1 python setup.py build_ext --inplace`` (or an editable install with it)
    puts each compiled module's extension beside its ``.py``, and Python imports the extension
    first: an edited source would silently not run. A wheel's manifest says ``inplace: false``
    and costs nothing more than this one file test.
    """
    if not os.path.exists(manifest):
        return
    with open(manifest, encoding="utf-8") as f:
        built = json.load(f)
    if not built.get("inplace"):
        return
    root = os.path.dirname(os.path.dirname(__file__))
    stale = []
    for module, built_from in built["modules"].items():  # source SHA-256s: public
        try:
            with open(os.path.join(root, *module.split(".")) + ".py", "rb") as f:
                current = hashlib.sha256(f.read()).hexdigest()
        except FileNotFoundError:
            current = ""
        if current != built_from:
            stale.append(module)
    if stale:
        more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
        raise ImportError(
            f"tessera: the compiled extension of {stale[0]}{more} was built from another version of "
            "its source, which would not run. Rebuild: `TESSERA_COMPILE=1 python setup.py build_ext "
            "--inplace`; or go back to pure Python: `python setup.py build_ext --inplace`."
        )


check_inplace_build()

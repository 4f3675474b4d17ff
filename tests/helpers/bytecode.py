"""Compile Tessera's sources to ``__pycache__`` once per test session, before any subprocess starts.

Every Tessera process a test starts (dev servers, the CLI, the hvac suite's runs) imports about 170
of our modules. With ``PYTHONDONTWRITEBYTECODE`` set (as in our CI shells) no process writes the
bytecode it compiles, so each one compiled them all again: about 0.2 s of CPU per server start, most
of the start-up. ``compileall`` writes the caches explicitly; imports still check them against the
sources' timestamps, so an edited file is recompiled as usual.
"""

from __future__ import annotations

import compileall
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "src" / "tessera"


def compile_sources(root: Path = SOURCES) -> bool:
    """Write (or refresh) the bytecode caches under ``root``; True when every file compiled."""
    return bool(compileall.compile_dir(root, quiet=1, workers=1))

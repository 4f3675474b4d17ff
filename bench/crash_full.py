"""Full-size crash-consistency run: SIGKILL a SQLite-backed server mid-write, N times (default 100).

    python bench/crash_full.py [--cycles 100] [--seed 7]

Prints the figures that docs/reliability.md reports. Exits non-zero on the first lost or partial
write (the assertion names it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.crash import run_cycles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-crash-") as tmp:
        figures = run_cycles(Path(tmp), args.cycles, seed=args.seed)
    print(f"crash: {figures.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

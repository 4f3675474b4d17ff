"""``python -m tessera``: the same entry point as the ``tessera`` command."""

import sys

from .cli.main import main
from .cli.processes import process_command


def _main() -> int:
    run = process_command(sys.argv[1]) if len(sys.argv) > 1 else None
    if run is not None:
        return run(sys.argv[2:])
    return main()


if __name__ == "__main__":
    sys.exit(_main())

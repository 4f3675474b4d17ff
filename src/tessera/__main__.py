"""``python -m tessera``: the same entry point as the ``tessera`` command."""

import sys


def _main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "server":
        from .server.command import run

        return run(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "agent":
        from .agent.command import run as agent_run

        return agent_run(sys.argv[2:])
    from .cli.main import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())

"""``python -m rnnkit`` and the ``rnnkit`` command (``run``, the entry point pyproject.toml names)."""

import os
import sys

from ._ctrl_c import ctrl_c_held


def run() -> int:
    """Imports the command line with Ctrl-C held back, then runs it (it imports torch held back too)."""
    try:
        with ctrl_c_held():
            from .cli import main
    except KeyboardInterrupt:
        if "RANK" not in os.environ:  # under torchrun, the launcher says it for all the processes
            print("rnnkit: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())

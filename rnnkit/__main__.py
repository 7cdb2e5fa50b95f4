"""``python -m rnnkit`` and the ``rnnkit`` command (``run``, the entry point pyproject.toml names)."""

import os
import signal
import sys
from contextlib import contextmanager


@contextmanager
def _ctrl_c_held():
    """Holds Ctrl-C back while the body runs and delivers it after: a KeyboardInterrupt inside
    torch's import (its C++ callbacks) ends the process with 'terminate called after throwing
    pybind11::error_already_set' instead of an exception Python can catch."""
    hold = hasattr(signal, "pthread_sigmask")  # POSIX; elsewhere a Ctrl-C is taken where it lands
    if hold:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if hold:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # one pressed meanwhile is raised now


def run() -> int:
    """Imports the command line (torch: seconds) with Ctrl-C held back, then runs it."""
    try:
        with _ctrl_c_held():
            from .cli import main
    except KeyboardInterrupt:
        if "RANK" not in os.environ:  # under torchrun, the launcher says it for all the processes
            print("rnnkit: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())

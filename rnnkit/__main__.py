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
    status = main()
    # only a process that came to rnnkit.train.distributed can have joined a process group
    distributed = sys.modules.get("rnnkit.train.distributed")
    if status and distributed is not None and distributed.launched_by_torchrun():
        _exit_at_once(status)
    return status


def _exit_at_once(status: int) -> None:
    """Ends a process of a data-parallel run that stops on an error or a signal without tearing the
    interpreter down: its peers' collectives may still be in flight in torch's threads, which then
    call into a finalizing interpreter and abort with 'Fatal Python error: PyThreadState_Get: the
    function must be called with the GIL held' on the terminal. What the process had to write (its
    checkpoint, its line for the launcher) is written and closed by then."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone, a stream closed
            pass
    os._exit(status)


if __name__ == "__main__":
    sys.exit(run())

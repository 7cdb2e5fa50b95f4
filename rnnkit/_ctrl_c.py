"""Ctrl-C held back around imports of compiled code (torch, numpy): a KeyboardInterrupt raised
inside them is not an exception Python can simply catch. Landing in torch's C++ callbacks it ends
the process with 'terminate called after throwing pybind11::error_already_set'; landing in code
torch runs through ``PyRun_*`` it marks the interpreter as ended by Ctrl-C, so the process kills
itself with SIGINT at exit whatever status the command returned; landing in numpy's import it
leaves numpy half made, and the next use recurses until RecursionError. Kept import-free so that
it can be used before anything else is imported."""

import signal
from contextlib import contextmanager


@contextmanager
def ctrl_c_held():
    """Holds SIGINT back (in this thread) while the body runs and delivers it after: one pressed
    meanwhile is raised as KeyboardInterrupt when the body is done. Elsewhere than POSIX a Ctrl-C
    is taken where it lands."""
    hold = hasattr(signal, "pthread_sigmask")
    if hold:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if hold:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


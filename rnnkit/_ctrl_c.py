"""Ctrl-C held back around code that a KeyboardInterrupt must not cut: imports of compiled code
(torch, numpy, matplotlib). Raised inside torch's C++ callbacks a KeyboardInterrupt ends the
process with 'terminate called after throwing pybind11::error_already_set'; inside code torch runs
through ``PyRun_*`` it marks the interpreter as ended by Ctrl-C, so the process kills itself with
SIGINT at exit whatever status the command returned; inside an import it can be swallowed (torch's
import of numpy, importlib's module-lock callbacks: 'Exception ignored in ... KeyboardInterrupt',
and the run goes on) or leave a module half made (numpy: a RecursionError at its next use).
Kept import-light so that it can be used before anything else is imported."""

import signal
import threading
from contextlib import contextmanager


@contextmanager
def ctrl_c_held():
    """Runs the body with Ctrl-C held back and takes it after: a SIGINT that arrives meanwhile is
    noted by a stand-in handler and handed to the previous handler once the body is done (Python's
    default raises KeyboardInterrupt there). A Python-level handler, not a blocked signal: Python
    runs handlers in the main thread whichever thread the kernel delivers the signal to (torch's
    and gloo's threads included). Outside the main thread, where handlers cannot be set, the body
    runs as it is."""
    # (a handler set outside Python reads as None and could not be put back)
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pressed:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)

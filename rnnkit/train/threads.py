"""How many CPU threads torch may use."""

from __future__ import annotations

import os
import warnings


def usable_threads(n: int) -> int:
    """``n`` capped at the machine's core count, with a one-line warning when capped: more threads
    than cores only adds contention, and a huge count (``--threads 100000``) makes torch's thread
    pool crash the process. 0 (torch's default) passes through."""
    cores = os.cpu_count() or 1
    if n > cores:
        warnings.warn(f"--threads {n} is more than the {cores} CPU cores of this machine; using {cores}",
                      stacklevel=2)
        return cores
    return n

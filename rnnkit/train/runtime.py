"""What a run sets up about the machine it runs on: random seeds, CPU threads, and whether the
hardware makes bfloat16 worth using.

Kept apart from the trainer because the tasks (which seed before building a model), the
benchmarks and the command line need them too.
"""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's generators (NumPy takes the low 32 bits)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


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


def fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matrix products natively (faster than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                flags = f.read()
        except OSError:  # not Linux: no cheap way to know, stay in float32
            return False
        return " avx512_bf16" in flags or " amx_bf16" in flags
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` becomes ``"bfloat16"`` on hardware with fast bfloat16, else ``"float32"``."""
    if precision == "auto":
        return "bfloat16" if fast_bfloat16(device) else "float32"
    return precision

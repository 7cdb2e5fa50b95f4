"""What a run sets up about the machine it runs on: random seeds, CPU threads, the device it
runs on, and which precision the hardware makes worth using.

Kept apart from the trainer because the tasks (which seed before building a model), the
benchmarks and the command line need them too.
"""

from __future__ import annotations

import os
import random
import re
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


DEVICE_HELP = ("where to run: auto (the first CUDA device if there is one, else the CPU), cpu, cuda, cuda:N "
               "(the N-th CUDA device) or mps (Apple's GPU)")
_DEVICE = re.compile(r"(auto|cpu|mps|cuda)(?::(\d+))?")


def available_devices() -> list[str]:
    """The devices this machine can run on, as ``--device`` spells them: ``cpu``, then each
    CUDA device (``cuda:0``, ...), then ``mps`` where Apple's Metal backend is available."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` that ``spec`` names, checked against this machine.

    ``spec``: ``"auto"`` (or ``None``) -- the first CUDA device if there is one (torch's current
    one, ``cuda:0`` unless the process chose another), else the CPU; ``"cpu"`` (also ``"cpu:N"``,
    as torch writes it); ``"cuda"`` (the current CUDA device); ``"cuda:N"``; ``"mps"`` (or
    ``"mps:0"``); or a :class:`torch.device` of those kinds.
    A CUDA device comes back with its index, so that it compares equal to a tensor's ``.device``.

    Raises:
        ValueError: one line naming what is wrong (an unknown name, no CUDA, an index past the
            devices there are, no MPS) and the devices this machine has.
    """
    if spec is None:
        spec = "auto"
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ValueError(f"--device must be a string such as 'cpu' or 'cuda:0'; got {type(spec).__name__}")
    here = f"the devices here: {', '.join(available_devices())}"
    match = _DEVICE.fullmatch(spec)
    # an index is cuda's; torch also writes the CPU as cpu:N and the one MPS device as mps:0
    if match is None or (match.group(2) is not None and (match.group(1) == "auto" or match.group(1) == "mps"
                                                         and match.group(2) != "0")):
        raise ValueError(f"--device {spec!r}: unknown device; give auto, cpu, cuda, cuda:N or mps ({here})")
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise ValueError(f"--device mps: Apple's Metal (MPS) backend is not available here (torch "
                             f"{torch.__version__}); {here}")
        return torch.device("mps")
    if not torch.cuda.is_available():
        why = "is a CPU-only build" if torch.version.cuda is None else "sees none"
        raise ValueError(f"--device {spec}: this machine has no CUDA device (torch {torch.__version__} {why}); {here}")
    count = torch.cuda.device_count()
    if index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if int(index) >= count:
        raise ValueError(f"--device {spec}: this machine has {count} CUDA device{'s' if count > 1 else ''} "
                         f"(cuda:0 to cuda:{count - 1}); {here}")
    return torch.device("cuda", int(index))


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (or buffer); the CPU for a module with neither."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def synchronize(device: torch.device | str) -> None:
    """Waits until ``device`` has finished its queued work: CUDA and MPS run asynchronously, so a
    clock read without it times the launch of the work, not the work."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _native_bfloat16_gpu() -> bool:
    """Whether the current CUDA device computes bfloat16 natively (compute capability 8.0 on);
    torch's check also answers yes for the slow emulation older GPUs have."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3 has no emulation and no keyword
        return torch.cuda.is_bf16_supported()


def fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matrix products natively (faster than float32)."""
    if device.type == "cuda":
        return _native_bfloat16_gpu()
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                flags = f.read()
        except OSError:  # not Linux: no cheap way to know, stay in float32
            return False
        return " avx512_bf16" in flags or " amx_bf16" in flags
    return False


PRECISIONS = ("float32", "bfloat16", "float16", "auto")


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run on ``device`` trains in: ``"float32"``, ``"bfloat16"`` or ``"float16"``.

    ``"auto"``: on a CUDA device bfloat16 where it computes it natively, else float16 (with a
    gradient scaler, see :class:`rnnkit.train.Trainer`); elsewhere bfloat16 on hardware with fast
    bfloat16, else float32. ``"float16"`` needs a CUDA device: its narrow range needs the
    gradient scaler, which rnnkit runs on CUDA only (a ValueError elsewhere).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bfloat16" if _native_bfloat16_gpu() else "float16"
        return "bfloat16" if fast_bfloat16(device) else "float32"
    if precision == "float16" and device.type != "cuda":
        raise ValueError(f"--precision float16 needs a CUDA device (it trains with a gradient scaler); this run is "
                         f"on {device.type}: use --precision float32, bfloat16 or auto")
    return precision

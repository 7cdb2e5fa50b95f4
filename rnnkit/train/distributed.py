"""Data-parallel training on PyTorch's own engine: ``torch.distributed`` and
``DistributedDataParallel`` (DDP), in processes started by torchrun.

    torchrun --nproc-per-node 2 -m rnnkit train lm --corpus shakespeare     # 2 processes, this machine
    rnnkit train lm --corpus shakespeare --nproc 2                          # the same, torchrun started for you

What this module holds (the loop itself is :class:`rnnkit.train.Trainer`, which uses it when a
process group is initialised):

* :func:`session`: under torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment),
  initialises the process group once -- gloo on the CPU, nccl on CUDA with one device per process,
  ``cuda:LOCAL_RANK`` -- and destroys it at the end, also on errors.
* :class:`Distributed`: this process's place in the run (rank, world size, device) and the few
  collectives the trainer needs, each on tensors of the backend's device.
* :func:`wrap`: the model in DDP. DDP synchronises the gradients of whatever runs inside its
  ``forward``; a task's loss may call the model several times (a TBPTT window in two segments) or
  through another method (``Seq2Seq.loss``), so DDP wraps a module whose ``forward`` runs the
  task's loss: the whole loss is one DDP forward, and the model stays the plain module
  everywhere else (checkpoints never carry DDP's ``module.`` prefix).
* :func:`share`, :class:`StandIn`: how the tasks cut a global batch into the ranks' shares.

The global batch is ``--batch-size`` whatever the number of processes N: each rank takes
``batch_size / N`` (:func:`check_batch_size`), so a command trains the same model with any N. The
loss each rank backpropagates is its share's loss *sum* times ``N / global count`` (the counts
summed over the ranks), so that DDP's average of the ranks' gradients is the gradient of the mean
over the whole global batch, also when the shares hold different numbers of tokens.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .runtime import resolve_device

# What torchrun sets in each process it starts.
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """Whether this process was started by torchrun (or another launcher setting its variables)."""
    return all(name in os.environ for name in TORCHRUN_ENV)


def env_rank() -> int:
    """This process's rank as the launcher set it; 0 outside one."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Whether this process is rank 0, the one that writes files and prints (True outside torchrun)."""
    return env_rank() == 0


def check_batch_size(batch_size: int, world_size: int) -> None:
    """Refuses a global batch that does not divide among the processes (a ValueError of one line)."""
    if batch_size % world_size:
        raise ValueError(f"--batch-size {batch_size} does not divide among {world_size} processes: --batch-size is "
                         f"the global batch, each process takes an equal share; give a multiple of {world_size}")


def rank_device(spec: str | torch.device | None, local_rank: int, local_world_size: int) -> torch.device:
    """The device of the process ``local_rank`` of this machine for ``--device spec``: ``auto`` and
    ``cuda`` give ``cuda:LOCAL_RANK`` where there is CUDA (``auto``: else the CPU), ``cpu`` the CPU.
    An explicit ``cuda:N`` is taken only with one process per machine; MPS is refused (no DDP)."""
    text = "auto" if spec is None else str(spec)
    device = resolve_device(text)  # checks the name and that the machine has it: one line otherwise
    if device.type == "mps":
        raise ValueError("--device mps: data-parallel training runs on CPUs (gloo) or CUDA devices (nccl); "
                         "use --device cpu or cuda")
    if device.type == "cpu":
        return device
    if ":" in text and local_world_size > 1:
        raise ValueError(f"--device {text}: with {local_world_size} processes on this machine each trains on "
                         "cuda:LOCAL_RANK; give --device cuda or auto (CUDA_VISIBLE_DEVICES chooses the GPUs)")
    if ":" in text:
        return device
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ValueError(f"process {local_rank} of this machine has no CUDA device of its own (there are {count}); "
                         f"start at most {count} process{'es' if count != 1 else ''} per machine, or train on the CPU "
                         "with --device cpu")
    return torch.device("cuda", local_rank)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run, and the collectives the training loop uses
    (every rank must call each of them, in the same order)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device  # this rank's device; collectives' tensors live there too (nccl needs CUDA tensors)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that evaluates, writes checkpoints, metrics and plots, and shows progress."""
        return self.rank == 0

    def _tensor(self, values: Sequence[float]) -> torch.Tensor:
        return torch.tensor(list(values), dtype=torch.float64, device=self.device)

    def broadcast(self, values: Sequence[float]) -> list[float]:
        """Rank 0's ``values`` (floats), on every rank."""
        t = self._tensor(values)
        dist.broadcast(t, src=0)
        return t.tolist()

    def sum(self, values: Sequence[float]) -> list[float]:
        """The element-wise sums of every rank's ``values`` (in float64), on every rank."""
        t = self._tensor(values)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` (picklable), on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj`` (picklable; tensors on the CPU), in rank order, on every rank."""
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()


def current(spec: str | torch.device | None = "auto") -> Distributed | None:
    """This process's :class:`Distributed` when a process group is initialised (by :func:`session`,
    or by the caller with ``torch.distributed.init_process_group``), else None. ``spec``: the
    ``--device`` asked for (see :func:`rank_device`)."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    return Distributed(rank, world, local_rank, rank_device(spec, local_rank, local_world))


@contextmanager
def session(spec: str | torch.device | None = "auto") -> Iterator[Distributed | None]:
    """Under torchrun: initialises the default process group (nccl where this rank's device is CUDA,
    else gloo; the rendezvous is torchrun's, from the environment), yields this process's
    :class:`Distributed`, and destroys the group at the end, also on errors. Outside torchrun, or
    when the caller has initialised a group already (which it then keeps): yields :func:`current`."""
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        yield current(spec)
        return
    if not dist.is_available():
        raise ValueError("this PyTorch build has no torch.distributed; data-parallel training needs it")
    local_rank = int(os.environ["LOCAL_RANK"])
    device = rank_device(spec, local_rank, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])))
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before nccl starts: its communicator binds to the current device
    _say_who_launched()
    try:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    except (ValueError, RuntimeError) as err:  # no MASTER_ADDR, a refused connection, a rendezvous timeout
        if "TORCHELASTIC_RUN_ID" in os.environ:  # torchrun's own rendezvous failed: torch's error, whole
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"cannot join the data-parallel run that RANK, WORLD_SIZE and LOCAL_RANK describe ({first}); "
                         "start it with torchrun or rnnkit train --nproc N, or unset them to train in one "
                         "process") from None
    try:
        yield Distributed(dist.get_rank(), dist.get_world_size(), local_rank, device)
    finally:
        dist.destroy_process_group()


def _say_who_launched() -> None:
    """Warns (rank 0) when RANK, WORLD_SIZE and LOCAL_RANK are set but not by torchrun (which sets
    TORCHELASTIC_RUN_ID too): another launcher's, or stale variables left in a shell, which would
    make a single-process command wait for peers that never come."""
    if "TORCHELASTIC_RUN_ID" in os.environ or env_rank() != 0 or "MASTER_ADDR" not in os.environ:
        return  # (without MASTER_ADDR the rendezvous fails at once, and its error line says the same)
    n = os.environ["WORLD_SIZE"]
    warnings.warn(f"RANK, WORLD_SIZE and LOCAL_RANK are set (not by torchrun): joining a run of {n} "
                  f"process{'' if n == '1' else 'es'} at {os.environ['MASTER_ADDR']}:"
                  f"{os.environ.get('MASTER_PORT', '?')}; unset them to train in one process",
                  stacklevel=4)  # the caller's `with session()` (contextlib's __enter__ between)


class _LossStep(nn.Module):
    """What DDP wraps: the model (so DDP sees and synchronises its parameters), and a ``forward``
    that runs a task's loss, so that every use of the model in one training step is one DDP forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, loss_fn):
        return loss_fn()


def wrap(model: nn.Module, group: Distributed) -> nn.parallel.DistributedDataParallel:
    """``model`` (on ``group.device``) in DDP; call it with a function computing the loss,
    ``ddp(lambda: task.loss(batch))``. DDP broadcasts rank 0's weights now, and averages the
    gradients during each backward. rnnkit's models hold no buffers: the carried recurrent states
    are the tasks' own, never module state that DDP would synchronise."""
    return nn.parallel.DistributedDataParallel(
        _LossStep(model), device_ids=[group.device.index] if group.device.type == "cuda" else None)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s generators (dropout): rank 0 keeps ``seed``'s, the others differ."""
    return (seed + 1_000_003 * rank) % 2**63


@dataclass
class StandIn:
    """A rank's batch when a (last, small) global batch has fewer items than there are ranks: one
    item of the global batch, whose loss the task reports with a count of 0, so that the rank still
    runs a forward and backward (DDP needs every rank in each gradient reduction) and adds nothing."""

    batch: object


def share(index: Sequence[int], rank: int, world_size: int) -> tuple[list[int], bool]:
    """Rank ``rank``'s share of the global batch ``index``: contiguous parts of near-equal size
    (sizes differ by at most one), in order. Returns ``(items, real)``; ``real`` is False when the
    share is empty, and ``items`` is then the batch's last item, to run as a :class:`StandIn`.
    With ``world_size`` 1 the share is the whole batch."""
    size, extra = divmod(len(index), world_size)
    start = rank * size + min(rank, extra)
    part = list(index[start : start + size + (rank < extra)])
    return (part, True) if part else (list(index[-1:]), False)

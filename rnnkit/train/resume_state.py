"""The trainer's part of a resumable state: written at each save, read back and checked on ``--resume``.

:meth:`rnnkit.train.Trainer._save_state` writes, as the ``trainer`` entry of
``OUT/resume/checkpoint.json``, where the run stands (step, epoch, batches done in the epoch, best
metrics, evaluations without improvement, ...) and the state of every random generator
(:func:`generator_state`); a data-parallel run adds each other rank's generators under ``ranks``.

:func:`read_resume_state` reads that entry back and checks every field, its type and its range,
before the trainer trusts any of it: a damaged or hand-edited record is one
:class:`~rnnkit.train.checkpoint.CheckpointError` naming the file and the field, not a traceback
many steps later in the loop. The generators' states are tried on scratch generators, so restoring
them (:func:`restore_generators`) cannot fail halfway. The number of processes is checked first: a
run resumed with another number hears that, not that its checkpoint is damaged.
:func:`load_optimizer_state` does the same for the optimiser's saved state.

Also here, what else a resume checks and reads: that the command's configs are the saved ones
(:func:`resume_differences`), the run that wrote the best checkpoint (:func:`committed_run_id`) and
the records of ``metrics.jsonl`` (:func:`read_metrics`).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import META, Checkpoint, CheckpointError
from .plots import read_records

# TrainConfig fields a resumed run may change: budgets, and how the run is executed and saved.
# --precision too: a float16 run trained on a GPU goes on on a CPU only in float32 or bfloat16.
MAY_CHANGE_ON_RESUME = ("epochs", "max_steps", "max_minutes", "threads", "device", "precision", "checkpoint_every",
                        "out",
                        "resume", "overwrite")
_REQUIRED = object()  # the default of a field that every record has
_PYTHON_RNG_WORDS = 625  # random.getstate()[1]: 624 words of Mersenne Twister state and the position
_NUMPY_RNG_WORDS = 624


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resume_differences(saved: dict, current: dict) -> list[str]:
    """What would make a resumed run another run: each config field (and the data source) that
    ``current`` (this run's checkpoint record) sets otherwise than ``saved``, as ``--flag new
    (saved: old)``. The fields of :data:`MAY_CHANGE_ON_RESUME` are not compared."""
    out = []
    for section, values in current.items():
        if not isinstance(values, dict) or section in ("vocab", "src_vocab", "tgt_vocab", "trainer", "task"):
            continue
        before = saved.get(section)
        if not isinstance(before, dict):
            continue
        for name, value in values.items():
            if section == "train" and name in MAY_CHANGE_ON_RESUME:
                continue
            if name in before and before[name] != value:
                out.append(f"{_flag(name)} {value} (saved: {before[name]})")
    return out


def generator_state() -> dict:
    """This process's Python and NumPy generators as JSON (the torch generators go as tensors)."""
    version, words, gauss = random.getstate()
    np_state = np.random.get_state()
    return {"python_rng": [version, list(words), gauss],
            "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]]}


@dataclass
class ResumeState:
    """The checked ``trainer`` record of a resumable state, with this rank's generators and carried state."""

    step: int
    epoch: int
    batch_in_epoch: int  # batches of ``epoch`` already done: skipped on resume
    best: dict | None  # the best validation metrics so far (None: no evaluation yet)
    evaluated_at: int  # the step of the last evaluation, -1 if none
    early_stopped: bool
    records: int | None  # lines logged to metrics.jsonl at the save (None: a state from an earlier version)
    stale: int  # evaluations since the last improvement
    running: float | None  # the smoothed training loss
    seconds: float  # training time before the save, for --max-minutes
    lr_scale: float  # what validation plateaus left of the learning rate
    grad_scaler: dict | None  # float16's loss scaler
    python_rng: tuple = ()  # for random.setstate
    numpy_rng: tuple = ()  # for np.random.set_state
    torch_rng: torch.Tensor | None = None
    cuda_rng: torch.Tensor | None = None
    task_json: dict = field(default_factory=dict)  # the task's carried state (StatefulTask.restore)
    task_tensors: dict = field(default_factory=dict)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _damaged(where: str, name: str, value, problem: str) -> CheckpointError:
    return CheckpointError(f"{where}: {name} = {_shown(value)} {problem}; it is damaged, retrain or restore the folder")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Fields:
    """The fields of one JSON object, each read with its checks; ``where`` names the object in errors."""

    def __init__(self, values, where: str):
        if not isinstance(values, dict):
            raise CheckpointError(f"{where} is {'missing' if values is None else 'not an object'}; "
                                  "retrain or restore the folder")
        self.values, self.where = values, where

    def raw(self, name: str, default=_REQUIRED):
        if name in self.values:
            return self.values[name]
        if default is _REQUIRED:
            raise CheckpointError(f"{self.where} lacks {name!r}; it is damaged or not from this version of "
                                  "rnnkit; retrain or restore the folder")
        return default

    def integer(self, name: str, least: int, most: int | None = None, default=_REQUIRED) -> int:
        value = self.raw(name, default)
        if not _is_int(value):
            raise _damaged(self.where, name, value, "is not an integer")
        if value < least or (most is not None and value > most):
            bounds = f"at least {least}" if most is None else f"between {least} and {most}"
            raise _damaged(self.where, name, value, f"is not {bounds}")
        return value

    def number(self, name: str, least: float | None = None, positive: bool = False, optional: bool = False,
               default=_REQUIRED) -> float | None:
        value = self.raw(name, default)
        if value is None and optional:
            return None
        if not _is_number(value) or not math.isfinite(value):
            raise _damaged(self.where, name, value, "is not a finite number")
        if (positive and value <= 0) or (least is not None and value < least):
            raise _damaged(self.where, name, value, "is not positive" if positive else f"is below {least}")
        return float(value)

    def boolean(self, name: str, default=_REQUIRED) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise _damaged(self.where, name, value, "is not true or false")
        return value

    def object(self, name: str, default=_REQUIRED) -> dict:
        value = self.raw(name, default)
        if not isinstance(value, dict):
            raise _damaged(self.where, name, value, "is not an object")
        return value


def _best(fields: _Fields, monitor: str) -> dict | None:
    """The best metrics: None (no evaluation yet) or numbers by name, ``monitor`` among them."""
    best = fields.raw("best")
    if best is None:
        return None
    if not isinstance(best, dict):
        raise _damaged(fields.where, "best", best, "is not an object of metrics")
    if monitor not in best:
        raise _damaged(fields.where, "best", best, f"lacks the monitored metric {monitor!r}")
    for name, value in best.items():
        if not _is_number(value) or (name == monitor and math.isnan(value)):
            raise _damaged(fields.where, f"best[{name!r}]", value, "is not a number")
    return best


def _python_rng(fields: _Fields) -> tuple:
    value = fields.raw("python_rng")
    try:
        version, words, gauss = value
        state = (version, tuple(words), gauss)
        if not (_is_int(version) and len(state[1]) == _PYTHON_RNG_WORDS and all(map(_is_int, state[1]))
                and (gauss is None or _is_number(gauss))):
            raise ValueError
        random.Random().setstate(state)  # tried on a scratch generator: the real one is set whole or not at all
    except (TypeError, ValueError, OverflowError):
        raise _damaged(fields.where, "python_rng", value, "is not the state of Python's generator") from None
    return state


def _numpy_rng(fields: _Fields) -> tuple:
    value = fields.raw("numpy_rng")
    try:
        name, words, *rest = value
        if not (isinstance(words, list) and len(words) == _NUMPY_RNG_WORDS and all(map(_is_int, words))):
            raise ValueError
        state = (name, np.array(words, dtype=np.uint32), *rest)
        np.random.RandomState().set_state(state)
    except (TypeError, ValueError, OverflowError):
        raise _damaged(fields.where, "numpy_rng", value, "is not the state of NumPy's generator") from None
    return state


def _generator_tensor(ckpt: Checkpoint, name: str, current: torch.Tensor, required: bool = True) -> torch.Tensor | None:
    """The saved generator state ``name``, checked to have the dtype and size of the ``current``
    one (None when it is absent and not ``required``)."""
    tensor = ckpt.tensors.get(name)
    if tensor is None:
        if not required:
            return None
        raise CheckpointError(f"{ckpt.directory} lacks the tensor {name!r} (a generator's state); it is damaged "
                              "or not from this version of rnnkit; retrain or restore the folder")
    if tensor.dtype != current.dtype or tensor.shape != current.shape:
        raise CheckpointError(f"{ckpt.directory}: the tensor {name!r} is {tensor.dtype} {tuple(tensor.shape)}, not "
                              f"a generator state ({current.dtype} {tuple(current.shape)}); it is damaged, retrain "
                              "or restore the folder")
    return tensor


def read_resume_state(ckpt: Checkpoint, monitor: str, rank: int, world_size: int,
                      device: torch.device) -> ResumeState:
    """The ``trainer`` record of the resumable state ``ckpt``, every field checked, with rank
    ``rank``'s generators and carried state. Raises ValueError when the run was trained by another
    number of processes than ``world_size`` (first: the answer is another launch, not another
    checkpoint), :class:`CheckpointError` when a field is missing, of the wrong type or out of range."""
    meta_file = Path(ckpt.directory) / META
    fields = _Fields(ckpt.meta.get("trainer"), f"{meta_file}, entry 'trainer'")
    saved_world = fields.integer("world_size", least=1, default=1)
    if saved_world != world_size:
        run = Path(ckpt.directory).parent  # the run folder: the resumable state is its resume/
        raise ValueError(f"--resume: the run in {run} was trained by {saved_world} process"
                         f"{'es' if saved_world > 1 else ''} and this one has {world_size}; resume it with "
                         f"{saved_world} (torchrun --nproc-per-node, or --nproc) to go on exactly")
    step = fields.integer("step", least=0)
    state = ResumeState(
        step=step, epoch=fields.integer("epoch", least=1),
        batch_in_epoch=fields.integer("batch_in_epoch", least=0, most=step),  # each batch done was a step
        best=_best(fields, monitor), evaluated_at=fields.integer("evaluated_at", least=-1, most=step, default=-1),
        early_stopped=fields.boolean("early_stopped", default=False),
        records=None if fields.raw("records", None) is None else fields.integer("records", least=0),
        stale=fields.integer("stale", least=0), running=fields.number("running", optional=True),
        seconds=fields.number("seconds", least=0.0), lr_scale=fields.number("lr_scale", positive=True),
        grad_scaler=_grad_scaler(fields))
    # rank 0's generators and carried state are where a single process keeps them; rank r's under
    # "ranks" and the tensors' "rank{r}." names
    if world_size > 1:
        ranks = fields.raw("ranks")
        if not isinstance(ranks, list) or len(ranks) != world_size - 1:
            raise _damaged(fields.where, "ranks", ranks, f"is not a list of {world_size - 1} records")
    own = fields if rank == 0 else _Fields(ranks[rank - 1], f"{fields.where}, ranks[{rank - 1}]")
    prefix = "" if rank == 0 else f"rank{rank}."
    state.python_rng, state.numpy_rng = _python_rng(own), _numpy_rng(own)
    state.torch_rng = _generator_tensor(ckpt, prefix + "torch_rng", torch.get_rng_state())
    if device.type == "cuda":  # restored only on a CUDA device; a state saved on the CPU has none
        state.cuda_rng = _generator_tensor(ckpt, prefix + "cuda_rng", torch.cuda.get_rng_state(device), False)
    task = ckpt.meta.get("task", {}) if rank == 0 else own.raw("task", {})
    if not isinstance(task, dict):
        raise _damaged(f"{meta_file}" if rank == 0 else own.where, "task", task, "is not an object")
    state.task_json = task
    task_prefix = prefix + "task."
    state.task_tensors = {k[len(task_prefix):]: v for k, v in ckpt.tensors.items() if k.startswith(task_prefix)}
    return state


def _grad_scaler(fields: _Fields) -> dict | None:
    """float16's loss scaler (``torch.amp.GradScaler.state_dict()``), or None."""
    saved = fields.raw("grad_scaler", None)
    if not saved:
        return None
    scaler = _Fields(saved, f"{fields.where}, grad_scaler")
    return {"scale": scaler.number("scale", positive=True),
            "growth_factor": scaler.number("growth_factor", positive=True),
            "backoff_factor": scaler.number("backoff_factor", positive=True),
            "growth_interval": scaler.integer("growth_interval", least=1),
            "_growth_tracker": scaler.integer("_growth_tracker", least=0)}


def restore_generators(state: ResumeState, device: torch.device) -> None:
    """Sets every generator of this process to the checked ``state``."""
    random.setstate(state.python_rng)
    np.random.set_state(state.numpy_rng)
    torch.set_rng_state(state.torch_rng)
    if device.type == "cuda" and state.cuda_rng is not None:
        torch.cuda.set_rng_state(state.cuda_rng, device)


def _same_kind(saved, current) -> bool:
    """Whether an optimiser setting read back (JSON) can stand for the current one."""
    if isinstance(current, bool) or current is None:  # flags; None: torch picks (foreach, fused)
        return isinstance(saved, bool) or saved is None
    if _is_number(current):
        return _is_number(saved) and math.isfinite(saved)
    if isinstance(current, (tuple, list)):
        return isinstance(saved, (tuple, list)) and len(saved) == len(current) and all(
            _same_kind(s, c) for s, c in zip(saved, current))
    return type(saved) is type(current)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, directory: Path) -> None:
    """``optimizer.load_state_dict(state)`` with the settings' types and the tensors' shapes checked:
    a state that does not fit (damaged, edited) is one :class:`CheckpointError`, not an error at
    the first step."""
    where = f"{Path(directory) / META}, entry 'optimizer'"
    groups = state.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(optimizer.param_groups):
        raise _damaged(where, "param_groups", groups, f"is not a list of {len(optimizer.param_groups)} groups")
    for i, (saved, current) in enumerate(zip(groups, optimizer.param_groups)):
        if not isinstance(saved, dict):
            raise _damaged(where, f"param_groups[{i}]", saved, "is not an object")
        for name, value in current.items():
            if name != "params" and name in saved and not _same_kind(saved[name], value):
                raise _damaged(where, f"param_groups[{i}].{name}", saved[name], f"is not like {value!r}")
    for index, entries in state.get("state", {}).items():
        for name, value in entries.items():  # the JSON part (the tensors were read as tensors)
            if not (isinstance(value, torch.Tensor) or value is None or _is_number(value) or isinstance(value, bool)):
                raise _damaged(where, f"values[{index}].{name}", value, "is not a number")
    try:
        optimizer.load_state_dict(state)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{where} does not fit this optimizer ({first}); it is damaged, retrain or restore "
                              "the folder") from None
    for group in optimizer.param_groups:
        for param in group["params"]:
            for name, value in optimizer.state.get(param, {}).items():
                # per-parameter tensors (moments, momentum) have the parameter's shape; counters are scalars
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                    raise CheckpointError(f"{where}: the {name} of a parameter of shape {tuple(param.shape)} has "
                                          f"shape {tuple(value.shape)}; it is damaged, retrain or restore the folder")


def committed_run_id(directory: Path) -> str | None:
    """The run that wrote the checkpoint committed in ``directory`` (None: none, or unreadable)."""
    try:
        meta = json.loads((directory / META).read_bytes())
        return meta.get("run_id") if isinstance(meta, dict) else None
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
        return None


def read_metrics(out: Path) -> list[dict]:
    """The records of ``OUT/metrics.jsonl`` (a line torn by a crash, or not a record, is dropped)."""
    try:
        return read_records(out / "metrics.jsonl")
    except (OSError, UnicodeDecodeError):
        return []

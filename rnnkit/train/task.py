"""What the training loop needs from a task, as types a reader and a type checker can see.

A task owns the data and the model. :class:`Task` is what every task provides; the optional
abilities are separate protocols, and :class:`rnnkit.train.Trainer` asks ``isinstance(task, ...)``
(they are ``runtime_checkable``) before using one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Task(Protocol):
    """The contract of every task handed to :class:`rnnkit.train.Trainer`."""

    model: nn.Module  # what is optimised; kept free of loop state so DistributedDataParallel can wrap it
    monitor: ClassVar[str]  # the validation metric that picks the best checkpoint, a key of evaluate()
    higher_is_better: ClassVar[bool]  # whether a larger ``monitor`` is better (accuracy) or worse (loss)
    unit: ClassVar[str]  # what ``loss`` counts, for throughput: "examples" or "tokens"

    def train_batches(self, epoch: int) -> Iterable[Any]:
        """The batches of one epoch, in an order that is a function of the seed and ``epoch``
        alone (resuming skips the batches already seen)."""
        ...

    def loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """The mean loss over ``batch`` (a scalar with a graph) and how many items it covered.
        The trainer has moved ``model`` to ``TrainConfig.device``; the task moves the batch there."""
        ...

    def evaluate(self) -> dict:
        """Validation metrics, ``monitor`` among them."""
        ...

    def checkpoint_meta(self) -> dict:
        """JSON-serialisable configs, vocabularies and labels, with ``model_type``: what a
        checkpoint needs to rebuild the model."""
        ...


@runtime_checkable
class SizedTask(Protocol):
    """A task that knows its epoch's length (for the progress bar and budget-shaped schedules). A
    task whose epochs differ in length also has ``batches_in_epoch(epoch) -> int`` (1-based epoch),
    which the trainer then asks instead (the language model's random window lengths)."""

    def batches_per_epoch(self) -> int: ...


@runtime_checkable
class EpochAwareTask(Protocol):
    """A task with work to do when an epoch starts afresh (not when one is resumed midway)."""

    def start_epoch(self, epoch: int) -> None: ...


@runtime_checkable
class StatefulTask(Protocol):
    """A task that carries state between batches (the language model's recurrent states), saved
    with the resumable training state and restored from it."""

    def resume_state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """(JSON-serialisable values, named tensors) to save."""
        ...

    def restore(self, data: dict, tensors: dict[str, torch.Tensor]) -> None:
        """Puts back what :meth:`resume_state` returned."""
        ...


@runtime_checkable
class ShardedTask(Protocol):
    """A task that trains data-parallel (see :mod:`rnnkit.train.distributed`): each rank takes its
    share of every global batch. The trainer calls :meth:`shard` once, before the first batch,
    when it trains with DistributedDataParallel."""

    def shard(self, rank: int, world_size: int) -> None:
        """From now on, :meth:`Task.train_batches` yields rank ``rank``'s share of each global batch
        (the same number of batches on every rank), and :meth:`Task.loss` returns the mean loss
        over that share with its count (0 for a :class:`~rnnkit.train.distributed.StandIn`)."""
        ...


def epoch_length(task, epoch: int) -> int | None:
    """The batches of ``epoch`` (see :class:`SizedTask`); None for a task that does not know."""
    if hasattr(task, "batches_in_epoch"):
        return task.batches_in_epoch(epoch)
    return task.batches_per_epoch() if isinstance(task, SizedTask) else None

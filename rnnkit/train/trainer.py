"""One training loop for every model.

A *task* owns the data and the model; :class:`rnnkit.train.task.Task` is what it must provide
(the model, its batches, a loss, validation metrics and what a checkpoint stores), and
:mod:`rnnkit.train.task` names the optional abilities: a known epoch length (``SizedTask``), work
at the start of an epoch (``EpochAwareTask``), state carried between batches (``StatefulTask``).

Resuming: with ``checkpoint_every`` the loop saves, in ``OUT/resume/``, the weights, the optimiser,
every RNG state, the position in the epoch and the task's carried state; ``resume=True`` restores
them, skips the batches already seen (batch order is a function of seed and epoch) and goes on, so
a run killed and resumed ends with the same weights as one never interrupted. A resumed run must
be the same run: configs that differ from the saved ones are refused (:mod:`.resume_state`, which
also checks every field of the saved state), except the budgets (``epochs``, ``max_steps``,
``max_minutes``), which may be raised to train longer, and ``threads``/``checkpoint_every``.
``metrics.jsonl`` goes on from the resumed step: the records of the steps the killed run did after
its last save are dropped, not repeated.

The folder: see :mod:`rnnkit.train.run_folder` (one run at a time; a folder holding another run
only with ``resume`` or ``overwrite``). With ``overwrite`` the old run's files stay until the new
run commits its first checkpoint, then go (its best model, resume state, metrics, plot).

The loop adds: the optimiser, gradient clipping, evaluation each epoch, early stopping, the
``--max-steps``/``--max-minutes`` budgets, a progress bar with loss and items/s, metrics to
``metrics.jsonl``, and a checkpoint whenever the monitored metric improves.

Device and precision: the trainer moves the task's model to ``cfg.device``
(:func:`~rnnkit.train.runtime.resolve_device`; the tasks move each batch to their model's device)
and trains in ``cfg.precision`` (:func:`~rnnkit.train.runtime.resolve_precision`): bfloat16 or
float16 autocast for the forward pass, float16 with a ``torch.amp.GradScaler`` whose state is
saved with the resumable state, so a resumed float16 run goes on with the same loss scale. A
run may resume on another device: the weights, the optimiser's state and the carried state are
read onto the CPU and moved (the CUDA generator's state is restored only on a CUDA device).

Data-parallel (when a process group is initialised: ``torchrun ... -m rnnkit train``, see
:mod:`rnnkit.train.distributed`): each rank trains on ``cuda:LOCAL_RANK`` or the CPU, takes its
share of each global batch (:class:`~rnnkit.train.task.ShardedTask`), and backpropagates through
DistributedDataParallel a loss scaled so that the averaged gradient is that of the global batch's
mean. Every decision is the same on every rank: the loss value (the global mean, summed across
ranks) for the NaN check and the running loss; the validation metrics, computed on rank 0 alone
and broadcast (exact: the single-process evaluation; the other ranks wait); and the stop, which
rank 0 decides on its own clock and broadcasts after each step, as it broadcasts its clock for a
time-shaped learning rate. Gradient clipping acts on the averaged gradients, the same on every
rank. Only rank 0 writes (checkpoints, metrics, plots) and shows progress; the others wait for
each checkpoint at a barrier. A resumable state holds every rank's RNG states and carried state
(gathered by rank 0), and resumes only with the same number of processes.

Learning rate: ``schedule`` shapes it over the training budget, from ``lr`` (after
``warmup_steps`` of linear rise) down to zero at the end ("linear" or "cosine"); progress is the
furthest along of the epochs, ``max_steps`` and ``max_minutes`` budgets. With a time budget the
shape follows the clock, so two runs see slightly different rates (use ``max_steps`` where
bit-for-bit reproducibility matters). ``lr_decay`` divides the rate on a validation plateau, on top
of the schedule. A budget raised on resume stretches the schedule from then on: the rate jumps to
where the longer budget would have it at this step, so the result is not that of a run started
with the longer budget.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import time
import uuid
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from . import distributed, run_folder
from .checkpoint import (
    CheckpointError,
    append_line,
    atomic_write_text,
    check_saveable,
    checkpoint_fields,
    load_checkpoint,
    remove_checkpoint,
    remove_leftovers,
    save_checkpoint,
)
from .resume_state import (  # noqa: F401 -- MAY_CHANGE_ON_RESUME: the CLI reads it from here
    MAY_CHANGE_ON_RESUME,
    committed_run_id,
    generator_state,
    load_optimizer_state,
    read_metrics,
    read_resume_state,
    restore_generators,
    resume_differences,
)
from .run_folder import RESUME
from .runtime import resolve_device, resolve_precision, seed_everything, usable_threads
from .task import EpochAwareTask, ShardedTask, SizedTask, StatefulTask, Task, epoch_length

PLOT_EVERY = 30.0  # seconds between redraws of loss.png during a run
STOPS = (None, "max_steps", "max_minutes", "early_stopping")  # the values of Trainer.stop, by code (broadcast)


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what was kept."""


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class Trainer:
    def __init__(self, task: Task, cfg: TrainConfig, progress: bool = True, data: dict | None = None):
        """``task``: see :class:`rnnkit.train.task.Task`. ``data``: where the training data came
        from (JSON), saved in every checkpoint so that a resumed run can find it and check it is
        unchanged."""
        if not isinstance(task, Task):
            missing = [name for name in ("model", "monitor", "higher_is_better", "unit", "train_batches", "loss",
                                         "evaluate", "checkpoint_meta") if not hasattr(task, name)]
            raise TypeError(f"{type(task).__name__} is not a training task: it lacks {', '.join(missing)} "
                            "(see rnnkit.train.task.Task)")
        self.task, self.cfg, self.progress, self.data = task, cfg, progress, data
        # Data-parallel when a process group is initialised (torchrun); None otherwise.
        self.dist = distributed.current(cfg.device)
        self.is_main = self.dist is None or self.dist.is_main
        # Checked before any work: an unusable device or precision is one line, not a failed run.
        self.device = resolve_device(cfg.device) if self.dist is None else self.dist.device
        self.precision = resolve_precision(cfg.precision, self.device)
        task.model.to(self.device)  # before the optimiser is built: its state will live beside the weights
        self.ddp = None
        if self.dist is not None:
            if not isinstance(task, ShardedTask):
                raise TypeError(f"{type(task).__name__} cannot train data-parallel: it lacks shard() "
                                "(see rnnkit.train.task.ShardedTask)")
            distributed.check_batch_size(cfg.batch_size, self.dist.world_size)
            task.shard(self.dist.rank, self.dist.world_size)
            self.ddp = distributed.wrap(task.model, self.dist)  # broadcasts rank 0's weights
            if self.dist.rank:  # each rank its own dropout masks (rank 0 draws as a single process would)
                seed_everything(distributed.rank_seed(cfg.seed, self.dist.rank))
        # float16's range is too narrow for small gradients: the loss is scaled up before backward
        # and the gradients down before the step (a step whose gradients overflowed is skipped).
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "float16" else None
        self.out = Path(cfg.out)
        self.run_id: str | None = None
        self.pending: list | None = None  # metrics records not yet in metrics.jsonl (see _log)
        self.replacing = False  # --overwrite: the previous run's files stay until the first commit
        self.plotted = -math.inf
        self.plot_failed = False  # loss.png could not be drawn (warned once)
        self.evaluated_at = -1  # the step of the last evaluation
        self.records = 0  # lines this run has logged to metrics.jsonl
        self.optimizer = make_optimizer(task.model.parameters(), cfg)
        self.step, self.epoch, self.batch_in_epoch = 0, 1, 0
        self.best: dict | None = None
        self.stale, self.running, self.stop = 0, None, None
        self.lr_scale = 1.0  # divided by lr_decay on each validation plateau
        if cfg.schedule != "constant" and not (cfg.max_steps or cfg.max_minutes
                                               or isinstance(task, SizedTask)):
            raise ValueError(f"--schedule {cfg.schedule} needs a known budget: give --max-steps or --max-minutes")
        self.elapsed_before = 0.0  # seconds spent before a resume, for --max-minutes
        check_saveable(self._meta())  # before training, not at the first save


    # -- logging ------------------------------------------------------------------------------

    def _log(self, record: dict) -> None:
        """Appends to ``metrics.jsonl``. Records wait in ``self.pending`` while the file still holds
        what must go first (an overwritten run's records, a resumed run's records past the resumed
        step); the first write then replaces the file whole, in one rename. Rank 0 alone writes."""
        if not self.is_main:
            return
        self.records += 1
        if self.pending is None:
            append_line(self.out / "metrics.jsonl", json.dumps(record))
            return
        self.pending.append(record)
        if not self.replacing:
            self._flush_metrics()

    def _flush_metrics(self) -> None:
        atomic_write_text(self.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.pending))
        self.pending = None

    def _plot(self, final: bool = False) -> None:
        """Redraws ``loss.png`` at the end, and during the run at most every PLOT_EVERY seconds (a
        plot costs a quarter of a second, more than many evaluations)."""
        now = time.perf_counter()
        if not self.is_main or (not final and now - self.plotted < PLOT_EVERY):
            return
        self.plotted = now
        if not (self.out / "metrics.jsonl").is_file():
            return
        from .._ctrl_c import ctrl_c_held
        from .plots import redraw_loss_png

        try:
            with ctrl_c_held():  # matplotlib's first imports must not be cut (a Ctrl-C there can be lost)
                redraw_loss_png(self.out)
        except ImportError:  # matplotlib is optional for training itself
            return
        except Exception as err:  # a picture never stops a run: a full disk, an error of matplotlib
            if not self.plot_failed:
                self.plot_failed = True
                cause = err.strerror if isinstance(err, OSError) and err.strerror else f"{type(err).__name__}: {err}"
                warnings.warn(f"cannot draw {self.out / 'loss.png'} ({' '.join(str(cause).split())}); training "
                              "goes on without it (metrics.jsonl holds the numbers)", RuntimeWarning, stacklevel=2)

    def _committed(self, kept: str) -> None:
        """Called after each checkpoint commit (``kept``: "best" or "resume"). The first commit of
        an overwriting run retires the previous run's files."""
        if not self.replacing:
            return
        if kept == "best":
            remove_checkpoint(self.out / RESUME)
            try:
                os.rmdir(self.out / RESUME)
            except OSError:
                pass
        else:
            remove_checkpoint(self.out)
        (self.out / "loss.png").unlink(missing_ok=True)
        self.replacing = False
        self._flush_metrics()

    def _meta(self, **extra) -> dict:
        return {**self.task.checkpoint_meta(), "run_id": self.run_id, "data": self.data, **extra}

    # -- evaluation, early stopping, learning-rate decay ---------------------------------------

    def _improved(self, metrics: dict) -> bool:
        if self.best is None:
            return True
        new, old = metrics[self.task.monitor], self.best[self.task.monitor]
        return new > old if self.task.higher_is_better else new < old

    def _evaluate(self, seconds: float, rate: float) -> None:
        if self.dist is None:
            metrics = self.task.evaluate()
        else:  # rank 0 evaluates (the single-process numbers, exactly); the others wait for its metrics
            metrics = self.dist.broadcast_object(self.task.evaluate() if self.is_main else None)
        self.task.model.train()
        self.evaluated_at = self.step
        improved = self._improved(metrics)
        lr = self.optimizer.param_groups[0]["lr"]
        if improved:  # saved before it is logged: metrics.jsonl never names a model that isn't there
            self.best, self.stale = metrics, 0
            if self.is_main:
                save_checkpoint(self.out, self.task.model,
                                self._meta(epoch=self.epoch, step=self.step, metrics=metrics))
                self._committed("best")
            if self.dist is not None:
                self.dist.barrier()  # every rank goes on once the checkpoint is committed
        self._log({"epoch": self.epoch, "step": self.step, "train_loss": self.running, "seconds": seconds,
                   f"{self.task.unit}_per_second": rate, "lr": lr, "precision": self.precision, **metrics})
        if not improved:
            self.stale += 1
            if self.cfg.lr_decay > 1:
                self.lr_scale /= self.cfg.lr_decay
        if self.progress and self.is_main:
            shown = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
            tqdm.write(f"step {self.step} (epoch {self.epoch}): train loss {self.running:.4f}  {shown}"
                       f"{'  (saved)' if improved else ''}")
        self._plot()
        if self.cfg.patience and self.stale >= self.cfg.patience:
            self.stop = "early_stopping"

    def _progress(self, seconds: float, per_epoch: int | None) -> float:
        """How far through its budget the run is, 0..1 (the furthest along of the budgets)."""
        cfg, done = self.cfg, [0.0]
        if cfg.max_steps:
            done.append(self.step / cfg.max_steps)
        if cfg.max_minutes:
            done.append(seconds / (60 * cfg.max_minutes))
        if per_epoch:
            done.append(((self.epoch - 1) * per_epoch + self.batch_in_epoch) / (cfg.epochs * per_epoch))
        return min(1.0, max(done))

    def _set_lr(self, seconds: float, per_epoch: int | None) -> None:
        cfg, factor = self.cfg, self.lr_scale
        if cfg.warmup_steps and self.step < cfg.warmup_steps:
            factor *= (self.step + 1) / cfg.warmup_steps
        if cfg.schedule != "constant":
            p = self._progress(seconds, per_epoch)
            factor *= 1.0 - p if cfg.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * p))
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * factor

    # -- resumable state ------------------------------------------------------------------------

    def _save_state(self, seconds: float) -> None:
        task_json, task_tensors = self.task.resume_state() if isinstance(self.task, StatefulTask) else ({}, {})
        ranks = self._gather_ranks(task_json, task_tensors) if self.dist is not None else None
        if not self.is_main:
            self.dist.barrier()  # rank 0 writes what it gathered
            return
        meta = self._meta(trainer={
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "best": self.best,
            "evaluated_at": self.evaluated_at, "early_stopped": self.stop == "early_stopping",
            "records": self.records,
            "stale": self.stale, "running": self.running, "seconds": seconds, "lr_scale": self.lr_scale,
            **generator_state(),
            **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
            **(ranks[0] if ranks is not None else {})}, task=task_json)
        tensors = {"torch_rng": torch.get_rng_state(), **{f"task.{k}": v for k, v in task_tensors.items()}}
        if self.device.type == "cuda":  # dropout on the GPU draws from the device's own generator
            tensors["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if ranks is not None:
            tensors.update(ranks[1])
        save_checkpoint(self.out / RESUME, self.task.model, meta, self.optimizer.state_dict(), tensors)
        self._committed("resume")
        if self.dist is not None:
            self.dist.barrier()

    def _gather_ranks(self, task_json: dict, task_tensors: dict) -> tuple[dict, dict]:
        """Every rank's RNG states and carried task state, gathered on every rank (a collective):
        ``({"world_size": N, "ranks": [JSON of ranks 1..N-1]}, {"rank{r}.NAME": tensor})`` for the
        resumable state; rank 0's own stay where a single process keeps them."""
        mine = {**generator_state(), "task": task_json}
        tensors = {"torch_rng": torch.get_rng_state(), **{f"task.{k}": v.cpu() for k, v in task_tensors.items()}}
        if self.device.type == "cuda":
            tensors["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        everyone = self.dist.gather((mine, tensors))
        meta = {"world_size": self.dist.world_size, "ranks": [values for values, _ in everyone[1:]]}
        return meta, {f"rank{r}.{k}": v for r, (_, ts) in enumerate(everyone) if r for k, v in ts.items()}

    def _restore(self) -> int:
        """Loads ``OUT/resume``; returns how many batches of the current epoch were already done."""
        where = self.out / RESUME
        ckpt = load_checkpoint(where, self.task.checkpoint_meta()["model_type"])
        meta = ckpt.meta
        differences = resume_differences(meta, self._meta())
        if differences:
            raise ValueError(f"--resume continues the run saved in {where}, but {', '.join(differences)}; drop "
                             "those flags to resume it, or start a new run with --overwrite")
        best_run = committed_run_id(self.out)
        if best_run not in (None, meta.get("run_id")):
            raise CheckpointError(f"{self.out}'s best model and {where} come from different runs (an --overwrite "
                                  "was interrupted); start again with --overwrite")
        # every field checked before any is used; the number of processes first, outside checkpoint_fields:
        # a run resumed with another number hears that, not that its checkpoint is malformed
        rank, world = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        saved = read_resume_state(ckpt, self.task.monitor, rank, world, self.device)
        ckpt.load_into(self.task.model)
        optimizer_state = ckpt.optimizer_state()
        if optimizer_state is None:
            raise CheckpointError(f"{where} holds no optimizer state; it is not a resumable training state")
        load_optimizer_state(self.optimizer, optimizer_state, where)
        self.step, self.epoch, self.best, self.stale = saved.step, saved.epoch, saved.best, saved.stale
        self.running, self.elapsed_before, self.lr_scale = saved.running, saved.seconds, saved.lr_scale
        self.evaluated_at, self.run_id = saved.evaluated_at, meta.get("run_id")
        self.stop = "early_stopping" if saved.early_stopped else None
        restore_generators(saved, self.device)
        if self.scaler is not None and saved.grad_scaler:
            self.scaler.load_state_dict(saved.grad_scaler)
        if isinstance(self.task, StatefulTask):
            with checkpoint_fields(where):
                self.task.restore(saved.task_json, saved.task_tensors)
        if self.stop == "early_stopping" and self.is_main:
            warnings.warn(f"the run in {self.out} had already stopped early at step {self.step} ({self.stale} "
                          "evaluations without improvement): --resume trains it no further; to train longer, "
                          "start a new run (another --out, or --overwrite) with a larger --patience",
                          stacklevel=2)
        # The records logged after this state was saved are redone by the resumed run: dropped.
        kept = read_metrics(self.out)
        if saved.records is None:  # a state saved by an earlier version: by step
            kept = [r for r in kept if "stopped" not in r and r.get("step", 0) <= self.step]
        self.pending = kept[: saved.records]
        self.records = len(self.pending)
        return saved.batch_in_epoch

    def _budget_spent(self, seconds: float) -> bool:
        """Whether the step or time budget is used up (and ``self.stop`` says which)."""
        if self.cfg.max_steps and self.step >= self.cfg.max_steps:
            self.stop = self.stop or "max_steps"
        elif self.cfg.max_minutes and seconds >= 60 * self.cfg.max_minutes:
            self.stop = self.stop or "max_minutes"
        return self.stop in ("max_steps", "max_minutes")

    def _should_stop(self, seconds: float) -> bool:
        """Whether to stop now (``self.stop`` says why). Data-parallel, rank 0's decision, taken on its
        own clock, is broadcast: every rank stops at the same step, none waits for one that left."""
        self._budget_spent(seconds)
        if self.dist is not None:
            self.stop = STOPS[int(self.dist.broadcast([STOPS.index(self.stop)])[0])]
        return bool(self.stop)

    def _agreed_seconds(self, seconds: float) -> float:
        """``seconds``, or data-parallel with a time budget (which shapes the learning rate), rank 0's."""
        if self.dist is None or not self.cfg.max_minutes:
            return seconds
        return self.dist.broadcast([seconds])[0]

    def _global_loss(self, loss: torch.Tensor, count: int) -> tuple[torch.Tensor, float, int]:
        """``(the loss to backpropagate, its value, the items it covered)``. Data-parallel: the value
        and count are the global batch's (sums over the ranks, the same on every rank), and the
        loss is this rank's sum times world_size / global count, so that DDP's average of the
        ranks' gradients is the gradient of the global batch's mean."""
        value = loss.item()
        if self.dist is None:
            return loss, value, count
        total, n = self.dist.sum([value * count, count])
        return loss * (count * self.dist.world_size / n), total / n, int(n)

    def _what_is_kept(self) -> str:
        if self.replacing:
            return f"The previous run in {self.out} is kept as it was"
        if committed_run_id(self.out) == self.run_id:
            return f"The last good checkpoint is kept in {self.out}"
        return "Nothing was saved"

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self) -> dict:
        """Trains until the epochs, the step or time budget, or the patience run out.
        Returns the best validation metrics (those of the checkpoint in ``OUT``)."""
        folder = run_folder.claim(self.out, self.cfg.resume, self.cfg.overwrite) if self.is_main else None
        try:
            if self.is_main:
                for where in (self.out, self.out / RESUME):  # what a killed save left behind
                    remove_leftovers(where)
            if self.dist is not None:
                self.dist.barrier()  # the other ranks read OUT once rank 0 holds it
            if self.cfg.resume:
                skip = self._restore()
            else:
                skip, self.run_id = 0, uuid.uuid4().hex[:16]
                self.replacing = self.cfg.overwrite and folder is not None and folder.holds_a_run()
                # the log of a run killed before its first checkpoint: replaced by the first write, not appended to
                self.pending = [] if self.replacing or (self.out / "metrics.jsonl").exists() else None
            return self._fit(skip)
        finally:
            if folder is not None:
                folder.release()

    def _fit(self, skip: int) -> dict:
        cfg, task = self.cfg, self.task
        if cfg.threads:
            torch.set_num_threads(usable_threads(cfg.threads))
        start = time.perf_counter() - self.elapsed_before
        half = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(self.precision)
        autocast = contextlib.nullcontext() if half is None else torch.autocast(self.device.type, dtype=half)
        scaler = self.scaler
        seconds = lambda: time.perf_counter() - start  # noqa: E731
        for epoch in range(self.epoch, cfg.epochs + 1):
            self.epoch = epoch
            if skip == 0 and isinstance(task, EpochAwareTask):
                task.start_epoch(self.epoch)
            task.model.train()
            total = epoch_length(task, self.epoch)
            batches = itertools.islice(task.train_batches(self.epoch), skip, None)
            bar = tqdm(batches, total=None if total is None else total - skip, desc=f"epoch {self.epoch}",
                       disable=not (self.progress and self.is_main), leave=False, dynamic_ncols=True)
            self.batch_in_epoch, skip = skip, 0
            seen, t0, rate = 0, time.perf_counter(), 0.0
            for batch in bar:
                if self._should_stop(seconds()):  # a run resumed at its end takes no step more
                    break
                with autocast:
                    if self.ddp is None:
                        loss, count = task.loss(batch)
                    else:  # the whole loss is one DDP forward: its backward averages the gradients
                        loss, count = self.ddp(functools.partial(task.loss, batch))
                loss, value, count = self._global_loss(loss, count)
                if not math.isfinite(value):
                    raise TrainingError(f"the loss became {value} at step {self.step + 1}; stopped. "
                                        f"{self._what_is_kept()}; try a lower --lr")
                self.optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                else:
                    scaler.scale(loss).backward()
                    if cfg.clip:  # the norm is clipped on the true gradients
                        scaler.unscale_(self.optimizer)
                if cfg.clip:
                    torch.nn.utils.clip_grad_norm_(task.model.parameters(), cfg.clip)
                self._set_lr(self._agreed_seconds(seconds()), total)
                if scaler is None:
                    self.optimizer.step()
                else:
                    scaler.step(self.optimizer)
                    scaler.update()
                self.step += 1
                self.batch_in_epoch += 1
                seen += count
                self.running = value if self.running is None else 0.98 * self.running + 0.02 * value
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{self.running:.3f}", **{f"{task.unit}/s": f"{rate:.0f}"})
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self._evaluate(seconds(), rate)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self._save_state(seconds())
                if self._should_stop(seconds()):
                    break
            bar.close()
            # An epoch's last step evaluated already (also when a run resumed exactly there) needs no second.
            if self.evaluated_at != self.step and self.stop != "early_stopping":
                self._evaluate(seconds(), rate)
            if self.stop:
                break
            if self.epoch < cfg.epochs:
                self.batch_in_epoch = 0
        if cfg.checkpoint_every:
            self._save_state(seconds())
        self._log({"stopped": self.stop or "epochs", "best": self.best, "step": self.step})
        self._plot(final=True)
        return self.best or {}

"""One training loop for every model.

A *task* owns the data and the model and tells the loop four things:

* ``task.model``: the ``nn.Module`` to optimise (kept free of loop state so that
  ``DistributedDataParallel`` can wrap it);
* ``task.train_batches(epoch)``: an iterable of batches;
* ``task.loss(batch) -> (loss, count)``: the mean loss and how many items it covered
  (examples, or tokens), for throughput;
* ``task.evaluate() -> dict``: validation metrics, including ``task.monitor``;
* ``task.checkpoint_meta() -> dict``: JSON-serialisable configs, vocabulary and labels;
* optionally ``task.batches_per_epoch()``, for the progress bar.

The loop adds: the optimiser, gradient clipping, evaluation each epoch, early stopping, the
``--max-steps``/``--max-minutes`` budgets, a progress bar with loss and items/s, metrics to
``metrics.jsonl``, and a checkpoint whenever the monitored metric improves.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from .checkpoint import save_checkpoint


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what was kept."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class Trainer:
    def __init__(self, task, cfg: TrainConfig, progress: bool = True):
        self.task, self.cfg, self.progress = task, cfg, progress
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.optimizer = make_optimizer(task.model.parameters(), cfg)
        self.step = 0
        self.best: dict | None = None

    def _log(self, record: dict) -> None:
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _improved(self, metrics: dict) -> bool:
        if self.best is None:
            return True
        new, old = metrics[self.task.monitor], self.best[self.task.monitor]
        return new > old if self.task.higher_is_better else new < old

    def fit(self) -> dict:
        """Trains until the epochs, the step or time budget, or the patience run out.
        Returns the best validation metrics (those of the saved checkpoint)."""
        cfg, task = self.cfg, self.task
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        (self.out / "metrics.jsonl").unlink(missing_ok=True)
        start, stale, stop = time.perf_counter(), 0, None
        for epoch in range(1, cfg.epochs + 1):
            task.model.train()
            total = task.batches_per_epoch() if hasattr(task, "batches_per_epoch") else None
            bar = tqdm(task.train_batches(epoch), total=total, desc=f"epoch {epoch}/{cfg.epochs}",
                       disable=not self.progress, leave=False, dynamic_ncols=True)
            seen, t0, running = 0, time.perf_counter(), None
            for batch in bar:
                loss, count = task.loss(batch)
                if not math.isfinite(loss.item()):
                    raise TrainingError(f"the loss became {loss.item()} at step {self.step + 1}; stopped. "
                                        f"The last good checkpoint is kept in {self.out}; try a lower --lr")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip:
                    torch.nn.utils.clip_grad_norm_(task.model.parameters(), cfg.clip)
                self.optimizer.step()
                self.step += 1
                seen += count
                running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
                bar.set_postfix(loss=f"{running:.3f}", **{f"{task.unit}/s": f"{seen / (time.perf_counter() - t0):.0f}"})
                if cfg.max_steps and self.step >= cfg.max_steps:
                    stop = "max_steps"
                elif cfg.max_minutes and time.perf_counter() - start >= 60 * cfg.max_minutes:
                    stop = "max_minutes"
                if stop:
                    break
            bar.close()
            metrics = task.evaluate()
            record = {"epoch": epoch, "step": self.step, "train_loss": running, "seconds": time.perf_counter() - start,
                      f"{task.unit}_per_second": seen / max(time.perf_counter() - t0, 1e-9), **metrics}
            self._log(record)
            improved = self._improved(metrics)
            if improved:
                self.best, stale = metrics, 0
                save_checkpoint(self.out, task.model, {**task.checkpoint_meta(), "epoch": epoch, "step": self.step,
                                                       "metrics": metrics})
            else:
                stale += 1
            if self.progress:
                shown = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
                tqdm.write(f"epoch {epoch}: train loss {running:.4f}  {shown}{'  (saved)' if improved else ''}")
            if stop is None and cfg.patience and stale >= cfg.patience:
                stop = "early_stopping"
            if stop:
                break
        self._log({"stopped": stop or "epochs", "best": self.best, "step": self.step})
        return self.best or {}

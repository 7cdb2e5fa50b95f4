"""What every experiment of the lab shares: seeds, parameter matching, mean ± std, figures, progress.

An experiment is a module of :mod:`rnnkit.lab` with

- ``NAME`` (the command-line name), ``CLAIM`` (the study notes' claim it measures, one sentence),
- ``Config``: a dataclass with a ``seeds`` field (a tuple of ints) and a ``device`` field (a
  string such as ``"cpu"`` or ``"cuda:0"``, set by the runner from ``--device``: every model,
  batch and held-out tensor of the run lives there), and ``PRESETS``: ``{"tiny": ...,
  "quick": ..., "full": ...}`` instances of it ("tiny" is for the tests, seconds; "quick" for
  ``make compare``; "full" for the committed results),
- ``RUN_TIME``: the wall-clock time of the quick and full presets on the 2-core machine, as
  ``rnnkit lab list`` shows it (the full ones match the committed results' ``seconds``; a few quick
  ones are estimates, as the comment beside each says),
- ``run(cfg, out: Path, progress: bool) -> dict``: trains and measures, writes its PNG figures into
  ``out`` and returns a JSON-able result holding at least ``setup`` (one paragraph), ``parameters``
  (model -> count), ``tables`` (see :func:`table`), ``figures`` (see :func:`figure`),
- ``verdict(result) -> str``: one line computed from the numbers of ``result`` (never fixed text),
- optionally ``check(cfg) -> None``: raises a ValueError naming the problem when ``cfg`` cannot
  run (a checkpoint of the wrong kind, an empty text), before any training.

A result may also hold ``highlights``: a list of ``{"title", "text", "values", "caption"}`` with
one value in [-1, 1] per character of ``text``; the HTML report colours each character by its
value (red positive, blue negative), as Karpathy et al. (2015) show what a unit tracks.

The runner (:mod:`rnnkit.lab.runner`) adds the name, claim, preset, config, timing and verdict and
writes ``result.json``; the report (:mod:`rnnkit.lab.report`) reads only those files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..train.runtime import synchronize  # noqa: F401 (the experiments call common.synchronize)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module`` (shared ones once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def match_width(build: Callable[[int], nn.Module], target: int, low: int = 1, high: int = 4096) -> int:
    """The width w in [low, high] whose ``build(w)`` has the parameter count closest to ``target``
    (counts grow with w, so a bisection finds it); ties go to the smaller width."""
    count = lambda w: count_parameters(build(w))
    while high - low > 1:
        mid = (low + high) // 2
        if count(mid) <= target:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda w: (abs(count(w) - target), w))


def summarize(values: Iterable[float]) -> dict:
    """``{"mean", "std", "n", "values"}`` of one measurement over seeds (sample std; 0 for one value;
    non-finite values, a diverged run, give a non-finite mean)."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values) if values else math.nan
    std = statistics.stdev(values) if len(values) > 1 and all(map(math.isfinite, values)) else 0.0
    return {"mean": mean, "std": std, "n": len(values), "values": values}


def pm(summary: dict, digits: int = 3, percent: bool = False) -> str:
    """``"0.123 ± 0.004"`` (``digits`` significant digits; ``percent``: as a percentage)."""
    scale, unit = (100.0, " %") if percent else (1.0, "")
    mean, std = summary["mean"] * scale, summary["std"] * scale
    if summary.get("n", 1) <= 1 or not math.isfinite(mean):  # a diverged seed: "nan", not "nan ± 0"
        return f"{mean:.{digits}g}{unit}"
    return f"{mean:.{digits}g} ± {std:.2g}{unit}"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence]) -> dict:
    """A table of the report: rows of cells (strings or numbers), one per model or setting; a row
    of published figures says so in its first cell (e.g. ``"LSTM (Bai et al. 2018, T=600)"``)."""
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def figure(fig, out: Path, name: str, caption: str) -> dict:
    """Saves the matplotlib figure ``fig`` as ``out/name`` (PNG), closes it, and returns the entry of
    the result's ``figures`` list: ``{"file": name, "caption": caption}``."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return {"file": name, "caption": caption}


def new_figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.0, 4.0)):
    """``(fig, axes)`` from matplotlib's non-interactive backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)


def generator(seed: int) -> torch.Generator:
    """Seeds torch's global generator (initialisation, dropout) and returns a data generator of its own."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_device(values, device: torch.device | str):
    """``values`` with every tensor moved to ``device``: a tensor, or a tuple or list of tensors and
    other things (kept as they are). Data is generated on the CPU with CPU generators and moved, so
    a seed gives the same sequences on every device."""
    if isinstance(values, torch.Tensor):
        return values.to(device)
    if isinstance(values, (tuple, list)):
        return type(values)(to_device(v, device) for v in values)
    return values


def steps_bar(total: int, desc: str, enabled: bool):
    """A tqdm progress bar over ``range(total)`` (off when ``enabled`` is false)."""
    return tqdm(range(total), desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


def train_steps(model: nn.Module, batch: Callable[[], tuple], loss_fn: Callable, steps: int, lr: float,
                clip: float = 1.0, evaluate: Callable[[], float] | None = None, eval_every: int = 0,
                desc: str = "", progress: bool = False) -> list[tuple[int, float]]:
    """Adam on ``loss_fn(model, *batch())`` for ``steps`` steps, clipping the gradient norm to
    ``clip`` (0 = off); the tensors of each batch are moved to the model's device first. Returns the
    curve ``[(step, evaluate()), ...]`` every ``eval_every`` steps and at the end (the training loss
    of that step when ``evaluate`` is None); reading that number waits for the device, so a clock
    read after this function times the training."""
    from ..train.runtime import module_device

    device = module_device(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve: list[tuple[int, float]] = []
    bar = steps_bar(steps, desc, progress)
    for step in bar:
        model.train()
        loss = loss_fn(model, *to_device(batch(), device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        done = step + 1
        if (eval_every and done % eval_every == 0) or done == steps:
            value = float(loss.detach()) if evaluate is None else float(evaluate())
            curve.append((done, value))
            bar.set_postfix(loss=f"{value:.4g}")
    return curve
